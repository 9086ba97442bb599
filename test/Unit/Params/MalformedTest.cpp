//===- MalformedTest.cpp - every reader rule, broken one at a time --------===//
//
// Each case is built as bytes here (independently of the committed files in
// test/Inputs/safetensors) and must be rejected by open(), openHeader() and
// parse() with a one-line message naming the file and the fault.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Safetensors.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <memory>

using namespace attenuate::params;
using namespace attenuate::params::test;

namespace {

struct Case {
  const char *id;
  int rule;
  std::string bytes;
  const char *keyword;
};

std::string entry(const char *dtype, const char *shape, uint64_t begin,
                  uint64_t end) {
  return std::string("{\"dtype\":\"") + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(end) + "]}";
}

/// A single tensor "w" whose entry is `fields` verbatim.
std::string w(const std::string &fields) { return "{\"w\":{" + fields + "}}"; }

const std::string kU8 = entry("U8", "[4]", 0, 4);

std::vector<Case> cases() {
  return {
      // Rule 1.
      {"empty", 1, "", "too short"},
      {"seven_bytes", 1, zeros(7), "too short"},
      {"length_over_limit", 1, archive("{}", "", 100000001),
       "exceeds the limit"},
      {"length_u64_max", 1,
       archive("{}", "", std::numeric_limits<uint64_t>::max()),
       "exceeds the limit"},
      {"length_wraps_with_8", 1,
       archive("{}", "", std::numeric_limits<uint64_t>::max() - 7),
       "exceeds the limit"},
      {"length_past_eof", 1, archive("{}          ", "", 100),
       "follow the length field"},
      {"length_at_limit_past_eof", 1, archive("{}", "", 100000000),
       "follow the length field"},
      {"length_one_past", 1, archive("{}", "", 3), "follow the length field"},
      {"length_only", 1, archive("", "", 1), "follow the length field"},
      // Rule 2.
      {"zero_length_header", 2, archive(""), "must start with '{'"},
      {"leading_space", 2, archive(" {}"), "start with '{'"},
      {"leading_newline", 2, archive("\n{}"), "start with '{'"},
      {"bom", 2, archive("\xef\xbb\xbf{}"), "start with '{'"},
      {"array_header", 2, archive("[]"), "start with '{'"},
      {"nul_padding", 2, archive(std::string("{}") + zeros(6)), "NUL"},
      {"nul_after_spaces", 2, archive(std::string("{}   \0  ", 8)), "NUL"},
      {"newline_padding", 2, archive("{}\n     "), "only spaces"},
      {"tab_padding", 2, archive("{}\t"), "only spaces"},
      {"cr_padding", 2, archive("{}\r"), "only spaces"},
      {"trailing_garbage", 2, archive("{}x"), "only spaces"},
      {"two_objects", 2, archive("{}{}"), "only spaces"},
      {"invalid_utf8", 2, archive("{\"\xff\":" + kU8 + "}", zeros(4)), "UTF-8"},
      {"invalid_utf8_in_padding", 2, archive("{}  \xff"), "UTF-8"},
      {"overlong_utf8", 2, archive("{\"\xc0\xaf\":" + kU8 + "}", zeros(4)),
       "UTF-8"},
      {"utf8_surrogate", 2, archive("{\"\xed\xa0\x80\":" + kU8 + "}", zeros(4)),
       "UTF-8"},
      {"utf8_above_max", 2,
       archive("{\"\xf4\x90\x80\x80\":" + kU8 + "}", zeros(4)), "UTF-8"},
      {"truncated_utf8", 2, archive("{\"\xe2\x82\":" + kU8 + "}", zeros(4)),
       "UTF-8"},
      {"truncated_json", 2, archive("{\"w\":{\"dtype\":\"U8\""),
       "not valid JSON"},
      {"unterminated_string", 2, archive("{\"w"), "not valid JSON"},
      {"single_quotes", 2, archive("{'w':1}"), "not valid JSON"},
      {"trailing_comma", 2, archive("{\"w\":" + kU8 + ",}", zeros(4)),
       "not valid JSON"},
      {"lone_surrogate_escape", 2,
       archive("{\"\\ud800\":" + kU8 + "}", zeros(4)), "surrogate"},
      {"control_char_in_name", 2, archive("{\"a\nb\":" + kU8 + "}", zeros(4)),
       "control character"},
      {"deep_nesting", 2,
       archive("{\"w\":" + std::string(100, '[') + std::string(100, ']') + "}"),
       "nesting"},
      {"leading_zero", 2,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[00,4]"),
               zeros(4)),
       "leading zero"},
      // Rule 3.
      {"duplicate_tensor", 3,
       archive("{\"w\":" + kU8 + ",\"w\":" + entry("U8", "[4]", 4, 8) + "}",
               zeros(8)),
       "duplicate key \"w\""},
      {"duplicate_escaped_name", 3,
       archive("{\"a\":" + kU8 + ",\"\\u0061\":" + entry("U8", "[4]", 4, 8) +
                   "}",
               zeros(8)),
       "duplicate key"},
      {"duplicate_field", 3,
       archive(w("\"dtype\":\"U8\",\"dtype\":\"I8\",\"shape\":[4],"
                 "\"data_offsets\":[0,4]"),
               zeros(4)),
       "duplicate key \"dtype\""},
      {"duplicate_metadata_key", 3,
       archive("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"},\"w\":" + kU8 + "}",
               zeros(4)),
       "duplicate key \"k\""},
      {"duplicate_metadata", 3,
       archive("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate key"},
      // Rule 4.
      {"metadata_array", 4,
       archive("{\"__metadata__\":[],\"w\":" + kU8 + "}", zeros(4)),
       "__metadata__"},
      {"metadata_string", 4, archive("{\"__metadata__\":\"x\"}"),
       "__metadata__"},
      {"metadata_number_value", 4,
       archive("{\"__metadata__\":{\"k\":1},\"w\":" + kU8 + "}", zeros(4)),
       "__metadata__: value of \"k\""},
      {"metadata_null_value", 4, archive("{\"__metadata__\":{\"k\":null}}"),
       "__metadata__"},
      {"metadata_bool_value", 4, archive("{\"__metadata__\":{\"k\":true}}"),
       "__metadata__"},
      {"metadata_nested", 4,
       archive("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}"), "__metadata__"},
      // Rule 5.
      {"unknown_dtype", 5,
       archive("{\"w\":" + entry("F8_E4M3", "[4]", 0, 4) + "}", zeros(4)),
       "unknown dtype \"F8_E4M3\""},
      {"lowercase_dtype", 5,
       archive("{\"w\":" + entry("f32", "[1]", 0, 4) + "}", zeros(4)),
       "unknown dtype"},
      {"empty_dtype", 5, archive("{\"w\":" + entry("", "[0]", 0, 0) + "}"),
       "unknown dtype"},
      {"dtype_number", 5,
       archive(w("\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,4]"), zeros(4)),
       "dtype is not a string"},
      {"missing_dtype", 5,
       archive(w("\"shape\":[4],\"data_offsets\":[0,4]"), zeros(4)),
       "missing field \"dtype\""},
      {"unknown_field", 5,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4],"
                 "\"offsets\":[0,4]"),
               zeros(4)),
       "unknown field \"offsets\""},
      {"entry_not_object", 5, archive("{\"w\":[0,4]}"), "not an object"},
      {"entry_null", 5, archive("{\"w\":null}"), "not an object"},
      {"empty_name", 5, archive("{\"\":" + kU8 + "}", zeros(4)),
       "name is empty"},
      // Rule 6.
      {"negative_dim", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]")),
       "shape[0]"},
      {"negative_zero_dim", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,0]")),
       "shape[0]"},
      {"fractional_dim", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]"),
               zeros(1)),
       "shape[0]"},
      {"exponent_dim", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4e0],\"data_offsets\":[0,4]"),
               zeros(4)),
       "shape[0]"},
      {"string_dim", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]"),
               zeros(4)),
       "shape[0]"},
      {"dim_over_u64", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[18446744073709551616],"
                 "\"data_offsets\":[0,0]")),
       "shape[0]"},
      {"dim_over_i64", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[0,9223372036854775808],"
                 "\"data_offsets\":[0,0]")),
       "shape[1]"},
      {"shape_not_array", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":4,\"data_offsets\":[0,4]"),
               zeros(4)),
       "shape is not an array"},
      {"missing_shape", 6,
       archive(w("\"dtype\":\"U8\",\"data_offsets\":[0,4]"), zeros(4)),
       "missing field \"shape\""},
      {"count_overflow", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],"
                 "\"data_offsets\":[0,0]")),
       "element count"},
      {"count_overflow_with_zero_later", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2,0],"
                 "\"data_offsets\":[0,0]")),
       "element count"},
      {"bytes_overflow", 6,
       archive(w("\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                 "\"data_offsets\":[0,0]")),
       "byte size"},
      {"offsets_three", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,4]"),
               zeros(4)),
       "exactly 2"},
      {"offsets_one", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4]"),
               zeros(4)),
       "exactly 2"},
      {"offsets_empty", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[]")),
       "exactly 2"},
      {"offsets_not_array", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],"
                 "\"data_offsets\":{\"begin\":0,\"end\":4}"),
               zeros(4)),
       "exactly 2"},
      {"offsets_negative", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]")),
       "data_offsets[0]"},
      {"offsets_fraction", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4.0]"),
               zeros(4)),
       "data_offsets[1]"},
      {"offsets_over_u64", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[0],"
                 "\"data_offsets\":[18446744073709551616,"
                 "18446744073709551616]")),
       "data_offsets[0]"},
      {"offsets_reversed", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,0]"),
               zeros(4)),
       "begin > end"},
      {"size_mismatch", 6,
       archive("{\"model.layers.0.q_proj.weight\":" +
                   entry("F32", "[2,2]", 0, 12) + "}",
               zeros(12)),
       "tensor \"model.layers.0.q_proj.weight\": data_offsets [0, 12] do not "
       "match 16 bytes of F32[2, 2]"},
      {"size_mismatch_dtype", 6,
       archive("{\"w\":" + entry("F64", "[2]", 0, 8) + "}", zeros(8)),
       "do not match 16 bytes of F64[2]"},
      {"size_mismatch_empty", 6,
       archive("{\"w\":" + entry("F32", "[0,3]", 0, 4) + "}", zeros(4)),
       "do not match 0 bytes of F32[0, 3]"},
      {"missing_offsets", 6,
       archive(w("\"dtype\":\"U8\",\"shape\":[4]"), zeros(4)),
       "missing field \"data_offsets\""},
      // Rule 7.
      {"first_not_at_zero", 7,
       archive("{\"w\":" + entry("U8", "[4]", 4, 8) + "}", zeros(8)),
       "begin at 0"},
      {"gap", 7,
       archive("{\"a\":" + kU8 + ",\"b\":" + entry("U8", "[4]", 8, 12) + "}",
               zeros(12)),
       "gap after tensor \"a\""},
      {"overlap", 7,
       archive("{\"a\":" + entry("U8", "[8]", 0, 8) +
                   ",\"b\":" + entry("U8", "[8]", 4, 12) + "}",
               zeros(12)),
       "overlap tensor \"a\""},
      {"same_range", 7,
       archive("{\"a\":" + kU8 + ",\"b\":" + kU8 + "}", zeros(4)), "overlap"},
      {"empty_inside_other", 7,
       archive("{\"a\":" + entry("U8", "[8]", 0, 8) +
                   ",\"b\":" + entry("U8", "[0]", 4, 4) + "}",
               zeros(8)),
       "overlap"},
      {"trailing_data", 7, archive("{\"w\":" + kU8 + "}", zeros(6)),
       "trailing"},
      {"data_without_tensors", 7, archive("{}", zeros(4)), "trailing"},
      {"metadata_only_with_data", 7,
       archive("{\"__metadata__\":{\"a\":\"b\"}}", zeros(1)), "trailing"},
      {"past_end", 7,
       archive("{\"w\":" + entry("U8", "[8]", 0, 8) + "}", zeros(4)),
       "past the end"},
      {"past_end_unsorted", 7,
       archive("{\"b\":" + entry("U8", "[4]", 4, 8) + ",\"a\":" + kU8 + "}",
               zeros(6)),
       "past the end"},
      {"empty_tensor_past_end", 7,
       archive("{\"w\":" + entry("U8", "[0]", 9, 9) + "}"), "begin at 0"},
  };
}

class Malformed : public ::testing::TestWithParam<Case> {};

void expectOneLine(const std::string &error, const std::string &name,
                   const char *keyword) {
  EXPECT_EQ(error.rfind(name + ": ", 0), 0u)
      << "message does not start with " << name << ": " << error;
  EXPECT_NE(error.find(keyword), std::string::npos)
      << "expected \"" << keyword << "\" in: " << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST_P(Malformed, OpenRejectsWithFileNameAndReason) {
  const Case &c = GetParam();
  TempDir dir;
  std::string path = dir.file(std::string(c.id) + ".safetensors");
  writeBytes(path, c.bytes);
  std::string error;
  EXPECT_EQ(SafetensorsFile::open(path, error), nullptr);
  expectOneLine(error, path, c.keyword);
}

TEST_P(Malformed, OpenHeaderRejectsWithFileNameAndReason) {
  const Case &c = GetParam();
  TempDir dir;
  std::string path = dir.file(std::string(c.id) + ".safetensors");
  writeBytes(path, c.bytes);
  std::string error;
  EXPECT_EQ(SafetensorsFile::openHeader(path, error), nullptr);
  expectOneLine(error, path, c.keyword);
}

TEST_P(Malformed, ParseRejectsWithNameAndReason) {
  const Case &c = GetParam();
  std::string name = std::string("mem:") + c.id;
  // A heap copy of exactly the bytes, so ASan sees any over-read.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[c.bytes.size()]);
  std::memcpy(copy.get(), c.bytes.data(), c.bytes.size());
  std::string error;
  EXPECT_EQ(SafetensorsFile::parse(copy.get(), c.bytes.size(), name, error),
            nullptr);
  expectOneLine(error, name, c.keyword);
}

INSTANTIATE_TEST_SUITE_P(Safetensors, Malformed, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &param) {
                           return param.param.id;
                         });

TEST(OpenErrors, MissingFileAndDirectory) {
  TempDir dir;
  std::string missing = dir.file("absent.safetensors");
  std::string error;
  EXPECT_EQ(SafetensorsFile::open(missing, error), nullptr);
  EXPECT_EQ(error, missing + ": cannot open: " + std::strerror(ENOENT));
  EXPECT_EQ(SafetensorsFile::openHeader(missing, error), nullptr);
  EXPECT_EQ(error, missing + ": cannot open: " + std::strerror(ENOENT));
  EXPECT_EQ(SafetensorsFile::open(dir.path(), error), nullptr);
  EXPECT_EQ(error, dir.path() + ": not a regular file");
  EXPECT_EQ(SafetensorsFile::openHeader(dir.path(), error), nullptr);
  EXPECT_EQ(error, dir.path() + ": not a regular file");
}

TEST(MalformedCoverage, EveryRuleHasCases) {
  int perRule[8] = {};
  for (const Case &c : cases())
    ++perRule[c.rule];
  for (int rule = 1; rule <= 7; ++rule)
    EXPECT_GE(perRule[rule], 3) << "rule " << rule;
  EXPECT_GE(cases().size(), 30u);
}

TEST(MalformedCoverage, MutatingAValidFileNeverCrashes) {
  // Single-byte corruptions of a valid archive: each must either parse to
  // something self-consistent or be rejected with a one-line message.
  std::string good = archive(
      "{\"__metadata__\":{\"k\":\"v\"},\"a\":" + entry("F32", "[2]", 0, 8) +
          ",\"b\":" + entry("I8", "[3]", 8, 11) + "}",
      zeros(11));
  const unsigned char replacements[] = {0x00, ' ', '{', '}', '"',  '1',
                                        '9',  '-', ',', ']', 0xff, 0x80};
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char r : replacements) {
      std::string bad = good;
      bad[i] = static_cast<char>(r);
      std::string error;
      auto file =
          SafetensorsFile::parse(reinterpret_cast<const uint8_t *>(bad.data()),
                                 bad.size(), "m", error);
      if (!file) {
        EXPECT_EQ(error.rfind("m: ", 0), 0u) << error;
        EXPECT_EQ(error.find('\n'), std::string::npos) << error;
        continue;
      }
      uint64_t cursor = 0;
      for (const TensorInfo &t : file->tensors()) {
        EXPECT_EQ(t.begin, cursor);
        cursor = t.end;
        EXPECT_EQ(t.numBytes(), t.numElements() * dtypeSize(t.dtype));
      }
    }
  }
}

} // namespace

//===- RoundTripTest.cpp - writer -> reader, conversions, finiteness ------===//

#include "attenuate/Params/Safetensors.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

using namespace attenuate::params;
using namespace attenuate::params::test;

namespace {

const DType kAll[] = {DType::BOOL, DType::U8,  DType::I8,   DType::U16,
                      DType::I16,  DType::U32, DType::I32,  DType::U64,
                      DType::I64,  DType::F16, DType::BF16, DType::F32,
                      DType::F64};

struct Spec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

size_t byteSize(const Spec &s) {
  size_t n = dtypeSize(s.dtype);
  for (int64_t d : s.shape)
    n *= static_cast<size_t>(d);
  return n;
}

std::string randomBytes(std::mt19937_64 &rng, size_t n) {
  std::string out(n, '\0');
  for (char &c : out)
    c = static_cast<char>(rng() & 0xff);
  return out;
}

template <typename T> std::string bytesOf(std::initializer_list<T> values) {
  std::string out;
  for (T v : values)
    out.append(reinterpret_cast<const char *>(&v), sizeof v);
  return out;
}

bool writeSpecs(const std::string &path, const std::vector<Spec> &specs,
                const std::map<std::string, std::string> &metadata,
                std::string &error) {
  std::vector<TensorToWrite> tensors;
  for (const Spec &s : specs)
    tensors.push_back({s.name, s.dtype, s.shape, s.bytes.data()});
  return SafetensorsWriter::writeFile(path, tensors, metadata, error);
}

void expectMatches(const SafetensorsFile &file, const std::vector<Spec> &specs,
                   const std::map<std::string, std::string> &metadata) {
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const Spec &s = specs[i];
    // The writer lays tensors out in declaration order, and tensors() is
    // sorted by offset, so the two orders agree.
    const TensorInfo &t = file.tensors()[i];
    EXPECT_EQ(t.name, s.name);
    EXPECT_EQ(t.dtype, s.dtype) << s.name;
    EXPECT_EQ(t.shape, s.shape) << s.name;
    EXPECT_EQ(t.numBytes(), byteSize(s)) << s.name;
    EXPECT_EQ(file.find(s.name), &t);
    if (file.hasData()) {
      ASSERT_NE(file.data(t), nullptr);
      EXPECT_EQ(std::memcmp(file.data(t), s.bytes.data(), s.bytes.size()), 0)
          << s.name;
    } else {
      EXPECT_EQ(file.data(t), nullptr);
    }
  }
}

/// Reads `path` back three ways: mapped, header-only and from memory.
void expectRoundTrip(const std::string &path, const std::vector<Spec> &specs,
                     const std::map<std::string, std::string> &metadata) {
  std::string error;
  auto mapped = SafetensorsFile::open(path, error);
  ASSERT_NE(mapped, nullptr) << error;
  EXPECT_TRUE(mapped->hasData());
  expectMatches(*mapped, specs, metadata);

  auto header = SafetensorsFile::openHeader(path, error);
  ASSERT_NE(header, nullptr) << error;
  EXPECT_FALSE(header->hasData());
  expectMatches(*header, specs, metadata);

  std::string bytes = readBytes(path);
  auto parsed =
      SafetensorsFile::parse(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size(), "mem", error);
  ASSERT_NE(parsed, nullptr) << error;
  expectMatches(*parsed, specs, metadata);

  // Writer conventions: header a multiple of 8, padded with spaces.
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  std::string headerText = bytes.substr(8, n);
  size_t close = headerText.find_last_not_of(' ');
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(headerText[close], '}');
  EXPECT_LT(headerText.size() - close - 1, 8u);
  if (!metadata.empty()) {
    EXPECT_EQ(headerText.rfind("{\"__metadata__\":", 0), 0u) << headerText;
  }
}

TEST(RoundTrip, AllDTypes) {
  TempDir dir;
  std::mt19937_64 rng(7);
  std::vector<Spec> specs;
  for (DType t : kAll) {
    Spec s{std::string("t.") + std::string(dtypeName(t)), t, {3, 5}, ""};
    s.bytes = randomBytes(rng, byteSize(s));
    specs.push_back(s);
    Spec odd{s.name + ".odd", t, {7}, ""};
    odd.bytes = randomBytes(rng, byteSize(odd));
    specs.push_back(odd);
  }
  std::string path = dir.file("all.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, {}, error)) << error;
  expectRoundTrip(path, specs, {});
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(RoundTrip, ZeroDimAndEmptyTensors) {
  TempDir dir;
  std::vector<Spec> specs = {
      {"scalar", DType::F32, {}, bytesOf<float>({3.5f})},
      {"empty", DType::U8, {0}, ""},
      {"empty3d", DType::F16, {3, 0, 2}, ""},
      {"one", DType::I32, {1}, bytesOf<int32_t>({-7})},
      {"empty.after", DType::F64, {0, 0}, ""},
  };
  std::string path = dir.file("z.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, {}, error)) << error;
  expectRoundTrip(path, specs, {});

  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr);
  const TensorInfo *scalar = file->find("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->numElements(), 1u);
  std::vector<float> values;
  ASSERT_TRUE(file->readAsF32(*scalar, values, error)) << error;
  EXPECT_EQ(values, std::vector<float>{3.5f});
  ASSERT_TRUE(file->readAsF32(*file->find("empty3d"), values, error));
  EXPECT_TRUE(values.empty());
  EXPECT_EQ(file->find("empty3d")->numElements(), 0u);
}

TEST(RoundTrip, OnlyEmptyTensorsGiveAnEmptyDataSection) {
  TempDir dir;
  std::vector<Spec> specs = {{"a", DType::F32, {0}, ""},
                             {"b", DType::BF16, {2, 0}, ""}};
  std::string path = dir.file("e.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, {}, error)) << error;
  expectRoundTrip(path, specs, {});
}

TEST(RoundTrip, NoTensorsAtAll) {
  TempDir dir;
  std::string path = dir.file("none.safetensors");
  std::string error;
  ASSERT_TRUE(SafetensorsWriter::writeFile(path, {}, {}, error)) << error;
  EXPECT_EQ(readBytes(path), archive("{}      "));
  expectRoundTrip(path, {}, {});
}

TEST(RoundTrip, BareBracesHeaderWithZeroLengthData) {
  // Unpadded "{}" and nothing else: a 10-byte file whose data section is
  // empty; mapping must not trip over it.
  TempDir dir;
  std::string path = dir.file("bare.safetensors");
  writeBytes(path, archive("{}"));
  std::string error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_TRUE(file->metadata().empty());
  EXPECT_TRUE(file->hasData());
  ASSERT_NE(SafetensorsFile::openHeader(path, error), nullptr) << error;
  std::string bytes = archive("{}");
  ASSERT_NE(
      SafetensorsFile::parse(reinterpret_cast<const uint8_t *>(bytes.data()),
                             bytes.size(), "m", error),
      nullptr)
      << error;
}

TEST(RoundTrip, Metadata) {
  TempDir dir;
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"quote\"and\\back", "line\nbreak\ttab\x01"},
      {"unicode \xc3\xa9", "\xf0\x9f\x98\x80 \xe2\x82\xac"},
      {"empty", ""},
  };
  std::vector<Spec> specs = {{"w", DType::U8, {2}, "\x01\x02"}};
  std::string path = dir.file("m.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, metadata, error)) << error;
  expectRoundTrip(path, specs, metadata);

  std::string metaOnly = dir.file("meta-only.safetensors");
  ASSERT_TRUE(SafetensorsWriter::writeFile(metaOnly, {}, metadata, error));
  expectRoundTrip(metaOnly, {}, metadata);
}

TEST(RoundTrip, HeaderIsCompactAndOrdered) {
  TempDir dir;
  std::vector<Spec> specs = {{"b", DType::F32, {2, 2}, zeros(16)},
                             {"a", DType::I8, {3}, zeros(3)}};
  std::string path = dir.file("h.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, {{"k", "v"}}, error)) << error;
  std::string bytes = readBytes(path);
  std::string expected =
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"a\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[16,19]}}";
  expected.append((8 - expected.size() % 8) % 8, ' ');
  EXPECT_EQ(bytes, archive(expected, zeros(19)));
}

std::string randomName(std::mt19937_64 &rng) {
  static const char *kPieces[] = {"a",
                                  "Z",
                                  "0",
                                  ".",
                                  "_",
                                  "layers",
                                  "\"",
                                  "\\",
                                  "\n",
                                  "\t",
                                  "\x01",
                                  "\x7f",
                                  " ",
                                  "/",
                                  "{",
                                  "}",
                                  "\xc3\xa9",
                                  "\xe2\x82\xac",
                                  "\xf0\x9f\x98\x80",
                                  "\\u0041",
                                  ":",
                                  ","};
  std::string name;
  size_t len = 1 + rng() % 6;
  for (size_t i = 0; i < len; ++i)
    name += kPieces[rng() % (sizeof kPieces / sizeof kPieces[0])];
  return name;
}

TEST(RoundTrip, Randomized) {
  TempDir dir;
  std::mt19937_64 rng(20240531);
  for (int iter = 0; iter < 200; ++iter) {
    SCOPED_TRACE("iteration " + std::to_string(iter));
    std::vector<Spec> specs;
    std::set<std::string> used = {"__metadata__"};
    size_t count = rng() % 7;
    for (size_t i = 0; i < count; ++i) {
      Spec s;
      do
        s.name = randomName(rng);
      while (!used.insert(s.name).second);
      s.dtype = kAll[rng() % (sizeof kAll / sizeof kAll[0])];
      size_t rank = rng() % 4;
      for (size_t d = 0; d < rank; ++d)
        s.shape.push_back(rng() % 8 == 0 ? 0 : static_cast<int64_t>(rng() % 6));
      s.bytes = randomBytes(rng, byteSize(s));
      specs.push_back(std::move(s));
    }
    std::map<std::string, std::string> metadata;
    size_t metaCount = rng() % 3;
    for (size_t i = 0; i < metaCount; ++i)
      metadata[randomName(rng)] = randomName(rng);

    std::string path = dir.file("r" + std::to_string(iter) + ".safetensors");
    std::string error;
    if (rng() % 2) {
      ASSERT_TRUE(writeSpecs(path, specs, metadata, error)) << error;
    } else {
      // Streamed in random chunks, as a pass writing layer by layer would.
      std::vector<SafetensorsWriter::Decl> decls;
      std::string all;
      for (const Spec &s : specs) {
        decls.push_back({s.name, s.dtype, s.shape});
        all += s.bytes;
      }
      SafetensorsWriter writer;
      ASSERT_TRUE(writer.open(path, decls, metadata, error)) << error;
      for (size_t pos = 0; pos < all.size();) {
        size_t chunk = std::min<size_t>(all.size() - pos, 1 + rng() % 13);
        ASSERT_TRUE(writer.write(all.data() + pos, chunk, error)) << error;
        pos += chunk;
      }
      ASSERT_TRUE(writer.finish(error)) << error;
    }
    expectRoundTrip(path, specs, metadata);
  }
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Conversion, EveryNumericDTypeToF32AndF64) {
  TempDir dir;
  std::vector<Spec> specs = {
      {"u8", DType::U8, {2}, bytesOf<uint8_t>({0, 255})},
      {"i8", DType::I8, {2}, bytesOf<int8_t>({-128, 127})},
      {"u16", DType::U16, {2}, bytesOf<uint16_t>({1, 65535})},
      {"i16", DType::I16, {2}, bytesOf<int16_t>({-32768, 5})},
      {"u32", DType::U32, {2}, bytesOf<uint32_t>({7, 4294967295u})},
      {"i32", DType::I32, {2}, bytesOf<int32_t>({-2147483647 - 1, 3})},
      {"u64", DType::U64, {1}, bytesOf<uint64_t>({1ull << 40})},
      {"i64", DType::I64, {2}, bytesOf<int64_t>({-(1ll << 40), 9})},
      {"f16", DType::F16, {3}, bytesOf<uint16_t>({0x3c00, 0xc000, 0x0001})},
      {"bf16", DType::BF16, {2}, bytesOf<uint16_t>({0x3f80, 0x4049})},
      {"f32", DType::F32, {2}, bytesOf<float>({0.1f, -3.0e38f})},
      {"f64", DType::F64, {2}, bytesOf<double>({0.1, 1e300})},
      {"bool", DType::BOOL, {2}, bytesOf<uint8_t>({0, 1})},
  };
  const std::map<std::string, std::vector<double>> expected = {
      {"u8", {0, 255}},
      {"i8", {-128, 127}},
      {"u16", {1, 65535}},
      {"i16", {-32768, 5}},
      {"u32", {7, 4294967295.0}},
      {"i32", {-2147483648.0, 3}},
      {"u64", {1099511627776.0}},
      {"i64", {-1099511627776.0, 9}},
      {"f16", {1.0, -2.0, std::ldexp(1.0, -24)}},
      {"bf16", {1.0, 3.140625}},
      {"f32", {static_cast<double>(0.1f), static_cast<double>(-3.0e38f)}},
      {"f64", {0.1, 1e300}},
  };
  std::string path = dir.file("c.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, {}, error)) << error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  for (const auto &[name, values] : expected) {
    const TensorInfo *t = file->find(name);
    ASSERT_NE(t, nullptr) << name;
    std::vector<double> f64;
    ASSERT_TRUE(file->readAsF64(*t, f64, error)) << error;
    EXPECT_EQ(f64, values) << name;
    std::vector<float> f32;
    ASSERT_TRUE(file->readAsF32(*t, f32, error)) << error;
    ASSERT_EQ(f32.size(), values.size());
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(f32[i], static_cast<float>(values[i]))
          << name << "[" << i << "]";
  }
  std::vector<float> f32;
  EXPECT_FALSE(file->readAsF32(*file->find("bool"), f32, error));
  EXPECT_NE(error.find("tensor \"bool\": cannot convert BOOL"),
            std::string::npos)
      << error;

  auto header = SafetensorsFile::openHeader(path, error);
  ASSERT_NE(header, nullptr);
  EXPECT_FALSE(header->readAsF32(*header->find("f32"), f32, error));
  EXPECT_NE(error.find("header-only"), std::string::npos) << error;
  EXPECT_EQ(error.rfind(path + ": tensor \"f32\"", 0), 0u) << error;

  // A TensorInfo that does not belong to this archive is refused, not read.
  TensorInfo foreign = *file->find("f64");
  foreign.begin += 1u << 20;
  foreign.end += 1u << 20;
  EXPECT_EQ(file->data(foreign), nullptr);
  EXPECT_FALSE(file->readAsF32(foreign, f32, error));
}

TEST(Conversion, UnalignedDataIsReadCorrectly) {
  // Rule 8: with the data section 4-aligned, a 1-byte tensor first puts the
  // F32 tensor at an odd address in the mapping.
  std::string header =
      "{\"byte\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[1,13]}}";
  header.append((4 - header.size() % 4) % 4, ' ');
  TempDir dir;
  std::string path = dir.file("u.safetensors");
  writeBytes(path,
             archive(header, "\x07" + bytesOf<float>({0.5f, -2.0f, 1e-3f})));
  std::string error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  const TensorInfo *f = file->find("f");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(reinterpret_cast<uintptr_t>(file->data(*f)) % alignof(float), 0u);
  std::vector<float> values;
  ASSERT_TRUE(file->readAsF32(*f, values, error)) << error;
  EXPECT_EQ(values, (std::vector<float>{0.5f, -2.0f, 1e-3f}));
  EXPECT_TRUE(file->checkFinite(*f, error)) << error;
}

TEST(CheckFinite, NamesTensorAndFirstBadElement) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<Spec> specs = {
      {"ok.f32", DType::F32, {3}, bytesOf<float>({0, -1e38f, 1e-45f})},
      {"nan.f32", DType::F32, {4}, bytesOf<float>({1, 2, nan, inf})},
      {"ninf.f32", DType::F32, {2}, bytesOf<float>({-inf, 1})},
      {"inf.f16", DType::F16, {3}, bytesOf<uint16_t>({0x3c00, 0x7bff, 0x7c00})},
      {"nan.f16", DType::F16, {2}, bytesOf<uint16_t>({0xfe00, 0x3c00})},
      {"ok.f16", DType::F16, {2}, bytesOf<uint16_t>({0x7bff, 0xfbff})},
      {"ninf.bf16", DType::BF16, {2}, bytesOf<uint16_t>({0x3f80, 0xff80})},
      {"nan.bf16", DType::BF16, {1}, bytesOf<uint16_t>({0x7fc1})},
      {"ok.bf16", DType::BF16, {1}, bytesOf<uint16_t>({0x7f7f})},
      {"nan.f64",
       DType::F64,
       {2},
       bytesOf<double>({1.0, std::numeric_limits<double>::quiet_NaN()})},
      {"ok.f64", DType::F64, {1}, bytesOf<double>({1e308})},
      {"int.u16", DType::U16, {1}, bytesOf<uint16_t>({0x7c00})},
      {"empty.f32", DType::F32, {0}, ""},
  };
  const std::map<std::string, std::string> bad = {
      {"nan.f32", "element 2 is NaN"},    {"ninf.f32", "element 0 is -Inf"},
      {"inf.f16", "element 2 is +Inf"},   {"nan.f16", "element 0 is NaN"},
      {"ninf.bf16", "element 1 is -Inf"}, {"nan.bf16", "element 0 is NaN"},
      {"nan.f64", "element 1 is NaN"},
  };
  TempDir dir;
  std::string path = dir.file("finite.safetensors");
  std::string error;
  ASSERT_TRUE(writeSpecs(path, specs, {}, error)) << error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  for (const Spec &s : specs) {
    error.clear();
    bool finite = file->checkFinite(*file->find(s.name), error);
    auto it = bad.find(s.name);
    if (it == bad.end()) {
      EXPECT_TRUE(finite) << s.name << ": " << error;
      continue;
    }
    EXPECT_FALSE(finite) << s.name;
    EXPECT_EQ(error, path + ": tensor \"" + s.name + "\": " + it->second);
  }
  auto header = SafetensorsFile::openHeader(path, error);
  ASSERT_NE(header, nullptr);
  EXPECT_FALSE(header->checkFinite(*header->find("ok.f32"), error));
  EXPECT_NE(error.find("header-only"), std::string::npos);
}

} // namespace

//===- JsonTest.cpp - the strict JSON reader ------------------------------===//

#include "attenuate/Params/Json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace attenuate;

namespace {

json::Value parseOk(std::string_view text) {
  json::Value v;
  std::string error;
  EXPECT_TRUE(json::parse(text, v, error)) << text << ": " << error;
  return v;
}

std::string parseError(std::string_view text) {
  json::Value v;
  std::string error;
  EXPECT_FALSE(json::parse(text, v, error)) << "accepted: " << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

TEST(Json, Scalars) {
  EXPECT_EQ(parseOk("null").kind, json::Value::Kind::Null);
  json::Value t = parseOk(" true ");
  EXPECT_EQ(t.kind, json::Value::Kind::Bool);
  EXPECT_TRUE(t.boolean);
  EXPECT_FALSE(parseOk("false").boolean);
  EXPECT_EQ(parseOk("\"hi\"").string, "hi");
  EXPECT_EQ(parseOk("\t\r\n 3 \n").number, 3.0);
}

TEST(Json, ObjectsKeepSourceOrderAndGetFindsMembers) {
  json::Value v = parseOk(R"({"b": 1, "a": [1, 2, {"c": null}], "z": {}})");
  ASSERT_TRUE(v.isObject());
  ASSERT_EQ(v.object.size(), 3u);
  EXPECT_EQ(v.object[0].first, "b");
  EXPECT_EQ(v.object[1].first, "a");
  EXPECT_EQ(v.object[2].first, "z");
  ASSERT_NE(v.get("a"), nullptr);
  EXPECT_TRUE(v.get("a")->isArray());
  EXPECT_EQ(v.get("a")->array.size(), 3u);
  EXPECT_NE(v.get("a")->array[2].get("c"), nullptr);
  EXPECT_EQ(v.get("missing"), nullptr);
  EXPECT_EQ(v.get("a")->get("x"), nullptr); // not an object
  EXPECT_TRUE(parseOk("[]").array.empty());
  EXPECT_TRUE(parseOk("{}").object.empty());
}

TEST(Json, IntegersAreExact) {
  json::Value v = parseOk("18446744073709551615");
  EXPECT_TRUE(v.isInteger);
  EXPECT_FALSE(v.integerOverflow);
  EXPECT_EQ(v.magnitude, std::numeric_limits<uint64_t>::max());
  uint64_t u = 0;
  EXPECT_TRUE(v.asU64(u));
  EXPECT_EQ(u, std::numeric_limits<uint64_t>::max());
  int64_t i = 0;
  EXPECT_FALSE(v.asI64(i));

  // 2^53 + 1 is not a double, but it is an exact integer here.
  v = parseOk("9007199254740993");
  EXPECT_EQ(v.magnitude, 9007199254740993ull);

  v = parseOk("18446744073709551616");
  EXPECT_TRUE(v.isInteger);
  EXPECT_TRUE(v.integerOverflow);
  EXPECT_FALSE(v.asU64(u));
  EXPECT_DOUBLE_EQ(v.number, 18446744073709551616.0);

  v = parseOk("-9223372036854775808");
  EXPECT_TRUE(v.isNegative);
  EXPECT_TRUE(v.asI64(i));
  EXPECT_EQ(i, std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(v.asU64(u));
  EXPECT_FALSE(parseOk("-9223372036854775809").asI64(i));
  EXPECT_TRUE(parseOk("9223372036854775807").asI64(i));
  EXPECT_EQ(i, std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(parseOk("9223372036854775808").asI64(i));

  v = parseOk("-0");
  EXPECT_TRUE(v.isInteger);
  EXPECT_TRUE(v.isNegative);
  EXPECT_TRUE(v.asI64(i));
  EXPECT_EQ(i, 0);
}

TEST(Json, NonIntegers) {
  json::Value v = parseOk("1.5");
  EXPECT_FALSE(v.isInteger);
  EXPECT_EQ(v.number, 1.5);
  uint64_t u;
  EXPECT_FALSE(v.asU64(u));
  EXPECT_FALSE(parseOk("1.0").isInteger);
  EXPECT_FALSE(parseOk("1e2").isInteger);
  EXPECT_EQ(parseOk("1e2").number, 100.0);
  EXPECT_EQ(parseOk("-2.5E-3").number, -2.5e-3);
  EXPECT_EQ(parseOk("0.1").number, 0.1);
  EXPECT_TRUE(std::isinf(parseOk("1e400").number));
  EXPECT_GT(parseOk("1e400").number, 0);
  EXPECT_LT(parseOk("-1e400").number, 0);
  EXPECT_EQ(parseOk("1e-400").number, 0.0);
  EXPECT_EQ(parseOk("0.000001e-400").number, 0.0);
  EXPECT_FALSE(parseOk("\"1\"").isNumber());
}

TEST(Json, BadNumbers) {
  EXPECT_NE(parseError("01").find("leading zero"), std::string::npos);
  EXPECT_NE(parseError("-01").find("leading zero"), std::string::npos);
  for (const char *bad : {"-", "+1", ".5", "1.", "1e", "1e+", "0x10", "NaN",
                          "Infinity", "-Infinity", "1.e5", "--1"})
    parseError(bad);
}

TEST(Json, StringsAndEscapes) {
  EXPECT_EQ(parseOk(R"("a\"b\\c\/d\b\f\n\r\t")").string, "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(parseOk(R"("\u0041\u00e9\u20AC")").string, "A\xc3\xa9\xe2\x82\xac");
  // A surrogate pair becomes one 4-byte sequence (U+1F600).
  EXPECT_EQ(parseOk(R"("\ud83d\ude00")").string, "\xf0\x9f\x98\x80");
  EXPECT_EQ(parseOk(R"("\u0000")").string, std::string(1, '\0'));
  // Raw UTF-8 up to U+10FFFF is kept as is.
  EXPECT_EQ(parseOk("\"\xf4\x8f\xbf\xbf\"").string, "\xf4\x8f\xbf\xbf");
  EXPECT_EQ(parseOk("\"\xc3\xa9\"").string, "\xc3\xa9");
}

TEST(Json, BadStrings) {
  EXPECT_NE(parseError("\"a\nb\"").find("control character"),
            std::string::npos);
  EXPECT_NE(parseError(std::string("\"a\0b\"", 5)).find("control character"),
            std::string::npos);
  EXPECT_NE(parseError(R"("\ud800")").find("surrogate"), std::string::npos);
  EXPECT_NE(parseError(R"("\ud800x")").find("surrogate"), std::string::npos);
  EXPECT_NE(parseError(R"("\ud800\u0041")").find("surrogate"),
            std::string::npos);
  EXPECT_NE(parseError(R"("\udc00")").find("surrogate"), std::string::npos);
  EXPECT_NE(parseError(R"("\x")").find("invalid escape"), std::string::npos);
  EXPECT_NE(parseError(R"("\u12")").find("\\u"), std::string::npos);
  EXPECT_NE(parseError(R"("\u12g4")").find("hex"), std::string::npos);
  EXPECT_NE(parseError("\"abc").find("unterminated"), std::string::npos);
}

TEST(Json, BadUtf8) {
  const char *cases[] = {
      "\"\xff\"",             // never valid
      "\"\x80\"",             // lone continuation byte
      "\"\xc0\xaf\"",         // overlong '/'
      "\"\xc1\xbf\"",         // overlong
      "\"\xe0\x80\xaf\"",     // overlong 3-byte
      "\"\xf0\x80\x80\xaf\"", // overlong 4-byte
      "\"\xed\xa0\x80\"",     // surrogate U+D800 encoded
      "\"\xed\xbf\xbf\"",     // surrogate U+DFFF encoded
      "\"\xf4\x90\x80\x80\"", // U+110000
      "\"\xf5\x80\x80\x80\"", // lead byte above F4
      "\"\xe2\x82\"",         // truncated
      "\"\xc3\"",             // truncated at the end of the string
      "\"\xe2\x28\xa1\"",     // bad continuation
  };
  for (const char *c : cases) {
    EXPECT_NE(parseError(c).find("UTF-8"), std::string::npos) << c;
    EXPECT_FALSE(json::isValidUtf8(std::string_view(c + 1, strlen(c) - 2)));
  }
  size_t bad = 0;
  EXPECT_FALSE(json::isValidUtf8("ab\xff", &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_TRUE(json::isValidUtf8("plain \xc3\xa9 \xf0\x9f\x98\x80"));
  // Non-ASCII outside strings is a syntax error, not a crash.
  parseError("\xc3\xa9");
}

TEST(Json, DuplicateKeysAtEveryLevel) {
  std::string error = parseError(R"({"a": 1, "a": 2})");
  EXPECT_EQ(error, "duplicate key \"a\" at offset 9");
  EXPECT_NE(parseError(R"({"x": {"k": 1, "k": 1}})").find("duplicate key"),
            std::string::npos);
  EXPECT_NE(parseError(R"([{"k": 1, "k": 1}])").find("duplicate key"),
            std::string::npos);
  // Equal after unescaping.
  EXPECT_NE(parseError(R"({"a": 1, "\u0061": 2})").find("duplicate key"),
            std::string::npos);
  // Large objects switch to a hash set; the check must still hold.
  std::string big = "{";
  for (int i = 0; i < 100; ++i)
    big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  std::string ok = big + "\"last\": 0}";
  EXPECT_EQ(parseOk(ok).object.size(), 101u);
  EXPECT_NE(parseError(big + "\"k3\": 0}").find("duplicate key \"k3\""),
            std::string::npos);
  EXPECT_NE(parseError(big + "\"k99\": 0}").find("duplicate key \"k99\""),
            std::string::npos);
  // Same key in different objects is fine.
  parseOk(R"({"a": {"a": {"a": 1}}, "b": {"a": 2}})");
}

TEST(Json, DepthLimit) {
  auto nested = [](int depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  parseOk(nested(64));
  EXPECT_NE(parseError(nested(65)).find("nesting deeper than 64"),
            std::string::npos);
  // Deep enough to overflow the stack of a naive recursive parser.
  EXPECT_NE(parseError(nested(1000000)).find("nesting"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 65; ++i)
    objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  EXPECT_NE(parseError(objects).find("nesting"), std::string::npos);
}

TEST(Json, Syntax) {
  for (const char *bad : {"",
                          " ",
                          "{",
                          "}",
                          "[",
                          "[1,]",
                          "[,1]",
                          "{\"a\"}",
                          "{\"a\":}",
                          "{\"a\":1,}",
                          "{a:1}",
                          "{'a':1}",
                          "[1 2]",
                          "{\"a\":1 \"b\":2}",
                          "tru",
                          "nul",
                          "True",
                          "[1]]",
                          "{} {}",
                          "1 2",
                          "\"a\" x",
                          "/* c */ 1",
                          "\xef\xbb\xbf{}",
                          "\f1",
                          "[\v]"})
    parseError(bad);
  EXPECT_NE(parseError("[1] x").find("trailing"), std::string::npos);
  EXPECT_NE(parseError("[1").find("end of input"), std::string::npos);
  // Offsets point at the culprit.
  EXPECT_NE(parseError("[1, x]").find("offset 4"), std::string::npos);
}

TEST(Json, ParsePrefixStopsAfterTheValue) {
  json::Value v;
  std::string error;
  size_t end = 0;
  ASSERT_TRUE(json::parsePrefix(std::string_view("{\"a\":1}\0\0  ", 11), v,
                                error, end));
  EXPECT_EQ(end, 7u);
  ASSERT_TRUE(json::parsePrefix("  [1, 2]xyz", v, error, end));
  EXPECT_EQ(end, 8u);
  EXPECT_FALSE(json::parsePrefix("[1, 2", v, error, end));
}

TEST(Json, QuoteEscapesAndRoundTrips) {
  EXPECT_EQ(json::quote("plain"), "\"plain\"");
  EXPECT_EQ(json::quote("a\"b\\c\n\t\x01\x7f"),
            "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"");
  EXPECT_EQ(json::quote("\xc3\xa9"), "\"\xc3\xa9\"");
  EXPECT_EQ(json::quote("a\xff"), "\"a\xef\xbf\xbd\"");
  std::string all;
  for (int c = 0; c < 0x80; ++c)
    all += static_cast<char>(c);
  all += "\xf0\x9f\x98\x80\xe2\x82\xac";
  EXPECT_EQ(parseOk(json::quote(all)).string, all);
}

} // namespace

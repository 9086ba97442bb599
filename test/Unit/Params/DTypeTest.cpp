//===- DTypeTest.cpp - dtype table and half/bfloat16 conversions ----------===//

#include "attenuate/Params/DType.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace attenuate::params;

namespace {

const DType kAll[] = {DType::BOOL, DType::U8,  DType::I8,   DType::U16,
                      DType::I16,  DType::U32, DType::I32,  DType::U64,
                      DType::I64,  DType::F16, DType::BF16, DType::F32,
                      DType::F64};

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(DType, NamesSizesAndKinds) {
  const struct {
    DType t;
    const char *name;
    size_t size;
    bool isFloat;
  } expected[] = {
      {DType::BOOL, "BOOL", 1, false}, {DType::U8, "U8", 1, false},
      {DType::I8, "I8", 1, false},     {DType::U16, "U16", 2, false},
      {DType::I16, "I16", 2, false},   {DType::U32, "U32", 4, false},
      {DType::I32, "I32", 4, false},   {DType::U64, "U64", 8, false},
      {DType::I64, "I64", 8, false},   {DType::F16, "F16", 2, true},
      {DType::BF16, "BF16", 2, true},  {DType::F32, "F32", 4, true},
      {DType::F64, "F64", 8, true},
  };
  for (const auto &e : expected) {
    EXPECT_EQ(dtypeName(e.t), e.name);
    EXPECT_EQ(dtypeSize(e.t), e.size) << e.name;
    EXPECT_EQ(isFloat(e.t), e.isFloat) << e.name;
    EXPECT_EQ(parseDType(e.name), e.t);
  }
  for (DType t : kAll)
    EXPECT_EQ(parseDType(dtypeName(t)), t);
  for (const char *unknown :
       {"", "f32", "F8_E4M3", "F8_E5M2", "I4", "C64", "FLOAT", "F32 ", "bool"})
    EXPECT_FALSE(parseDType(unknown).has_value()) << unknown;
}

TEST(DType, HalfToFloatKnownPatterns) {
  EXPECT_EQ(halfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(halfToFloat(0xc000), -2.0f);
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(halfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(halfToFloat(0x0400), std::ldexp(1.0f, -14)); // smallest normal
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_EQ(halfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(bitsOf(halfToFloat(0x0000)), 0x00000000u);
  EXPECT_EQ(bitsOf(halfToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(halfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(halfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(halfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(halfToFloat(0x7c01))); // signalling NaN stays NaN
}

TEST(DType, FloatToHalfRoundsToNearestEven) {
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(0.0f), 0x0000);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even one.
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(floatToHalf(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)),
            0x3c01);
  // Overflow: 65520 is the midpoint to 2^16 and rounds to Inf.
  EXPECT_EQ(floatToHalf(65519.996f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(floatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  // Subnormals and underflow.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000); // tie to even 0
  EXPECT_EQ(floatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002);    // 1.5 ulp: tie to 2
  EXPECT_EQ(floatToHalf(std::ldexp(5.0f, -25)), 0x0002);    // 2.5 ulp: tie to 2
  EXPECT_EQ(floatToHalf(std::ldexp(1023.5f, -24)), 0x0400); // into normals
  EXPECT_EQ(floatToHalf(1e-10f), 0x0000);
  EXPECT_EQ(floatToHalf(-1e-10f), 0x8000);
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  uint16_t nan = floatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // A NaN whose payload lives only in the low bits must not become Inf.
  EXPECT_NE(floatToHalf(fromBits(0x7f800001)) & 0x03ff, 0);
}

TEST(DType, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(h & 0x7c00, 0x7c00u);
      EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(f))));
      continue;
    }
    ASSERT_EQ(floatToHalf(f), h) << std::hex << h;
  }
}

TEST(DType, Bf16KnownPatterns) {
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(bf16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(bf16ToFloat(0x4049), 3.140625f);
  EXPECT_EQ(bf16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16ToFloat(0x7fc0)));
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(3.14159265f), 0x4049);
  // Ties to even: 1 + 2^-8 sits between 0x3f80 and 0x3f81.
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(floatToBf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(floatToBf16(-0.0f), 0x8000);
  // NaN with payload only in the discarded bits stays NaN, not Inf.
  uint16_t nan = floatToBf16(fromBits(0x7f800001));
  EXPECT_EQ(nan & 0x7f80, 0x7f80);
  EXPECT_NE(nan & 0x007f, 0);
}

TEST(DType, EveryBf16RoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = bf16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(f))));
      continue;
    }
    ASSERT_EQ(floatToBf16(f), h) << std::hex << h;
  }
}

// Compares the bit-level rounding against an independent reference: pick the
// nearer neighbour in double arithmetic, ties to the even one.
TEST(DType, FloatToHalfMatchesReferenceOnAllFloatsNearEachHalf) {
  auto reference = [](float f) -> uint16_t {
    double x = std::fabs(static_cast<double>(f));
    uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    uint16_t best = 0;
    double bestErr = std::numeric_limits<double>::infinity();
    // Candidates: every finite half plus Inf standing in for 2^16.
    for (uint32_t h = 0; h <= 0x7c00; ++h) {
      double v = h == 0x7c00 ? 65536.0 : halfToFloat(static_cast<uint16_t>(h));
      double err = std::fabs(v - x);
      if (err < bestErr || (err == bestErr && (h & 1) == 0)) {
        best = static_cast<uint16_t>(h);
        bestErr = err;
      }
      if (v > x)
        break;
    }
    return sign | best;
  };
  for (uint32_t h = 0; h < 0x7c00; h += 97) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    for (int d = -3; d <= 3; ++d) {
      float g = fromBits(bitsOf(f) + d);
      if (g < 0 || std::isnan(g))
        continue;
      ASSERT_EQ(floatToHalf(g), reference(g)) << g;
      ASSERT_EQ(floatToHalf(-g), reference(-g)) << -g;
    }
    // Midpoints to the next half.
    float next = halfToFloat(static_cast<uint16_t>(h + 1));
    float mid = static_cast<float>((static_cast<double>(f) + next) / 2);
    ASSERT_EQ(floatToHalf(mid), reference(mid)) << mid;
  }
}

} // namespace

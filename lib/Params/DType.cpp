//===- DType.cpp - element types of safetensors archives ------------------===//

#include "attenuate/Params/DType.h"

#include <cmath>
#include <cstring>

namespace attenuate::params {

namespace {

struct DTypeEntry {
  DType type;
  std::string_view name;
  size_t size;
  bool isFloat;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::BOOL, "BOOL", 1, false}, {DType::U8, "U8", 1, false},
    {DType::I8, "I8", 1, false},     {DType::U16, "U16", 2, false},
    {DType::I16, "I16", 2, false},   {DType::U32, "U32", 4, false},
    {DType::I32, "I32", 4, false},   {DType::U64, "U64", 8, false},
    {DType::I64, "I64", 8, false},   {DType::F16, "F16", 2, true},
    {DType::BF16, "BF16", 2, true},  {DType::F32, "F32", 4, true},
    {DType::F64, "F64", 8, true},
};

// entry() indexes the table by enumerator value.
constexpr bool tableMatchesEnum() {
  for (size_t i = 0; i < sizeof kDTypes / sizeof kDTypes[0]; ++i)
    if (static_cast<size_t>(kDTypes[i].type) != i)
      return false;
  return true;
}
static_assert(tableMatchesEnum(), "kDTypes must follow the DType order");

const DTypeEntry &entry(DType t) { return kDTypes[static_cast<size_t>(t)]; }

uint32_t floatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

} // namespace

size_t dtypeSize(DType t) { return entry(t).size; }

std::string_view dtypeName(DType t) { return entry(t).name; }

std::optional<DType> parseDType(std::string_view name) {
  for (const DTypeEntry &e : kDTypes)
    if (e.name == name)
      return e.type;
  return std::nullopt;
}

bool isFloat(DType t) { return entry(t).isFloat; }

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in float.
    float mag = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -mag : mag;
  }
  if (exp == 31) // Inf, or NaN with its payload kept in the high bits.
    return bitsToFloat(sign | 0x7f800000 | (mant << 13));
  return bitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t floatToHalf(float f) {
  uint32_t x = floatBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffff;
  if (ax > 0x7f800000) // NaN: keep it a quiet NaN whatever the payload.
    return sign | 0x7e00 | ((ax >> 13) & 0x3ff);
  // 65520 is the midpoint between the largest half (65504) and 2^16; ties go
  // to the even neighbour, which is the overflow to Inf.
  if (ax >= 0x477ff000)
    return sign | 0x7c00;
  if (ax >= 0x38800000) { // Normal half: 2^-14 and up.
    uint32_t h = (((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3ff);
    uint32_t rem = ax & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent.
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
      ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // 2^-25 is the midpoint between 0 and the smallest subnormal; the tie goes
  // to 0, the even one.
  if (ax <= 0x33000000)
    return sign;
  // Subnormal half: units of 2^-24.
  uint32_t mant = (ax & 0x7fffff) | 0x800000;
  uint32_t shift = 126 - (ax >> 23);
  uint32_t h = mant >> shift;
  uint32_t rem = mant & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1)))
    ++h;
  return static_cast<uint16_t>(sign | h);
}

float bf16ToFloat(uint16_t h) {
  return bitsToFloat(static_cast<uint32_t>(h) << 16);
}

uint16_t floatToBf16(float f) {
  uint32_t x = floatBits(f);
  if ((x & 0x7fffffff) > 0x7f800000) // Rounding could turn a NaN into Inf.
    return static_cast<uint16_t>((x >> 16) | 0x0040);
  uint32_t bias = 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + bias) >> 16);
}

} // namespace attenuate::params

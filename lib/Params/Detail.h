//===- Detail.h - helpers shared by the Params sources ----------*- C++ -*-===//
//
// Not installed: element conversion and size arithmetic that the reader, the
// writer and ParamStore must agree on exactly.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_PARAMS_DETAIL_H
#define ATTENUATE_LIB_PARAMS_DETAIL_H

#include "attenuate/Params/DType.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace attenuate::params::detail {

inline bool checkedMul(uint64_t a, uint64_t b, uint64_t &out) {
  if (a != 0 && b > UINT64_MAX / a)
    return false;
  out = a * b;
  return true;
}

/// Why a shape has no byte size, if it has none.
enum class SizeError { None, NegativeDim, CountOverflow, BytesOverflow };

inline SizeError shapeSize(DType dtype, const std::vector<int64_t> &shape,
                           uint64_t &count, uint64_t &bytes) {
  count = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return SizeError::NegativeDim;
    if (!checkedMul(count, static_cast<uint64_t>(dim), count))
      return SizeError::CountOverflow;
  }
  if (!checkedMul(count, dtypeSize(dtype), bytes))
    return SizeError::BytesOverflow;
  return SizeError::None;
}

/// "F32[2, 2]", the spelling messages use for a tensor's type.
inline std::string describeType(DType dtype,
                                const std::vector<int64_t> &shape) {
  std::string out(dtypeName(dtype));
  out += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  out += ']';
  return out;
}

// Archives are little-endian and their data is not aligned (rule 8), so
// elements are assembled from bytes; compilers turn this into one load.
template <typename U> U loadLE(const uint8_t *p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i)
    v |= static_cast<U>(p[i]) << (8 * i);
  return v;
}

template <typename T, typename U> T bitCast(U u) {
  static_assert(sizeof(T) == sizeof(U), "size mismatch");
  T t;
  std::memcpy(&t, &u, sizeof t);
  return t;
}

/// Converts `n` elements; false for BOOL, which has no numeric meaning here.
template <typename Out>
bool convertElements(DType dtype, const uint8_t *src, uint64_t n, Out *dst) {
  switch (dtype) {
  case DType::BOOL:
    return false;
  case DType::U8:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(src[i]);
    return true;
  case DType::I8:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(bitCast<int8_t>(src[i]));
    return true;
  case DType::U16:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(loadLE<uint16_t>(src + 2 * i));
    return true;
  case DType::I16:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] =
          static_cast<Out>(bitCast<int16_t>(loadLE<uint16_t>(src + 2 * i)));
    return true;
  case DType::U32:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(loadLE<uint32_t>(src + 4 * i));
    return true;
  case DType::I32:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] =
          static_cast<Out>(bitCast<int32_t>(loadLE<uint32_t>(src + 4 * i)));
    return true;
  case DType::U64:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(loadLE<uint64_t>(src + 8 * i));
    return true;
  case DType::I64:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] =
          static_cast<Out>(bitCast<int64_t>(loadLE<uint64_t>(src + 8 * i)));
    return true;
  case DType::F16:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(halfToFloat(loadLE<uint16_t>(src + 2 * i)));
    return true;
  case DType::BF16:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(bf16ToFloat(loadLE<uint16_t>(src + 2 * i)));
    return true;
  case DType::F32:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(bitCast<float>(loadLE<uint32_t>(src + 4 * i)));
    return true;
  case DType::F64:
    for (uint64_t i = 0; i < n; ++i)
      dst[i] = static_cast<Out>(bitCast<double>(loadLE<uint64_t>(src + 8 * i)));
    return true;
  }
  return false;
}

/// Index of the first NaN or Inf among `n` elements, or `n`; `what` says which
/// ("NaN", "+Inf", "-Inf"). Works on bit patterns so that no element is
/// converted (and F16/BF16 need no float detour).
inline uint64_t firstNonFinite(DType dtype, const uint8_t *src, uint64_t n,
                               const char *&what) {
  auto classify = [&](uint64_t bits, uint64_t expMask, uint64_t mantMask,
                      uint64_t signMask) {
    if ((bits & expMask) != expMask)
      return false;
    what = (bits & mantMask) ? "NaN" : (bits & signMask) ? "-Inf" : "+Inf";
    return true;
  };
  for (uint64_t i = 0; i < n; ++i) {
    bool bad = false;
    switch (dtype) {
    case DType::F16:
      bad = classify(loadLE<uint16_t>(src + 2 * i), 0x7c00, 0x03ff, 0x8000);
      break;
    case DType::BF16:
      bad = classify(loadLE<uint16_t>(src + 2 * i), 0x7f80, 0x007f, 0x8000);
      break;
    case DType::F32:
      bad = classify(loadLE<uint32_t>(src + 4 * i), 0x7f800000, 0x007fffff,
                     0x80000000);
      break;
    case DType::F64:
      bad = classify(loadLE<uint64_t>(src + 8 * i), 0x7ff0000000000000ull,
                     0x000fffffffffffffull, 0x8000000000000000ull);
      break;
    default:
      return n;
    }
    if (bad)
      return i;
  }
  return n;
}

} // namespace attenuate::params::detail

#endif // ATTENUATE_LIB_PARAMS_DETAIL_H

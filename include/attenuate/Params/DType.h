//===- DType.h - element types of safetensors archives ---------------------===//
#ifndef ATTENUATE_PARAMS_DTYPE_H
#define ATTENUATE_PARAMS_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace attenuate::params {

/// The safetensors dtypes we accept. Anything else is an error (rule 5).
enum class DType { BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64 };

/// Bytes per element.
size_t dtypeSize(DType t);
/// The safetensors spelling: "BOOL", "U8", ..., "BF16", "F32", "F64".
std::string_view dtypeName(DType t);
std::optional<DType> parseDType(std::string_view name);
bool isFloat(DType t);

/// IEEE half / bfloat16 conversions (round-to-nearest-even on the way down).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

} // namespace attenuate::params

#endif // ATTENUATE_PARAMS_DTYPE_H

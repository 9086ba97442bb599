//===- Detail.h - checks shared by the Numerics sources ---------*- C++ -*-===//
//
// Not installed. Every entry point validates its operands the same way before
// any BLAS/LAPACK call: reference CBLAS's xerbla exits the process on a bad
// argument and LAPACK may not terminate on NaN, so nothing invalid may reach
// them.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_NUMERICS_DETAIL_H
#define ATTENUATE_LIB_NUMERICS_DETAIL_H

#include "attenuate/Numerics/Matrix.h"

#include <cstdint>
#include <limits>
#include <string>

namespace attenuate::numerics::detail {

/// LAPACKE here is built with 32-bit lapack_int, and CBLAS takes int.
inline bool fitsBlasInt(int64_t v) {
  return v >= 0 && v <= std::numeric_limits<int32_t>::max();
}

/// "<fn>: <what>" as the error; always returns false so callers can
/// `return fail(...)`.
bool fail(std::string &error, const char *fn, const std::string &what);

/// Checks that `M` (called `name` in messages) is consistent, non-empty,
/// fits BLAS integers and is finite.
bool checkOperand(const Matrix &M, const char *fn, const char *name,
                  std::string &error);

/// The shape as "RxC".
std::string shapeOf(const Matrix &M);

/// `info` from LAPACK routine `routine` as an error line for `fn`.
bool lapackFailure(std::string &error, const char *fn, const char *routine,
                   int info, const std::string &meaning);

/// Largest |A_ij − A_ji| relative to max |A_ij|, for symmetry checks.
double relativeAsymmetry(const Matrix &A);

} // namespace attenuate::numerics::detail

#endif // ATTENUATE_LIB_NUMERICS_DETAIL_H

//===- SpdSqrt.h - R^{1/2} and R^{-1/2} of a calibration Gram ---*- C++ -*-===//
//
// A3 whitens with the square root of a calibration Gram R = XᵀX / l and maps
// back with its inverse. A Gram from few tokens, dead channels or outlier
// features is often singular or nearly so, and R^{-1/2} then amplifies
// round-off without bound; the standard remedy (A3, SVD-LLM) is to damp R by
// a multiple of the identity scaled to its mean diagonal. spdSqrt does that
// only when needed and says so, so the pass can emit a remark.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_SPDSQRT_H
#define ATTENUATE_NUMERICS_SPDSQRT_H

#include "attenuate/Numerics/Matrix.h"

#include <string>

namespace attenuate::numerics {

/// The smallest relative damping spdSqrt applies once it decides to damp.
inline constexpr double kDefaultRelDamping = 1e-6;

struct SqrtResult {
  Matrix sqrt;    ///< (R + μI)^{1/2}, symmetric positive definite.
  Matrix invSqrt; ///< (R + μI)^{-1/2}; sqrt * invSqrt = I.
  bool damped = false;
  /// Relative damping used: μ = lambda * mean(diag(R)); 0 when not damped.
  double lambda = 0;
  /// λ_max / λ_min of R (after clamping round-off negatives to 0; +inf when
  /// singular) and of the matrix actually factored.
  double conditionBefore = 0;
  double conditionAfter = 0;
};

/// Square root and inverse square root of a symmetric positive semidefinite
/// R by eigendecomposition (R = V diag(e) Vᵀ, R^{±1/2} = V diag(e^{±1/2}) Vᵀ).
///
/// Eigenvalues in [-64·n·ε·max|e|, 0) are round-off of a PSD matrix and are
/// clamped to 0. If then min(e) <= 0 or max(e) / min(e) > condLimit, R is
/// damped to R + λ·mean(diag(R))·I with λ the largest of relDamping,
/// kDefaultRelDamping and the smallest value that brings the condition
/// number to condLimit; `damped` and `lambda` report it. Without damping,
/// relDamping has no effect.
///
/// Fails if R is not square, symmetric (see symmetricEig) and finite, has an
/// eigenvalue below the round-off band (R is indefinite, not a Gram), is
/// zero, or if relDamping < 0 or condLimit <= 1.
bool spdSqrt(const Matrix &R, SqrtResult &result, std::string &error,
             double relDamping = 0, double condLimit = 1e12);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_SPDSQRT_H

//===- MatchingPursuit.h - CSR's sparse codes over a dictionary -*- C++ -*-===//
//
// CSR (TECHNIQUES.md §4) stores each K/V head vector (or chunk of one) as s
// (atom index, coefficient) pairs over a dictionary D of N unit-norm atoms,
// found by matching pursuit:
//   r₀ = x; for g = 1..s: i_g = argmax_n |r·d_n|, c_g = r·d_{i_g},
//                         r ← r − c_g·d_{i_g}.
// With unit-norm atoms ‖r‖² drops by c_g² each step, so the residual never
// grows. The arithmetic is fp64; indices are int16 and coefficients f32
// (the caller narrows them to the fp16 CSR stores). Ties in |r·d_n| go to
// the lowest n; an atom may be picked more than once; once r is exactly 0
// the remaining steps record (0, 0).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_MATCHINGPURSUIT_H
#define ATTENUATE_NUMERICS_MATCHINGPURSUIT_H

#include "attenuate/Numerics/Matrix.h"

#include <cstdint>
#include <string>

namespace attenuate::numerics {

/// Largest dictionary matching pursuit accepts: indices must fit int16.
inline constexpr int64_t kMaxDictionaryAtoms = 32768;

/// Encodes one d-vector x with s atoms of D (d x N, atoms as columns,
/// unit norm to 1e-6 — see normalizeColumns). Writes s entries to idx and
/// coef, and ‖r_s‖ to *residualNorm if it is not null.
/// Fails if D.rows != d, N > kMaxDictionaryAtoms, s < 0, a column of D is
/// not unit norm, or D or x is not finite.
bool matchingPursuit(const Matrix &D, const float *x, int64_t d, int64_t s,
                     int16_t *idx, float *coef, float *residualNorm,
                     std::string &error);

/// matchingPursuit for the n rows of the row-major f32 matrix X (d columns,
/// rows ldx floats apart). Vector i's code goes to idx[i*s .. i*s+s) and
/// coef[i*s .. i*s+s), its residual norm to residualNorms[i] (if not null).
/// Each step correlates a block of residuals with the whole dictionary in
/// one GEMM (R·D) instead of n GEMVs; the codes are those of
/// matchingPursuit up to round-off in the correlations (a different atom
/// can win only on a near tie).
bool matchingPursuitBatch(const Matrix &D, const float *X, int64_t n, int64_t d,
                          int64_t ldx, int64_t s, int16_t *idx, float *coef,
                          float *residualNorms, std::string &error);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_MATCHINGPURSUIT_H

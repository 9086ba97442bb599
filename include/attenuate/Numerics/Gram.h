//===- Gram.h - fp64 Gram (XᵀX) accumulation for calibration ----*- C++ -*-===//
//
// A3 needs R = XᵀX / l for the inputs of the Q, K/V and MLP-down projections
// over l calibration tokens; SVD-LLM and X-EcoMLA's data-aware variants need
// the same. The activations arrive in f32 batches; the sum is kept in fp64
// because l reaches 10^5..10^6 tokens and an f32 sum would lose the small
// eigenvalues that R^{-1/2} amplifies.
//
// Only the upper triangle (i <= j) is updated, halving the work of dsyrk;
// call symmetrize() once when accumulation is done, or use GramAccumulator,
// which does that for you.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_GRAM_H
#define ATTENUATE_NUMERICS_GRAM_H

#include "attenuate/Numerics/Matrix.h"

#include <cstdint>
#include <string>

namespace attenuate::numerics {

/// R += XᵀX on the upper triangle of R, X an n x d row-major f32 block whose
/// rows are `ldx` floats apart (ldx >= d). Rows are widened to fp64 a block
/// at a time and folded in with cblas_dsyrk. R must be d x d; n may be 0.
/// Fails, leaving R unchanged, on a bad shape or a non-finite element of X
/// (the error gives its row and column).
bool syrkAccumulate(Matrix &R, const float *X, int64_t n, int64_t d,
                    int64_t ldx, std::string &error);
/// The fp64 overload: the same, without the widening copy.
bool syrkAccumulate(Matrix &R, const double *X, int64_t n, int64_t d,
                    int64_t ldx, std::string &error);

/// Copies the upper triangle onto the lower one (R(j, i) = R(i, j), i < j).
/// Fails if R is not square.
bool symmetrize(Matrix &R, std::string &error);

/// Accumulates R = XᵀX over batches of rows and hands out the symmetric
/// result, optionally divided by the number of rows seen (A3's R = XᵀX / l).
class GramAccumulator {
public:
  /// d >= 1; a GramAccumulator built with d < 1 fails every add().
  explicit GramAccumulator(int64_t d) : sum_(d > 0 ? d : 0, d > 0 ? d : 0) {}

  int64_t dim() const { return sum_.rows; }
  /// Rows accumulated so far.
  int64_t count() const { return count_; }

  /// Adds the n x dim() row-major batch X (rows ldx apart).
  bool add(const float *X, int64_t n, int64_t ldx, std::string &error);
  bool add(const double *X, int64_t n, int64_t ldx, std::string &error);

  /// The symmetric sum XᵀX, or XᵀX / count() when `meanOverRows`. Fails if
  /// `meanOverRows` and no rows were added.
  bool result(Matrix &R, std::string &error, bool meanOverRows = true) const;

private:
  Matrix sum_;
  int64_t count_ = 0;
};

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_GRAM_H

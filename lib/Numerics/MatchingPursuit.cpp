//===- MatchingPursuit.cpp - CSR matching pursuit, GEMM-batched -----------===//

#include "attenuate/Numerics/MatchingPursuit.h"

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>

namespace attenuate::numerics {

using detail::fail;

namespace {

/// Atoms must be unit norm for |r·d_n| to rank them and for the residual to
/// shrink; fp64 normalisation gets far closer than this.
constexpr double kUnitNormTolerance = 1e-6;

bool checkDictionary(const Matrix &D, int64_t d, const char *fn,
                     std::string &error) {
  if (!detail::checkOperand(D, fn, "D", error))
    return false;
  if (D.rows != d)
    return fail(error, fn,
                "D is " + detail::shapeOf(D) +
                    " but vectors have d=" + std::to_string(d));
  if (D.cols > kMaxDictionaryAtoms)
    return fail(error, fn,
                std::to_string(D.cols) + " atoms do not fit int16 indices");
  std::vector<double> sumSq(D.cols, 0.0);
  for (int64_t i = 0; i < D.rows; ++i)
    for (int64_t j = 0; j < D.cols; ++j)
      sumSq[j] += D(i, j) * D(i, j);
  for (int64_t j = 0; j < D.cols; ++j)
    if (std::fabs(std::sqrt(sumSq[j]) - 1) > kUnitNormTolerance)
      return fail(error, fn,
                  "atom " + std::to_string(j) + " has norm " +
                      std::to_string(std::sqrt(sumSq[j])) +
                      ", not 1 (use normalizeColumns)");
  return true;
}

} // namespace

bool matchingPursuitBatch(const Matrix &D, const float *X, int64_t n, int64_t d,
                          int64_t ldx, int64_t s, int16_t *idx, float *coef,
                          float *residualNorms, std::string &error) {
  const char *fn = "matchingPursuit";
  if (n < 0 || d < 1 || s < 0 || ldx < d)
    return fail(error, fn,
                "need n >= 0, d >= 1, s >= 0, ldx >= d; got n=" +
                    std::to_string(n) + " d=" + std::to_string(d) +
                    " s=" + std::to_string(s) + " ldx=" + std::to_string(ldx));
  if (n > 0 && !X)
    return fail(error, fn, "X is null");
  if (n > 0 && s > 0 && (!idx || !coef))
    return fail(error, fn, "idx or coef is null");
  if (!checkDictionary(D, d, fn, error))
    return false;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(X[i * ldx + j]))
        return fail(error, fn,
                    "x has non-finite value " + std::to_string(X[i * ldx + j]) +
                        " at (" + std::to_string(i) + ", " + std::to_string(j) +
                        ")");
  if (n == 0)
    return true;

  const int64_t N = D.cols;
  // Keep a block's correlations (rows x N doubles) around 8 MiB.
  const int64_t block =
      std::clamp<int64_t>((int64_t(1) << 20) / N, 1, std::min<int64_t>(n, 256));
  std::vector<double> residual(block * d), corr(block * N);
  for (int64_t row0 = 0; row0 < n; row0 += block) {
    const int64_t rows = std::min(block, n - row0);
    for (int64_t i = 0; i < rows; ++i)
      std::copy(X + (row0 + i) * ldx, X + (row0 + i) * ldx + d,
                residual.data() + i * d);
    for (int64_t g = 0; g < s; ++g) {
      // corr[i][m] = r_i · d_m for the whole block at once.
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                  static_cast<int>(rows), static_cast<int>(N),
                  static_cast<int>(d), 1.0, residual.data(),
                  static_cast<int>(d), D.data.data(), static_cast<int>(N), 0.0,
                  corr.data(), static_cast<int>(N));
      for (int64_t i = 0; i < rows; ++i) {
        const double *c = corr.data() + i * N;
        int64_t best = 0;
        double bestAbs = std::fabs(c[0]);
        for (int64_t m = 1; m < N; ++m)
          if (std::fabs(c[m]) > bestAbs) {
            bestAbs = std::fabs(c[m]);
            best = m;
          }
        const double cg = c[best];
        double *r = residual.data() + i * d;
        for (int64_t j = 0; j < d; ++j)
          r[j] -= cg * D(j, best);
        const int64_t out = (row0 + i) * s + g;
        idx[out] = static_cast<int16_t>(best);
        coef[out] = static_cast<float>(cg);
      }
    }
    if (residualNorms)
      for (int64_t i = 0; i < rows; ++i) {
        const double *r = residual.data() + i * d;
        double ss = 0;
        for (int64_t j = 0; j < d; ++j)
          ss += r[j] * r[j];
        residualNorms[row0 + i] = static_cast<float>(std::sqrt(ss));
      }
  }
  return true;
}

bool matchingPursuit(const Matrix &D, const float *x, int64_t d, int64_t s,
                     int16_t *idx, float *coef, float *residualNorm,
                     std::string &error) {
  // One implementation: a single vector is a batch of one.
  return matchingPursuitBatch(D, x, 1, d, d, s, idx, coef, residualNorm, error);
}

} // namespace attenuate::numerics

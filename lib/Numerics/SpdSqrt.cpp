//===- SpdSqrt.cpp - damped R^{±1/2} by eigendecomposition ----------------===//

#include "attenuate/Numerics/SpdSqrt.h"

#include "Detail.h"
#include "attenuate/Numerics/Decompositions.h"
#include "attenuate/Numerics/Gram.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <limits>

namespace attenuate::numerics {

using detail::fail;

namespace {

/// V diag(e^p) Vᵀ, formed as B Bᵀ with B = V diag(e^{p/2}) so that dsyrk
/// does half the work of a GEMM and the result is exactly symmetric.
Matrix spectralPower(const Matrix &V, const std::vector<double> &e, double p) {
  const int64_t n = V.rows;
  Matrix B = V;
  for (int64_t j = 0; j < n; ++j) {
    double f = std::pow(e[j], p / 2);
    for (int64_t i = 0; i < n; ++i)
      B(i, j) *= f;
  }
  Matrix C(n, n);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n),
              static_cast<int>(n), 1.0, B.data.data(), static_cast<int>(n), 0.0,
              C.data.data(), static_cast<int>(n));
  std::string ignored; // C is square by construction.
  symmetrize(C, ignored);
  return C;
}

} // namespace

bool spdSqrt(const Matrix &R, SqrtResult &result, std::string &error,
             double relDamping, double condLimit) {
  const char *fn = "spdSqrt";
  if (!(relDamping >= 0) || !std::isfinite(relDamping))
    return fail(error, fn,
                "relDamping must be finite and >= 0, got " +
                    std::to_string(relDamping));
  if (!(condLimit > 1))
    return fail(error, fn,
                "condLimit must be > 1, got " + std::to_string(condLimit));
  std::vector<double> e;
  Matrix V;
  std::string eigError;
  if (!symmetricEig(R, e, V, eigError))
    return fail(error, fn, eigError);
  const int64_t n = R.rows;
  const double maxAbs = std::max(std::fabs(e.front()), std::fabs(e.back()));
  if (maxAbs == 0)
    return fail(error, fn, "R is zero (no calibration signal)");
  // Backward error of the eigensolver is O(n·ε·‖R‖): negatives within it are
  // zeros of a PSD matrix, anything beyond means R is not a Gram matrix.
  const double roundOff = 64.0 * static_cast<double>(n) *
                          std::numeric_limits<double>::epsilon() * maxAbs;
  if (e.front() < -roundOff)
    return fail(error, fn,
                "R is not positive semidefinite: eigenvalue " +
                    std::to_string(e.front()) + " (largest " +
                    std::to_string(e.back()) + ")");
  for (double &v : e)
    v = std::max(v, 0.0);
  const double minE = e.front(), maxE = e.back();
  result.conditionBefore =
      minE > 0 ? maxE / minE : std::numeric_limits<double>::infinity();
  result.damped = false;
  result.lambda = 0;
  double shift = 0;
  if (minE <= 0 || result.conditionBefore > condLimit) {
    double meanDiag = 0;
    for (int64_t i = 0; i < n; ++i)
      meanDiag += R(i, i);
    meanDiag /= static_cast<double>(n);
    // trace = Σe >= maxE > 0 for a PSD R; guard against round-off anyway.
    double scale = meanDiag > 0 ? meanDiag : maxE / static_cast<double>(n);
    // (maxE + μ) / (minE + μ) <= condLimit  <=>  μ >= needed. The small
    // margin keeps round-off in the division from landing just above.
    double needed = std::isfinite(condLimit)
                        ? (maxE - condLimit * minE) / (condLimit - 1)
                        : 0.0;
    double lambda =
        std::max({relDamping, kDefaultRelDamping, needed / scale * (1 + 1e-9)});
    shift = lambda * scale;
    result.damped = true;
    result.lambda = lambda;
  }
  for (double &v : e)
    v += shift;
  result.conditionAfter = e.back() / e.front();
  result.sqrt = spectralPower(V, e, 0.5);
  result.invSqrt = spectralPower(V, e, -0.5);
  return true;
}

} // namespace attenuate::numerics

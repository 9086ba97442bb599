//===- Gram.cpp - fp64 XᵀX accumulation with cblas_dsyrk ------------------===//

#include "attenuate/Numerics/Gram.h"

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>

namespace attenuate::numerics {

using detail::fail;

namespace {

/// Rows widened per dsyrk call: enough (>= 64) for dsyrk to run at GEMM speed,
/// few enough that the fp64 copy stays around 4 MiB for d_m = 8192.
int64_t rowsPerBlock(int64_t d) {
  return std::max<int64_t>(64, (int64_t(1) << 19) / std::max<int64_t>(d, 1));
}

bool checkArgs(const Matrix &R, int64_t n, int64_t d, int64_t ldx,
               const void *X, std::string &error) {
  const char *fn = "syrkAccumulate";
  if (d < 1 || n < 0)
    return fail(error, fn,
                "bad block size n=" + std::to_string(n) +
                    " d=" + std::to_string(d));
  if (!R.isConsistent() || R.rows != d || R.cols != d)
    return fail(error, fn,
                "R is " + detail::shapeOf(R) + ", expected " +
                    std::to_string(d) + "x" + std::to_string(d));
  if (ldx < d)
    return fail(error, fn,
                "ldx " + std::to_string(ldx) + " < d " + std::to_string(d));
  if (!detail::fitsBlasInt(d) || !detail::fitsBlasInt(ldx))
    return fail(error, fn, "dimensions exceed BLAS's 32-bit integers");
  if (n > 0 && !X)
    return fail(error, fn, "X is null");
  return true;
}

/// True (with `error` set) if X has a non-finite element.
template <typename T>
bool findNonFinite(const T *X, int64_t n, int64_t d, int64_t ldx,
                   std::string &error) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(X[i * ldx + j])) {
        fail(error, "syrkAccumulate",
             "X has non-finite value " +
                 std::to_string(double(X[i * ldx + j])) + " at (" +
                 std::to_string(i) + ", " + std::to_string(j) + ")");
        return true;
      }
  return false;
}

void syrkUpper(Matrix &R, const double *X, int64_t rows, int64_t ld) {
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(R.rows),
              static_cast<int>(rows), 1.0, X, static_cast<int>(ld), 1.0,
              R.data.data(), static_cast<int>(R.cols));
}

} // namespace

bool syrkAccumulate(Matrix &R, const float *X, int64_t n, int64_t d,
                    int64_t ldx, std::string &error) {
  if (!checkArgs(R, n, d, ldx, X, error))
    return false;
  // Scan everything before touching R, so a bad batch leaves it unchanged.
  if (findNonFinite(X, n, d, ldx, error))
    return false;
  int64_t block = std::min(n, rowsPerBlock(d));
  std::vector<double> wide(static_cast<size_t>(block * d));
  for (int64_t row0 = 0; row0 < n; row0 += block) {
    int64_t rows = std::min(block, n - row0);
    for (int64_t i = 0; i < rows; ++i)
      std::copy(X + (row0 + i) * ldx, X + (row0 + i) * ldx + d,
                wide.data() + i * d);
    syrkUpper(R, wide.data(), rows, d);
  }
  return true;
}

bool syrkAccumulate(Matrix &R, const double *X, int64_t n, int64_t d,
                    int64_t ldx, std::string &error) {
  if (!checkArgs(R, n, d, ldx, X, error))
    return false;
  if (findNonFinite(X, n, d, ldx, error))
    return false;
  if (n > 0)
    syrkUpper(R, X, n, ldx);
  return true;
}

bool symmetrize(Matrix &R, std::string &error) {
  if (!R.isConsistent() || !R.isSquare())
    return fail(error, "symmetrize",
                "matrix is " + detail::shapeOf(R) + ", not square");
  for (int64_t i = 0; i < R.rows; ++i)
    for (int64_t j = i + 1; j < R.cols; ++j)
      R(j, i) = R(i, j);
  return true;
}

bool GramAccumulator::add(const float *X, int64_t n, int64_t ldx,
                          std::string &error) {
  if (!syrkAccumulate(sum_, X, n, dim(), ldx, error))
    return false;
  count_ += n;
  return true;
}

bool GramAccumulator::add(const double *X, int64_t n, int64_t ldx,
                          std::string &error) {
  if (!syrkAccumulate(sum_, X, n, dim(), ldx, error))
    return false;
  count_ += n;
  return true;
}

bool GramAccumulator::result(Matrix &R, std::string &error,
                             bool meanOverRows) const {
  if (meanOverRows && count_ == 0)
    return fail(error, "GramAccumulator", "no rows were added");
  R = sum_;
  if (!symmetrize(R, error))
    return false;
  if (meanOverRows) {
    double inv = 1.0 / static_cast<double>(count_);
    for (double &v : R.data)
      v *= inv;
  }
  return true;
}

} // namespace attenuate::numerics

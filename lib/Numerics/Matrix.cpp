//===- Matrix.cpp - Matrix helpers and cblas_dgemm ------------------------===//

#include "attenuate/Numerics/Matrix.h"

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <cstdio>
#include <limits>

namespace attenuate::numerics {

namespace detail {

bool fail(std::string &error, const char *fn, const std::string &what) {
  error = std::string(fn) + ": " + what;
  return false;
}

std::string shapeOf(const Matrix &M) {
  return std::to_string(M.rows) + "x" + std::to_string(M.cols);
}

bool checkOperand(const Matrix &M, const char *fn, const char *name,
                  std::string &error) {
  if (!M.isConsistent())
    return fail(error, fn,
                std::string(name) + " is inconsistent (" + shapeOf(M) +
                    " with " + std::to_string(M.data.size()) + " elements)");
  if (M.empty())
    return fail(error, fn,
                std::string(name) + " is empty (" + shapeOf(M) + ")");
  if (!fitsBlasInt(M.rows) || !fitsBlasInt(M.cols))
    return fail(error, fn,
                std::string(name) + " " + shapeOf(M) +
                    " exceeds LAPACK's 32-bit dimensions");
  std::string where;
  if (!allFinite(M, &where))
    return fail(error, fn,
                std::string(name) + " has non-finite value " + where);
  return true;
}

bool lapackFailure(std::string &error, const char *fn, const char *routine,
                   int info, const std::string &meaning) {
  std::string what =
      std::string(routine) + " failed (info " + std::to_string(info) + ")";
  if (!meaning.empty())
    what += ": " + meaning;
  return fail(error, fn, what);
}

double relativeAsymmetry(const Matrix &A) {
  double maxAbs = 0, maxDiff = 0;
  for (int64_t i = 0; i < A.rows; ++i)
    for (int64_t j = 0; j < A.cols; ++j) {
      maxAbs = std::max(maxAbs, std::fabs(A(i, j)));
      if (j > i)
        maxDiff = std::max(maxDiff, std::fabs(A(i, j) - A(j, i)));
    }
  return maxAbs == 0 ? 0 : maxDiff / maxAbs;
}

} // namespace detail

using detail::fail;

bool Matrix::isConsistent() const {
  return rows >= 0 && cols >= 0 &&
         data.size() == static_cast<size_t>(rows) * static_cast<size_t>(cols);
}

Matrix Matrix::identity(int64_t n) {
  Matrix I(n, n);
  for (int64_t i = 0; i < n; ++i)
    I(i, i) = 1.0;
  return I;
}

Matrix Matrix::fromRowMajor(const float *src, int64_t rows, int64_t cols,
                            int64_t ld) {
  Matrix M(rows, cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      M(i, j) = src[i * ld + j];
  return M;
}

Matrix Matrix::fromRowMajor(const double *src, int64_t rows, int64_t cols,
                            int64_t ld) {
  Matrix M(rows, cols);
  for (int64_t i = 0; i < rows; ++i)
    std::copy(src + i * ld, src + i * ld + cols, M.row(i));
  return M;
}

Matrix Matrix::transpose() const {
  Matrix T(cols, rows);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      T(j, i) = (*this)(i, j);
  return T;
}

Matrix Matrix::block(int64_t row0, int64_t col0, int64_t numRows,
                     int64_t numCols) const {
  Matrix B(numRows, numCols);
  for (int64_t i = 0; i < numRows; ++i)
    std::copy(row(row0 + i) + col0, row(row0 + i) + col0 + numCols, B.row(i));
  return B;
}

std::vector<float> Matrix::toFloat() const {
  return std::vector<float>(data.begin(), data.end());
}

bool matmul(const Matrix &A, const Matrix &B, Matrix &C, std::string &error,
            bool transA, bool transB) {
  const char *fn = "matmul";
  for (const auto &[M, name] : {std::pair(&A, "A"), std::pair(&B, "B")}) {
    if (!M->isConsistent())
      return fail(error, fn, std::string(name) + " is inconsistent");
    if (!detail::fitsBlasInt(M->rows) || !detail::fitsBlasInt(M->cols))
      return fail(error, fn,
                  std::string(name) + " exceeds BLAS's 32-bit dimensions");
    std::string where;
    if (!allFinite(*M, &where))
      return fail(error, fn,
                  std::string(name) + " has non-finite value " + where);
  }
  int64_t m = transA ? A.cols : A.rows;
  int64_t k = transA ? A.rows : A.cols;
  int64_t kB = transB ? B.cols : B.rows;
  int64_t n = transB ? B.rows : B.cols;
  if (k != kB)
    return fail(error, fn,
                "inner dimensions differ: op(A) is " + std::to_string(m) + "x" +
                    std::to_string(k) + ", op(B) is " + std::to_string(kB) +
                    "x" + std::to_string(n));
  // Into a fresh matrix so C may alias A or B.
  Matrix out(m, n);
  // BLAS rejects zero leading dimensions, and an empty product is all zeros.
  if (m > 0 && n > 0 && k > 0)
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), 1.0, A.data.data(),
                static_cast<int>(std::max<int64_t>(A.cols, 1)), B.data.data(),
                static_cast<int>(std::max<int64_t>(B.cols, 1)), 0.0,
                out.data.data(), static_cast<int>(n));
  C = std::move(out);
  return true;
}

bool scaleRows(Matrix &M, const std::vector<double> &s, std::string &error) {
  if (!M.isConsistent() || static_cast<int64_t>(s.size()) != M.rows)
    return fail(error, "scaleRows",
                std::to_string(s.size()) + " factors for " +
                    detail::shapeOf(M) + " matrix");
  for (int64_t i = 0; i < M.rows; ++i)
    for (int64_t j = 0; j < M.cols; ++j)
      M(i, j) *= s[i];
  return true;
}

bool scaleColumns(Matrix &M, const std::vector<double> &s, std::string &error) {
  if (!M.isConsistent() || static_cast<int64_t>(s.size()) != M.cols)
    return fail(error, "scaleColumns",
                std::to_string(s.size()) + " factors for " +
                    detail::shapeOf(M) + " matrix");
  for (int64_t i = 0; i < M.rows; ++i)
    for (int64_t j = 0; j < M.cols; ++j)
      M(i, j) *= s[j];
  return true;
}

bool normalizeColumns(Matrix &M, std::string &error) {
  if (!M.isConsistent())
    return fail(error, "normalizeColumns", "matrix is inconsistent");
  std::vector<double> sumSq(M.cols, 0.0);
  for (int64_t i = 0; i < M.rows; ++i)
    for (int64_t j = 0; j < M.cols; ++j)
      sumSq[j] += M(i, j) * M(i, j);
  std::vector<double> inv(M.cols);
  for (int64_t j = 0; j < M.cols; ++j) {
    double norm = std::sqrt(sumSq[j]);
    if (!(norm > 0) || !std::isfinite(norm))
      return fail(error, "normalizeColumns",
                  "column " + std::to_string(j) + " has norm " +
                      std::to_string(norm));
    inv[j] = 1.0 / norm;
  }
  return scaleColumns(M, inv, error);
}

bool allFinite(const Matrix &M, std::string *where) {
  for (size_t p = 0; p < M.data.size(); ++p) {
    if (std::isfinite(M.data[p]))
      continue;
    if (where) {
      char buf[96];
      int64_t cols = std::max<int64_t>(M.cols, 1);
      std::snprintf(buf, sizeof(buf), "%g at (%lld, %lld)", M.data[p],
                    static_cast<long long>(p / cols),
                    static_cast<long long>(p % cols));
      *where = buf;
    }
    return false;
  }
  return true;
}

double frobeniusNorm(const Matrix &M) {
  // Scaled sum of squares (as LAPACK's dlassq): entries near 1e200 would
  // overflow a plain Σ a².
  double scale = 0, ssq = 1;
  for (double v : M.data) {
    double a = std::fabs(v);
    if (a == 0)
      continue;
    if (scale < a) {
      ssq = 1 + ssq * (scale / a) * (scale / a);
      scale = a;
    } else {
      ssq += (a / scale) * (a / scale);
    }
  }
  return scale * std::sqrt(ssq);
}

double maxAbsDiff(const Matrix &A, const Matrix &B) {
  if (A.rows != B.rows || A.cols != B.cols || A.data.size() != B.data.size())
    return std::numeric_limits<double>::infinity();
  double m = 0;
  for (size_t p = 0; p < A.data.size(); ++p) {
    double diff = std::fabs(A.data[p] - B.data[p]);
    // std::max would drop a NaN; a comparison against it must fail.
    if (std::isnan(diff))
      return diff;
    m = std::max(m, diff);
  }
  return m;
}

} // namespace attenuate::numerics

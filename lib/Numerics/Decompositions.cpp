//===- Decompositions.cpp - LAPACKE SVD, eig, QR, Cholesky ----------------===//
//
// A row-major buffer read as column-major is the transpose. Where that gives
// the answer directly (symmetric inputs, and the SVD by swapping the roles of
// U and Vᵀ), we call LAPACKE in column-major order: its row-major path would
// transpose every operand into a fresh copy, doubling the memory of a
// d_m x d_m decomposition (d_m = 8192: 0.5 GiB per copy).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Numerics/Decompositions.h"

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <lapacke.h>

namespace attenuate::numerics {

using detail::fail;
using detail::lapackFailure;

namespace {

/// Tolerance of the symmetry checks: loose enough for products such as
/// Vᵀ R V computed in fp64, tight enough to catch an unfilled triangle.
constexpr double kSymmetryTolerance = 1e-8;

bool checkSymmetric(const Matrix &A, const char *fn, std::string &error) {
  if (!detail::checkOperand(A, fn, "A", error))
    return false;
  if (!A.isSquare())
    return fail(error, fn, "A is " + detail::shapeOf(A) + ", not square");
  double asym = detail::relativeAsymmetry(A);
  if (asym > kSymmetryTolerance)
    return fail(error, fn,
                "A is not symmetric (relative asymmetry " +
                    std::to_string(asym) +
                    "; a Gram from syrkAccumulate needs symmetrize())");
  return true;
}

/// In-place transpose of a square matrix.
void transposeSquare(Matrix &M) {
  for (int64_t i = 0; i < M.rows; ++i)
    for (int64_t j = i + 1; j < M.cols; ++j)
      std::swap(M(i, j), M(j, i));
}

bool checkLower(const Matrix &L, const char *fn, std::string &error) {
  if (!detail::checkOperand(L, fn, "L", error))
    return false;
  if (!L.isSquare())
    return fail(error, fn, "L is " + detail::shapeOf(L) + ", not square");
  for (int64_t i = 0; i < L.rows; ++i)
    if (L(i, i) == 0)
      return fail(error, fn,
                  "L is singular (zero diagonal at " + std::to_string(i) + ")");
  return true;
}

bool factorsFinite(const Matrix &U, const std::vector<double> &S,
                   const Matrix &Vt) {
  return allFinite(U) && allFinite(Vt) &&
         std::all_of(S.begin(), S.end(),
                     [](double s) { return std::isfinite(s); });
}

} // namespace

bool svd(const Matrix &A, Matrix &U, std::vector<double> &S, Matrix &Vt,
         std::string &error) {
  const char *fn = "svd";
  if (!detail::checkOperand(A, fn, "A", error))
    return false;
  const lapack_int m = static_cast<lapack_int>(A.rows);
  const lapack_int n = static_cast<lapack_int>(A.cols);
  const lapack_int k = std::min(m, n);
  U = Matrix(m, k);
  Vt = Matrix(k, n);
  S.assign(k, 0.0);
  // Column-major, the buffer is Aᵀ (n x m). Aᵀ = U' S V'ᵀ gives A = V' S U'ᵀ:
  // LAPACK's n x k U' (ld n), read back row-major, is our k x n Vt, and its
  // k x m V'ᵀ (ld k) is our m x k U.
  std::vector<double> a = A.data;
  lapack_int info =
      LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', n, m, a.data(), n, S.data(),
                     Vt.data.data(), n, U.data.data(), k);
  if (info == 0 && factorsFinite(U, S, Vt))
    return true;
  // dgesdd occasionally fails to converge where the QR-iteration SVD does.
  a = A.data;
  std::vector<double> superb(std::max<lapack_int>(k - 1, 1));
  info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', n, m, a.data(), n, S.data(),
                        Vt.data.data(), n, U.data.data(), k, superb.data());
  if (info != 0)
    return lapackFailure(error, fn, "dgesvd (after dgesdd)", info,
                         info > 0 ? "QR iteration did not converge" : "");
  if (!factorsFinite(U, S, Vt))
    return fail(error, fn, "dgesdd and dgesvd returned non-finite factors");
  return true;
}

bool symmetricEig(const Matrix &A, std::vector<double> &w, Matrix &V,
                  std::string &error) {
  const char *fn = "symmetricEig";
  if (!checkSymmetric(A, fn, error))
    return false;
  const lapack_int n = static_cast<lapack_int>(A.rows);
  // A is symmetric, so the column-major view is A itself; the eigenvectors
  // come back as columns of the column-major result, i.e. rows of ours.
  V = A;
  w.assign(n, 0.0);
  lapack_int info =
      LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', n, V.data.data(), n, w.data());
  if (info != 0)
    return lapackFailure(error, fn, "dsyevd", info,
                         info > 0 ? "eigenvalue iteration did not converge"
                                  : "");
  transposeSquare(V);
  return true;
}

bool qr(const Matrix &A, Matrix &Q, Matrix &R, std::string &error) {
  const char *fn = "qr";
  if (!detail::checkOperand(A, fn, "A", error))
    return false;
  const lapack_int m = static_cast<lapack_int>(A.rows);
  const lapack_int n = static_cast<lapack_int>(A.cols);
  const lapack_int k = std::min(m, n);
  std::vector<double> a = A.data;
  std::vector<double> tau(k);
  lapack_int info =
      LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, a.data(), n, tau.data());
  if (info != 0)
    return lapackFailure(error, fn, "dgeqrf", info, "");
  R = Matrix(k, n);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i; j < n; ++j)
      R(i, j) = a[i * n + j];
  // dorgqr builds the m x k Q from the reflectors in the first k columns.
  Q = Matrix(m, k);
  for (int64_t i = 0; i < m; ++i)
    std::copy(a.begin() + i * n, a.begin() + i * n + k, Q.row(i));
  info =
      LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, k, k, Q.data.data(), k, tau.data());
  if (info != 0)
    return lapackFailure(error, fn, "dorgqr", info, "");
  return true;
}

namespace {

/// dpotrf on A + shift·I. Column-major 'U' on the symmetric buffer yields
/// A = UᵀU with U in the column-major upper triangle, which read row-major
/// is the lower L = Uᵀ.
lapack_int potrfLower(const Matrix &A, double shift, Matrix &L) {
  L = A;
  for (int64_t i = 0; i < L.rows; ++i)
    L(i, i) += shift;
  const lapack_int n = static_cast<lapack_int>(A.rows);
  lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', n, L.data.data(), n);
  for (int64_t i = 0; i < L.rows; ++i)
    for (int64_t j = i + 1; j < L.cols; ++j)
      L(i, j) = 0;
  return info;
}

} // namespace

bool cholesky(const Matrix &A, Matrix &L, std::string &error,
              double retryRelDamping, double *lambdaUsed) {
  const char *fn = "cholesky";
  if (lambdaUsed)
    *lambdaUsed = 0;
  if (!(retryRelDamping >= 0) || !std::isfinite(retryRelDamping))
    return fail(error, fn,
                "retryRelDamping must be finite and >= 0, got " +
                    std::to_string(retryRelDamping));
  if (!checkSymmetric(A, fn, error))
    return false;
  lapack_int info = potrfLower(A, 0, L);
  if (info < 0)
    return lapackFailure(error, fn, "dpotrf", info, "");
  if (info == 0)
    return true;
  lapack_int firstInfo = info;
  double meanDiag = 0;
  for (int64_t i = 0; i < A.rows; ++i)
    meanDiag += A(i, i);
  meanDiag /= static_cast<double>(A.rows);
  // A positive semidefinite matrix has a positive mean diagonal unless it is
  // zero; otherwise damping relative to it means nothing.
  if (retryRelDamping > 0 && meanDiag > 0) {
    constexpr int kMaxTries = 8;
    double lambda = retryRelDamping;
    for (int t = 0; t < kMaxTries; ++t, lambda *= 10) {
      info = potrfLower(A, lambda * meanDiag, L);
      if (info < 0)
        return lapackFailure(error, fn, "dpotrf", info, "");
      if (info == 0) {
        if (lambdaUsed)
          *lambdaUsed = lambda;
        return true;
      }
    }
    return lapackFailure(error, fn, "dpotrf", firstInfo,
                         "leading minor of order " + std::to_string(firstInfo) +
                             " is not positive, even with damping up to " +
                             std::to_string(lambda / 10) + " * mean(diag)");
  }
  return lapackFailure(error, fn, "dpotrf", firstInfo,
                       "leading minor of order " + std::to_string(firstInfo) +
                           " is not positive (A is not positive definite)");
}

bool solveLowerTriangular(const Matrix &L, Matrix &B, std::string &error,
                          Side side, bool transposeL) {
  const char *fn = "solveLowerTriangular";
  if (!checkLower(L, fn, error))
    return false;
  if (!B.isConsistent())
    return fail(error, fn, "B is inconsistent");
  int64_t needed = side == Side::Left ? B.rows : B.cols;
  if (needed != L.rows)
    return fail(error, fn,
                "L is " + detail::shapeOf(L) + " but B is " +
                    detail::shapeOf(B) +
                    (side == Side::Left ? " (solving from the left)"
                                        : " (solving from the right)"));
  if (!detail::fitsBlasInt(B.rows) || !detail::fitsBlasInt(B.cols))
    return fail(error, fn, "B exceeds BLAS's 32-bit dimensions");
  std::string where;
  if (!allFinite(B, &where))
    return fail(error, fn, "B has non-finite value " + where);
  if (B.empty())
    return true;
  cblas_dtrsm(CblasRowMajor, side == Side::Left ? CblasLeft : CblasRight,
              CblasLower, transposeL ? CblasTrans : CblasNoTrans, CblasNonUnit,
              static_cast<int>(B.rows), static_cast<int>(B.cols), 1.0,
              L.data.data(), static_cast<int>(L.cols), B.data.data(),
              static_cast<int>(B.cols));
  return true;
}

bool inverseLower(const Matrix &L, Matrix &Linv, std::string &error) {
  const char *fn = "inverseLower";
  if (!checkLower(L, fn, error))
    return false;
  Linv = L;
  for (int64_t i = 0; i < Linv.rows; ++i)
    for (int64_t j = i + 1; j < Linv.cols; ++j)
      Linv(i, j) = 0;
  // Row-major lower L is column-major upper Lᵀ; inverting that in place
  // leaves (L⁻¹)ᵀ column-major, which is L⁻¹ row-major.
  const lapack_int n = static_cast<lapack_int>(L.rows);
  lapack_int info =
      LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'U', 'N', n, Linv.data.data(), n);
  if (info != 0)
    return lapackFailure(error, fn, "dtrtri", info,
                         info > 0 ? "L is singular" : "");
  return true;
}

} // namespace attenuate::numerics

//===- Decompositions.h - SVD, symmetric eig, QR, Cholesky ------*- C++ -*-===//
//
// LAPACKE wrappers on Matrix. Each copies its input (LAPACK overwrites it),
// checks shapes and finiteness first (LAPACK can loop or return garbage on
// NaN), and turns a LAPACK `info != 0` into an error line. Dimensions must
// fit LAPACK's 32-bit integers.
//
// Factors are unique only up to signs (and rotations within repeated
// singular values / eigenvalues); callers must not depend on the signs.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_DECOMPOSITIONS_H
#define ATTENUATE_NUMERICS_DECOMPOSITIONS_H

#include "attenuate/Numerics/Matrix.h"

#include <string>
#include <vector>

namespace attenuate::numerics {

/// Thin SVD A = U diag(S) Vt of an m x n matrix, k = min(m, n): U is m x k
/// with orthonormal columns, S has k values in descending order (>= 0), Vt
/// is k x n with orthonormal rows. Truncate to rank r with
/// U.block(0, 0, m, r), S[0..r), Vt.block(0, 0, r, n).
/// Uses LAPACKE_dgesdd (divide and conquer) and falls back to the slower but
/// more robust dgesvd if dgesdd does not converge or returns non-finite
/// factors. Fails on an empty or non-finite A.
bool svd(const Matrix &A, Matrix &U, std::vector<double> &S, Matrix &Vt,
         std::string &error);

/// Eigendecomposition A = V diag(w) Vᵀ of a symmetric n x n matrix
/// (LAPACKE_dsyevd): w ascending, V's columns the orthonormal eigenvectors,
/// V(:, i) belonging to w[i]. Fails if A is not square, not finite, or not
/// symmetric to within 1e-8 * max|A_ij| (a Gram matrix whose lower triangle
/// was never filled — symmetrize() was skipped — is caught here).
bool symmetricEig(const Matrix &A, std::vector<double> &w, Matrix &V,
                  std::string &error);

/// Thin QR A = Q R of an m x n matrix, k = min(m, n) (LAPACKE_dgeqrf +
/// dorgqr): Q is m x k with orthonormal columns, R is k x n upper triangular
/// (upper trapezoidal when n > m; zeros below the diagonal are explicit).
/// A3's cheap QK route takes the QR of R_q^{1/2} W_q and R_kv^{1/2} W_k
/// (d_m x d_h each) and an SVD of the d_h x d_h product of the R factors.
bool qr(const Matrix &A, Matrix &Q, Matrix &R, std::string &error);

/// Lower Cholesky factor A = L Lᵀ of a symmetric positive definite matrix
/// (LAPACKE_dpotrf; only A's lower triangle is read). L's upper triangle is
/// zero. If A is not numerically positive definite and retryRelDamping > 0,
/// retries on A + λ·mean(diag(A))·I with λ = retryRelDamping, 10·λ, ... (at
/// most 8 tries) — SVD-LLM's whitening needs a factor even for a
/// rank-deficient calibration Gram. `lambdaUsed`, if given, receives the λ
/// that succeeded (0 when none was needed). Fails, with the order of the
/// first non-positive leading minor, if no try succeeds.
bool cholesky(const Matrix &A, Matrix &L, std::string &error,
              double retryRelDamping = 0, double *lambdaUsed = nullptr);

/// Which side of B a triangular factor's inverse is applied on.
enum class Side { Left, Right };

/// Overwrites B with op(L)⁻¹ B (Side::Left) or B op(L)⁻¹ (Side::Right),
/// op(L) = L or Lᵀ, for a lower triangular n x n L (only its lower triangle
/// is read) — cblas_dtrsm, no explicit inverse. SVD-LLM whitening uses
/// Side::Right: W' = (U Σ Vᵀ) L⁻¹. Fails on a shape mismatch, non-finite
/// input, or a zero on L's diagonal (singular L).
bool solveLowerTriangular(const Matrix &L, Matrix &B, std::string &error,
                          Side side = Side::Left, bool transposeL = false);

/// L⁻¹ of a lower triangular L (LAPACKE_dtrtri), lower triangular with a
/// zero upper triangle. Prefer solveLowerTriangular when only products with
/// L⁻¹ are needed. Fails if L is singular.
bool inverseLower(const Matrix &L, Matrix &Linv, std::string &error);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_DECOMPOSITIONS_H

//===- DecompositionsTest.cpp - SVD, eig, QR, Cholesky, triangular --------===//

#include "attenuate/Numerics/Decompositions.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

/// U diag(S) Vt by loops.
Matrix reconstruct(const Matrix &U, const std::vector<double> &S,
                   const Matrix &Vt) {
  Matrix US = U;
  for (int64_t i = 0; i < US.rows; ++i)
    for (int64_t j = 0; j < US.cols; ++j)
      US(i, j) *= S[j];
  return naiveMul(US, Vt);
}

void expectValidSvd(const Matrix &A) {
  Matrix U, Vt;
  std::vector<double> S;
  std::string error;
  ASSERT_TRUE(svd(A, U, S, Vt, error)) << error;
  int64_t k = std::min(A.rows, A.cols);
  ASSERT_EQ(U.rows, A.rows);
  ASSERT_EQ(U.cols, k);
  ASSERT_EQ(Vt.rows, k);
  ASSERT_EQ(Vt.cols, A.cols);
  ASSERT_EQ(static_cast<int64_t>(S.size()), k);
  EXPECT_LT(relativeError(reconstruct(U, S, Vt), A), 1e-12);
  EXPECT_LT(orthonormalityError(U), 1e-12);
  EXPECT_LT(orthonormalityError(Vt, /*rows=*/true), 1e-12);
  for (int64_t i = 0; i < k; ++i)
    EXPECT_GE(S[i], 0.0);
  for (int64_t i = 1; i < k; ++i)
    EXPECT_GE(S[i - 1], S[i]);
}

TEST(Svd, TallWideAndSquareReconstruct) {
  expectValidSvd(randomMatrix(40, 25, 21));
  expectValidSvd(randomMatrix(25, 40, 22));
  expectValidSvd(randomMatrix(30, 30, 23));
  expectValidSvd(randomMatrix(1, 9, 24));
  expectValidSvd(randomMatrix(9, 1, 25));
}

TEST(Svd, RecoversKnownSingularValues) {
  // Given out of order: svd must sort them descending.
  const std::vector<double> sigma = {0.5, 7.0, 1e-3, 3.0, 2.0, 1.0};
  Matrix A = withSpectrum(20, 12, sigma, 26);
  Matrix U, Vt;
  std::vector<double> S;
  std::string error;
  ASSERT_TRUE(svd(A, U, S, Vt, error)) << error;
  std::vector<double> expected = sigma;
  std::sort(expected.rbegin(), expected.rend());
  ASSERT_EQ(S.size(), 12u);
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(S[i], expected[i], 1e-12 * 7.0) << i;
  // Rank 6: the rest is round-off.
  for (size_t i = expected.size(); i < S.size(); ++i)
    EXPECT_LT(S[i], 1e-13);
}

TEST(Svd, RejectsNonFiniteAndEmpty) {
  Matrix A = randomMatrix(4, 3, 27);
  A(2, 1) = NAN;
  Matrix U, Vt;
  std::vector<double> S;
  std::string error;
  EXPECT_FALSE(svd(A, U, S, Vt, error));
  EXPECT_NE(error.find("svd: A has non-finite value nan at (2, 1)"),
            std::string::npos)
      << error;
  A(2, 1) = INFINITY;
  EXPECT_FALSE(svd(A, U, S, Vt, error));
  EXPECT_FALSE(svd(Matrix(0, 3), U, S, Vt, error));
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
}

TEST(SymmetricEig, KnownSpectrum) {
  const std::vector<double> lambda = {4.0, -2.0, 0.25, 9.0, -0.5, 1.0, 0.0};
  const int64_t n = lambda.size();
  Matrix Q = randomOrthogonal(n, 31);
  Matrix A(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < n; ++p)
        A(i, j) += Q(i, p) * lambda[p] * Q(j, p);
  // Exact symmetry, as a Gram from symmetrize() has.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j)
      A(i, j) = A(j, i);

  std::vector<double> w;
  Matrix V;
  std::string error;
  ASSERT_TRUE(symmetricEig(A, w, V, error)) << error;
  std::vector<double> expected = lambda;
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(w.size(), expected.size());
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(w[i], expected[i], 1e-13) << i;
  EXPECT_LT(orthonormalityError(V), 1e-13);
  // A v_i = w_i v_i, column by column.
  Matrix AV = naiveMul(A, V);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      EXPECT_NEAR(AV(i, j), w[j] * V(i, j), 1e-13);
}

TEST(SymmetricEig, RejectsBadInput) {
  std::vector<double> w;
  Matrix V;
  std::string error;
  EXPECT_FALSE(symmetricEig(randomMatrix(3, 4, 32), w, V, error));
  EXPECT_NE(error.find("not square"), std::string::npos) << error;
  // An unfilled lower triangle, as syrkAccumulate leaves it.
  Matrix upper(3, 3);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = i; j < 3; ++j)
      upper(i, j) = 1.0 + i + j;
  EXPECT_FALSE(symmetricEig(upper, w, V, error));
  EXPECT_NE(error.find("symmetrize"), std::string::npos) << error;
  Matrix I = Matrix::identity(3);
  I(1, 1) = NAN;
  EXPECT_FALSE(symmetricEig(I, w, V, error));
  EXPECT_NE(error.find("non-finite"), std::string::npos) << error;
}

void expectValidQr(const Matrix &A) {
  Matrix Q, R;
  std::string error;
  ASSERT_TRUE(qr(A, Q, R, error)) << error;
  int64_t k = std::min(A.rows, A.cols);
  ASSERT_EQ(Q.rows, A.rows);
  ASSERT_EQ(Q.cols, k);
  ASSERT_EQ(R.rows, k);
  ASSERT_EQ(R.cols, A.cols);
  EXPECT_LT(orthonormalityError(Q), 1e-13);
  for (int64_t i = 0; i < R.rows; ++i)
    for (int64_t j = 0; j < std::min(i, R.cols); ++j)
      EXPECT_EQ(R(i, j), 0.0);
  EXPECT_LT(relativeError(naiveMul(Q, R), A), 1e-13);
}

TEST(Qr, TallWideAndSquare) {
  expectValidQr(randomMatrix(30, 8, 41));
  expectValidQr(randomMatrix(8, 30, 42));
  expectValidQr(randomMatrix(12, 12, 43));
  Matrix Q, R;
  std::string error;
  Matrix A = randomMatrix(3, 3, 44);
  A(0, 0) = NAN;
  EXPECT_FALSE(qr(A, Q, R, error));
  EXPECT_NE(error.find("qr:"), std::string::npos) << error;
}

Matrix randomSpd(int64_t n, uint64_t seed) {
  Matrix B = randomMatrix(n, n, seed);
  Matrix A = naiveMul(B, B, false, true);
  for (int64_t i = 0; i < n; ++i)
    A(i, i) += static_cast<double>(n);
  return A;
}

TEST(Cholesky, FactorsSpdMatrix) {
  Matrix A = randomSpd(15, 51);
  Matrix L;
  std::string error;
  double lambda = -1;
  ASSERT_TRUE(cholesky(A, L, error, 0, &lambda)) << error;
  EXPECT_EQ(lambda, 0.0);
  for (int64_t i = 0; i < L.rows; ++i) {
    EXPECT_GT(L(i, i), 0.0);
    for (int64_t j = i + 1; j < L.cols; ++j)
      EXPECT_EQ(L(i, j), 0.0);
  }
  EXPECT_LT(relativeError(naiveMul(L, L, false, true), A), 1e-14);
}

TEST(Cholesky, IndefiniteMatrixFailsCleanly) {
  Matrix A = Matrix::identity(4);
  A(2, 2) = -1;
  Matrix L;
  std::string error;
  EXPECT_FALSE(cholesky(A, L, error));
  EXPECT_NE(error.find("dpotrf"), std::string::npos) << error;
  EXPECT_NE(error.find("order 3"), std::string::npos) << error;
  // Damping as small as asked for cannot fix a negative eigenvalue of -1.
  EXPECT_FALSE(cholesky(A, L, error, 1e-9));
  EXPECT_NE(error.find("damping"), std::string::npos) << error;
}

TEST(Cholesky, DampingRetryOnSingularGram) {
  // Rank 3 Gram of size 6 with a dead channel: its zero row makes the third
  // pivot exactly 0, so dpotrf fails without damping whatever the round-off.
  Matrix X = randomMatrix(3, 6, 52);
  for (int64_t r = 0; r < 3; ++r)
    X(r, 2) = 0;
  Matrix A = naiveMul(X, X, true, false);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < i; ++j)
      A(i, j) = A(j, i);
  Matrix L;
  std::string error;
  double lambda = 0;
  EXPECT_FALSE(cholesky(A, L, error));
  ASSERT_TRUE(cholesky(A, L, error, 1e-8, &lambda)) << error;
  EXPECT_GE(lambda, 1e-8);
  double meanDiag = 0;
  for (int64_t i = 0; i < 6; ++i)
    meanDiag += A(i, i) / 6;
  Matrix damped = A;
  for (int64_t i = 0; i < 6; ++i)
    damped(i, i) += lambda * meanDiag;
  EXPECT_LT(relativeError(naiveMul(L, L, false, true), damped), 1e-13);
  EXPECT_FALSE(cholesky(A, L, error, -1));
}

TEST(Triangular, SolveBothSidesAndTransposed) {
  Matrix A = randomSpd(6, 61);
  Matrix L;
  std::string error;
  ASSERT_TRUE(cholesky(A, L, error)) << error;
  Matrix leftB = randomMatrix(6, 4, 62), rightB = randomMatrix(3, 6, 63);
  for (bool trans : {false, true}) {
    Matrix opL = trans ? L.transpose() : L;
    Matrix X = leftB;
    ASSERT_TRUE(solveLowerTriangular(L, X, error, Side::Left, trans)) << error;
    EXPECT_LT(relativeError(naiveMul(opL, X), leftB), 1e-14) << trans;
    Matrix Y = rightB;
    ASSERT_TRUE(solveLowerTriangular(L, Y, error, Side::Right, trans)) << error;
    EXPECT_LT(relativeError(naiveMul(Y, opL), rightB), 1e-14) << trans;
  }
  Matrix wrong = randomMatrix(5, 2, 64);
  EXPECT_FALSE(solveLowerTriangular(L, wrong, error));
  EXPECT_NE(error.find("solving from the left"), std::string::npos) << error;
  Matrix singular = L;
  singular(3, 3) = 0;
  Matrix X = leftB;
  EXPECT_FALSE(solveLowerTriangular(singular, X, error));
  EXPECT_NE(error.find("singular"), std::string::npos) << error;
}

TEST(Triangular, InverseLower) {
  Matrix A = randomSpd(9, 71);
  Matrix L, Linv;
  std::string error;
  ASSERT_TRUE(cholesky(A, L, error)) << error;
  // Garbage above the diagonal must be ignored.
  Matrix dirty = L;
  dirty(0, 5) = 42;
  ASSERT_TRUE(inverseLower(dirty, Linv, error)) << error;
  for (int64_t i = 0; i < 9; ++i)
    for (int64_t j = i + 1; j < 9; ++j)
      EXPECT_EQ(Linv(i, j), 0.0);
  EXPECT_LT(maxAbsDiff(naiveMul(L, Linv), Matrix::identity(9)), 1e-14);
  EXPECT_LT(maxAbsDiff(naiveMul(Linv, L), Matrix::identity(9)), 1e-14);
  L(4, 4) = 0;
  EXPECT_FALSE(inverseLower(L, Linv, error));
  EXPECT_NE(error.find("singular"), std::string::npos) << error;
  EXPECT_FALSE(inverseLower(randomMatrix(2, 3, 72), Linv, error));
}

} // namespace

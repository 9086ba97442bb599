//===- SpdSqrtTest.cpp - R^{±1/2} with and without damping ----------------===//

#include "attenuate/Numerics/SpdSqrt.h"

#include "attenuate/Numerics/Decompositions.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

/// Q diag(lambda) Qᵀ, exactly symmetric.
Matrix symmetricWithSpectrum(const std::vector<double> &lambda, uint64_t seed) {
  const int64_t n = lambda.size();
  Matrix Q = randomOrthogonal(n, seed);
  Matrix A(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      double a = 0;
      for (int64_t p = 0; p < n; ++p)
        a += Q(i, p) * lambda[p] * Q(j, p);
      A(i, j) = A(j, i) = a;
    }
  return A;
}

double meanDiagonal(const Matrix &A) {
  double s = 0;
  for (int64_t i = 0; i < A.rows; ++i)
    s += A(i, i);
  return s / A.rows;
}

TEST(SpdSqrt, WellConditionedIsExactAndUndamped) {
  Matrix R = symmetricWithSpectrum({0.5, 1, 2, 3, 4, 5, 0.75, 1.5}, 81);
  SqrtResult res;
  std::string error;
  ASSERT_TRUE(spdSqrt(R, res, error)) << error;
  EXPECT_FALSE(res.damped);
  EXPECT_EQ(res.lambda, 0.0);
  EXPECT_NEAR(res.conditionBefore, 10.0, 1e-12);
  EXPECT_NEAR(res.conditionAfter, 10.0, 1e-12);
  EXPECT_LT(relativeError(naiveMul(res.sqrt, res.sqrt), R), 1e-13);
  EXPECT_LT(maxAbsDiff(naiveMul(res.sqrt, res.invSqrt), Matrix::identity(8)),
            1e-13);
  EXPECT_LT(maxAbsDiff(naiveMul(res.invSqrt, res.sqrt), Matrix::identity(8)),
            1e-13);
  EXPECT_EQ(maxAbsDiff(res.sqrt, res.sqrt.transpose()), 0.0);
  EXPECT_EQ(maxAbsDiff(res.invSqrt, res.invSqrt.transpose()), 0.0);
  // R^{1/2} is the PSD root: its eigenvalues are the roots of R's.
  std::vector<double> w;
  Matrix V;
  ASSERT_TRUE(symmetricEig(res.sqrt, w, V, error)) << error;
  EXPECT_NEAR(w.front(), std::sqrt(0.5), 1e-13);
  EXPECT_NEAR(w.back(), std::sqrt(5.0), 1e-13);
}

TEST(SpdSqrt, SingularGramIsDampedAndFinite) {
  // 3 tokens, 8 channels: a rank-3 Gram, singular (with round-off negatives).
  Matrix X = randomMatrix(3, 8, 82);
  Matrix R = naiveMul(X, X, true, false);
  SqrtResult res;
  std::string error;
  ASSERT_TRUE(spdSqrt(R, res, error)) << error;
  EXPECT_TRUE(res.damped);
  EXPECT_GE(res.lambda, kDefaultRelDamping);
  EXPECT_TRUE(std::isinf(res.conditionBefore) || res.conditionBefore > 1e12);
  EXPECT_LE(res.conditionAfter, 1e12);
  EXPECT_TRUE(allFinite(res.sqrt));
  EXPECT_TRUE(allFinite(res.invSqrt));
  Matrix damped = R;
  for (int64_t i = 0; i < 8; ++i)
    damped(i, i) += res.lambda * meanDiagonal(R);
  EXPECT_LT(relativeError(naiveMul(res.sqrt, res.sqrt), damped), 1e-12);
  // invSqrt amplifies by up to 1/sqrt(λ·mean): the identity holds to
  // √cond·ε.
  EXPECT_LT(maxAbsDiff(naiveMul(res.sqrt, res.invSqrt), Matrix::identity(8)),
            1e-9);
}

TEST(SpdSqrt, IllConditionedDampedToCondLimit) {
  Matrix R = symmetricWithSpectrum({1, 1e-3, 1e-9, 1e-15, 0.5}, 83);
  SqrtResult res;
  std::string error;
  ASSERT_TRUE(spdSqrt(R, res, error, 0, /*condLimit=*/1e6)) << error;
  EXPECT_TRUE(res.damped);
  EXPECT_LE(res.conditionAfter, 1e6);
  EXPECT_GT(res.conditionAfter, 0.99e6) << "λ should be just enough";
  EXPECT_GT(res.lambda, kDefaultRelDamping);

  // A larger requested damping wins over the needed one.
  ASSERT_TRUE(spdSqrt(R, res, error, 0.1)) << error;
  EXPECT_TRUE(res.damped);
  EXPECT_EQ(res.lambda, 0.1);

  // Requested damping is not applied to a matrix that does not need it.
  Matrix I = Matrix::identity(4);
  ASSERT_TRUE(spdSqrt(I, res, error, 0.1)) << error;
  EXPECT_FALSE(res.damped);
  EXPECT_LT(maxAbsDiff(res.invSqrt, I), 1e-15);
}

TEST(SpdSqrt, RoundOffNegativeEigenvalueIsClamped) {
  Matrix R = symmetricWithSpectrum({1, 0.5, -1e-17, 0.25}, 84);
  SqrtResult res;
  std::string error;
  ASSERT_TRUE(spdSqrt(R, res, error)) << error;
  EXPECT_TRUE(res.damped);
  EXPECT_TRUE(allFinite(res.invSqrt));
}

TEST(SpdSqrt, RejectsInvalidInput) {
  SqrtResult res;
  std::string error;
  Matrix indefinite = symmetricWithSpectrum({1, 0.5, -0.1}, 85);
  EXPECT_FALSE(spdSqrt(indefinite, res, error));
  EXPECT_NE(error.find("not positive semidefinite"), std::string::npos)
      << error;
  EXPECT_FALSE(spdSqrt(Matrix(3, 3), res, error));
  EXPECT_NE(error.find("zero"), std::string::npos) << error;
  Matrix nan = Matrix::identity(3);
  nan(0, 2) = nan(2, 0) = NAN;
  EXPECT_FALSE(spdSqrt(nan, res, error));
  EXPECT_NE(error.find("spdSqrt: symmetricEig: A has non-finite"),
            std::string::npos)
      << error;
  EXPECT_FALSE(spdSqrt(Matrix::identity(2), res, error, -1));
  EXPECT_FALSE(spdSqrt(Matrix::identity(2), res, error, 0, 1.0));
  EXPECT_FALSE(spdSqrt(randomMatrix(2, 3, 86), res, error));
}

} // namespace

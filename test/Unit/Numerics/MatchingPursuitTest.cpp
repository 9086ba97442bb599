//===- MatchingPursuitTest.cpp - CSR matching pursuit ---------------------===//

#include "attenuate/Numerics/MatchingPursuit.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

Matrix randomDictionary(int64_t d, int64_t N, uint64_t seed) {
  Matrix D = randomMatrix(d, N, seed);
  std::string error;
  EXPECT_TRUE(normalizeColumns(D, error)) << error;
  return D;
}

/// ‖x − Σ_g coef_g d_{idx_g}‖ in fp64, independent of the encoder's residual.
double reconstructionError(const Matrix &D, const float *x, const int16_t *idx,
                           const float *coef, int64_t s) {
  double ss = 0;
  for (int64_t j = 0; j < D.rows; ++j) {
    double r = x[j];
    for (int64_t g = 0; g < s; ++g)
      r -= static_cast<double>(coef[g]) * D(j, idx[g]);
    ss += r * r;
  }
  return std::sqrt(ss);
}

TEST(MatchingPursuit, IdentityDictionaryRecoversExactly) {
  const int64_t d = 16;
  Matrix I = Matrix::identity(d);
  std::vector<float> x = randomFloats(d, 101);
  std::vector<int16_t> idx(d);
  std::vector<float> coef(d);
  float residual = -1;
  std::string error;
  ASSERT_TRUE(matchingPursuit(I, x.data(), d, d, idx.data(), coef.data(),
                              &residual, error))
      << error;
  EXPECT_EQ(residual, 0.0f);
  std::vector<float> rebuilt(d, 0.0f);
  for (int64_t g = 0; g < d; ++g)
    rebuilt[idx[g]] += coef[g];
  EXPECT_EQ(rebuilt, x) << "f32 coefficients of an f32 x must be exact";
  // Greedy: coordinates come out by decreasing magnitude.
  for (int64_t g = 1; g < d; ++g)
    EXPECT_GE(std::fabs(coef[g - 1]), std::fabs(coef[g]));
}

TEST(MatchingPursuit, FirstAtomIsTheBestCorrelated) {
  const int64_t d = 12, N = 40;
  Matrix D = randomDictionary(d, N, 102);
  std::vector<float> x = randomFloats(d, 103);
  int16_t idx;
  float coef, residual;
  std::string error;
  ASSERT_TRUE(matchingPursuit(D, x.data(), d, 1, &idx, &coef, &residual, error))
      << error;
  int64_t best = 0;
  double bestAbs = -1, bestDot = 0;
  for (int64_t m = 0; m < N; ++m) {
    double dot = 0;
    for (int64_t j = 0; j < d; ++j)
      dot += x[j] * D(j, m);
    if (std::fabs(dot) > bestAbs) {
      bestAbs = std::fabs(dot);
      bestDot = dot;
      best = m;
    }
  }
  EXPECT_EQ(idx, best);
  EXPECT_NEAR(coef, bestDot, 1e-6 * bestAbs);
  double xx = 0;
  for (float v : x)
    xx += static_cast<double>(v) * v;
  // ‖r₁‖² = ‖x‖² − c² for a unit-norm atom.
  EXPECT_NEAR(residual, std::sqrt(xx - bestDot * bestDot), 1e-5);
}

TEST(MatchingPursuit, ResidualDecreasesMonotonicallyWithS) {
  const int64_t d = 16, N = 64, maxS = 24;
  Matrix D = randomDictionary(d, N, 104);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    std::vector<float> x = randomFloats(d, 200 + seed);
    double previous = INFINITY;
    for (int64_t s = 0; s <= maxS; ++s) {
      std::vector<int16_t> idx(s);
      std::vector<float> coef(s);
      float residual;
      std::string error;
      ASSERT_TRUE(matchingPursuit(D, x.data(), d, s, idx.data(), coef.data(),
                                  &residual, error))
          << error;
      EXPECT_LE(residual, previous * (1 + 1e-6))
          << "seed " << seed << " s " << s;
      previous = residual;
      // The reported residual is the real reconstruction error (up to the
      // f32 rounding of the stored coefficients).
      EXPECT_NEAR(residual,
                  reconstructionError(D, x.data(), idx.data(), coef.data(), s),
                  1e-5);
    }
    // A redundant dictionary (N = 4d) gets well below ‖x‖ in 24 steps.
    EXPECT_LT(previous,
              0.2 * reconstructionError(D, x.data(), nullptr, nullptr, 0));
  }
}

TEST(MatchingPursuit, OrthonormalDictionaryRecoversX) {
  const int64_t d = 10;
  Matrix Q = randomOrthogonal(d, 105);
  std::vector<float> x = randomFloats(d, 106);
  std::vector<int16_t> idx(d);
  std::vector<float> coef(d);
  float residual;
  std::string error;
  ASSERT_TRUE(matchingPursuit(Q, x.data(), d, d, idx.data(), coef.data(),
                              &residual, error))
      << error;
  EXPECT_LT(residual, 1e-6);
  // Each basis vector is used once.
  std::vector<int16_t> sorted = idx;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int16_t> all(d);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
}

TEST(MatchingPursuit, ZeroVectorAndZeroSteps) {
  const int64_t d = 4;
  Matrix D = randomDictionary(d, 9, 107);
  std::vector<float> zero(d, 0.0f);
  std::vector<int16_t> idx(3, 7);
  std::vector<float> coef(3, 7.0f);
  float residual = -1;
  std::string error;
  ASSERT_TRUE(matchingPursuit(D, zero.data(), d, 3, idx.data(), coef.data(),
                              &residual, error))
      << error;
  EXPECT_EQ(idx, std::vector<int16_t>(3, 0));
  EXPECT_EQ(coef, std::vector<float>(3, 0.0f));
  EXPECT_EQ(residual, 0.0f);

  std::vector<float> x = {3, 0, 4, 0};
  ASSERT_TRUE(
      matchingPursuit(D, x.data(), d, 0, nullptr, nullptr, &residual, error))
      << error;
  EXPECT_FLOAT_EQ(residual, 5.0f);
}

TEST(MatchingPursuit, BatchMatchesSingleVector) {
  // N = 300 with n = 700 strided rows: several GEMM blocks, the last partial.
  const int64_t d = 24, N = 300, n = 700, s = 6, ldx = d + 5;
  Matrix D = randomDictionary(d, N, 108);
  std::vector<float> X = randomFloats(n * ldx, 109);
  std::vector<int16_t> idx(n * s);
  std::vector<float> coef(n * s), residuals(n);
  std::string error;
  ASSERT_TRUE(matchingPursuitBatch(D, X.data(), n, d, ldx, s, idx.data(),
                                   coef.data(), residuals.data(), error))
      << error;
  int64_t sameCodes = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int16_t> oneIdx(s);
    std::vector<float> oneCoef(s);
    float oneResidual;
    ASSERT_TRUE(matchingPursuit(D, X.data() + i * ldx, d, s, oneIdx.data(),
                                oneCoef.data(), &oneResidual, error))
        << error;
    bool same = std::equal(oneIdx.begin(), oneIdx.end(), idx.begin() + i * s);
    sameCodes += same;
    if (same) {
      for (int64_t g = 0; g < s; ++g)
        EXPECT_NEAR(coef[i * s + g], oneCoef[g], 1e-5);
      EXPECT_NEAR(residuals[i], oneResidual, 1e-5);
    }
  }
  // Only a near-tie in |r·d_n| could pick a different atom; none occur here.
  EXPECT_EQ(sameCodes, n);
}

TEST(MatchingPursuit, RejectsBadInput) {
  const int64_t d = 4;
  Matrix D = randomDictionary(d, 8, 110);
  std::vector<float> x = randomFloats(d, 111);
  int16_t idx[2];
  float coef[2];
  std::string error;

  Matrix unnormalized = D;
  unnormalized(0, 5) *= 1.01;
  EXPECT_FALSE(
      matchingPursuit(unnormalized, x.data(), d, 2, idx, coef, nullptr, error));
  EXPECT_NE(error.find("atom 5"), std::string::npos) << error;

  x[2] = NAN;
  EXPECT_FALSE(matchingPursuit(D, x.data(), d, 2, idx, coef, nullptr, error));
  EXPECT_NE(error.find("non-finite"), std::string::npos) << error;
  x[2] = 1;

  Matrix nanD = D;
  nanD(1, 1) = NAN;
  EXPECT_FALSE(
      matchingPursuit(nanD, x.data(), d, 2, idx, coef, nullptr, error));
  EXPECT_FALSE(
      matchingPursuit(D, x.data(), d + 1, 2, idx, coef, nullptr, error));
  EXPECT_FALSE(matchingPursuit(D, x.data(), d, -1, idx, coef, nullptr, error));
  EXPECT_FALSE(
      matchingPursuit(D, x.data(), d, 2, nullptr, coef, nullptr, error));

  // One more atom than int16 indices can name.
  Matrix huge(1, kMaxDictionaryAtoms + 1);
  for (double &v : huge.data)
    v = 1;
  float one = 1;
  EXPECT_FALSE(matchingPursuit(huge, &one, 1, 1, idx, coef, nullptr, error));
  EXPECT_NE(error.find("int16"), std::string::npos) << error;
}

} // namespace

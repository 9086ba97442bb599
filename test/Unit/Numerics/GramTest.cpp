//===- GramTest.cpp - syrkAccumulate, symmetrize, GramAccumulator ---------===//

#include "attenuate/Numerics/Gram.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

/// Σ_r X[r][i] X[r][j] in fp64, the definition.
double naiveGram(const float *X, int64_t n, int64_t ldx, int64_t i, int64_t j) {
  double s = 0;
  for (int64_t r = 0; r < n; ++r)
    s += static_cast<double>(X[r * ldx + i]) * X[r * ldx + j];
  return s;
}

TEST(Gram, SmallStridedBlockMatchesNaiveLoop) {
  const int64_t n = 7, d = 5, ldx = 8;
  std::vector<float> X = randomFloats(n * ldx, 11);
  // The padding columns must never be read (nor checked for NaN).
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = d; j < ldx; ++j)
      X[r * ldx + j] = NAN;
  Matrix R(d, d);
  std::string error;
  ASSERT_TRUE(syrkAccumulate(R, X.data(), n, d, ldx, error)) << error;
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      if (j >= i)
        EXPECT_NEAR(R(i, j), naiveGram(X.data(), n, ldx, i, j), 1e-12);
      else
        EXPECT_EQ(R(i, j), 0.0) << "lower triangle is symmetrize()'s job";
    }
  ASSERT_TRUE(symmetrize(R, error)) << error;
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < i; ++j)
      EXPECT_EQ(R(i, j), R(j, i));
}

TEST(Gram, ManyBlocksMatchNaiveLoop) {
  // d = 1024 widens 512 rows per dsyrk call, so 1100 rows take three calls
  // (the last one partial). The naive check samples entries to stay fast.
  const int64_t n = 1100, d = 1024;
  std::vector<float> X = randomFloats(n * d, 12);
  Matrix R(d, d);
  std::string error;
  ASSERT_TRUE(syrkAccumulate(R, X.data(), n, d, d, error)) << error;
  ASSERT_TRUE(symmetrize(R, error)) << error;
  TestRng rng(13);
  for (int t = 0; t < 300; ++t) {
    int64_t i = static_cast<int64_t>((rng.uniform() + 1) / 2 * d);
    int64_t j = static_cast<int64_t>((rng.uniform() + 1) / 2 * d);
    double expected = naiveGram(X.data(), n, d, i, j);
    EXPECT_NEAR(R(i, j), expected, 1e-10 * (1 + std::fabs(expected)))
        << "(" << i << ", " << j << ")";
  }
  for (int64_t i = 0; i < d; ++i)
    EXPECT_NEAR(R(i, i), naiveGram(X.data(), n, d, i, i), 1e-9);
}

TEST(Gram, BatchesAddUpAndF64OverloadAgrees) {
  const int64_t n = 90, d = 6;
  std::vector<float> X = randomFloats(n * d, 14);
  std::vector<double> Xd(X.begin(), X.end());
  Matrix whole(d, d), split(d, d), wide(d, d);
  std::string error;
  ASSERT_TRUE(syrkAccumulate(whole, X.data(), n, d, d, error)) << error;
  ASSERT_TRUE(syrkAccumulate(split, X.data(), 40, d, d, error)) << error;
  ASSERT_TRUE(syrkAccumulate(split, X.data() + 40 * d, 50, d, d, error))
      << error;
  ASSERT_TRUE(syrkAccumulate(split, X.data(), 0, d, d, error)) << error;
  ASSERT_TRUE(syrkAccumulate(wide, Xd.data(), n, d, d, error)) << error;
  EXPECT_LT(maxAbsDiff(whole, split), 1e-12);
  EXPECT_LT(maxAbsDiff(whole, wide), 1e-12);
}

TEST(Gram, AccumulatesInDoublePrecision) {
  // 4097² = 16785409 is odd and above 2^24, so not an f32; in fp64 every
  // product and partial sum here (up to ≈ 5e10 < 2^53) is exact, so the
  // result must be exact — an f32 accumulator would be off by thousands.
  const int64_t n = 3000, d = 2;
  std::vector<float> X(n * d);
  for (int64_t r = 0; r < n; ++r) {
    X[r * d] = 4096.0f + 1.0f;
    X[r * d + 1] = 1.0f;
  }
  Matrix R(d, d);
  std::string error;
  ASSERT_TRUE(syrkAccumulate(R, X.data(), n, d, d, error)) << error;
  EXPECT_EQ(R(0, 0), 4097.0 * 4097.0 * n);
  EXPECT_EQ(R(0, 1), 4097.0 * n);
  EXPECT_EQ(R(1, 1), static_cast<double>(n));
}

TEST(Gram, RejectsBadInputWithoutTouchingR) {
  const int64_t d = 3;
  std::vector<float> X = randomFloats(4 * d, 15);
  Matrix R(d, d);
  std::string error;
  ASSERT_TRUE(syrkAccumulate(R, X.data(), 4, d, d, error)) << error;
  Matrix before = R;

  X[2 * d + 1] = NAN;
  EXPECT_FALSE(syrkAccumulate(R, X.data(), 4, d, d, error));
  EXPECT_NE(error.find("(2, 1)"), std::string::npos) << error;
  EXPECT_EQ(maxAbsDiff(R, before), 0.0);

  X[2 * d + 1] = INFINITY;
  std::vector<double> Xd(X.begin(), X.end());
  EXPECT_FALSE(syrkAccumulate(R, Xd.data(), 4, d, d, error));
  EXPECT_EQ(maxAbsDiff(R, before), 0.0);

  Matrix wrong(d + 1, d + 1);
  EXPECT_FALSE(syrkAccumulate(wrong, X.data(), 1, d, d, error));
  EXPECT_NE(error.find("expected 3x3"), std::string::npos) << error;
  EXPECT_FALSE(syrkAccumulate(R, X.data(), 1, d, d - 1, error));
  EXPECT_FALSE(
      syrkAccumulate(R, static_cast<const float *>(nullptr), 1, d, d, error));
  Matrix rect(2, 3);
  EXPECT_FALSE(symmetrize(rect, error));
}

TEST(Gram, AccumulatorGivesSymmetricMean) {
  const int64_t n = 30, d = 4;
  std::vector<float> X = randomFloats(n * d, 16);
  GramAccumulator acc(d);
  Matrix R;
  std::string error;
  EXPECT_FALSE(acc.result(R, error));
  EXPECT_NE(error.find("no rows"), std::string::npos) << error;
  ASSERT_TRUE(acc.add(X.data(), 10, d, error)) << error;
  std::vector<double> rest(X.begin() + 10 * d, X.end());
  ASSERT_TRUE(acc.add(rest.data(), 20, d, error)) << error;
  EXPECT_EQ(acc.count(), n);
  ASSERT_TRUE(acc.result(R, error)) << error;
  Matrix sum;
  ASSERT_TRUE(acc.result(sum, error, /*meanOverRows=*/false)) << error;
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double expected = naiveGram(X.data(), n, d, i, j);
      EXPECT_NEAR(sum(i, j), expected, 1e-12);
      EXPECT_NEAR(R(i, j), expected / n, 1e-13);
    }

  GramAccumulator bad(0);
  EXPECT_FALSE(bad.add(X.data(), 1, d, error));
}

} // namespace

//===- LinearTest.cpp - attn_linear_f32 against an fp64 loop --------------===//
//
// Bound: max|y - ref| <= 1e-5 · max|ref| (kRelTol), ref in fp64.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <gtest/gtest.h>

using namespace attenuate::runtime::test;

namespace {

struct LinearCase {
  std::vector<int64_t> xSizes;
  int64_t out;
  bool bias;
  Layout xLayout, wLayout, bLayout, yLayout;
};

/// Runs one case and checks it against the reference; returns y's values.
std::vector<float> runLinear(const LinearCase &c, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  int64_t in = c.xSizes.back();
  Tensor x(c.xSizes, c.xLayout), w({c.out, in}, c.wLayout),
      b({c.out}, c.bLayout);
  std::vector<int64_t> ySizes = c.xSizes;
  ySizes.back() = c.out;
  Tensor y(ySizes, c.yLayout);
  x.fillUniform(rng);
  w.fillUniform(rng);
  b.fillUniform(rng);
  attn_view_f32 xv = x.view(), wv = w.view(), bv = b.view(), yv = y.view();
  EXPECT_EQ(attn_linear_f32(&xv, &wv, c.bias ? &bv : nullptr, &yv), ATTN_OK)
      << attn_last_error();
  EXPECT_STREQ(attn_last_error(), "");
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < c.xSizes.size(); ++d)
    rows *= c.xSizes[d];
  std::vector<double> bRef = b.dense();
  std::vector<double> ref = linearRef(
      x.dense(), w.dense(), c.bias ? &bRef : nullptr, rows, in, c.out);
  EXPECT_LT(relError(y.values(), ref), kRelTol);
  EXPECT_TRUE(y.paddingIntact()) << "wrote outside y's view";
  return y.values();
}

TEST(Linear, Contiguous2D) {
  runLinear({{17, 33}, 19, false, {}, {}, {}, {}});
  runLinear({{17, 33}, 19, true, {}, {}, {}, {}});
}

TEST(Linear, AnyRankFlattensLeadingDims) {
  runLinear({{33}, 19, true, {}, {}, {}, {}});
  runLinear({{1, 33}, 19, false, {}, {}, {}, {}});
  runLinear({{2, 5, 33}, 19, true, {}, {}, {}, {}});
  runLinear({{2, 3, 1, 5, 8}, 7, false, {}, {}, {}, {}});
}

TEST(Linear, StridedOperandsUsedInPlace) {
  // Rows sliced from a padded buffer, permuted batch dims (rows are not
  // evenly strided), a weight stored transposed, a strided output.
  runLinear({{4, 6, 33},
             19,
             true,
             strided({1, 0, 2}),
             strided({}),
             strided({}),
             strided({1, 0, 2})});
  runLinear(
      {{4, 6, 33}, 19, false, strided({}), strided({1, 0}), {}, strided({})});
  runLinear({{113, 33}, 19, true, strided({}), strided({1, 0}), {}, {}});
}

TEST(Linear, ScatteredOperandsAreCopied) {
  runLinear({{4, 6, 33},
             19,
             true,
             scattered({1, 0, 2}),
             scattered(),
             scattered(),
             scattered({1, 0, 2})});
  runLinear({{5, 17}, 9, false, {}, scattered({1, 0}), {}, scattered()});
  // More copied rows than one chunk holds.
  runLinear({{1500, 8}, 5, true, scattered(), {}, {}, scattered()});
}

TEST(Linear, DecodeRow) {
  runLinear({{1, 1, 64}, 96, true, strided({}), {}, {}, strided({})});
}

TEST(Linear, EmptyDims) {
  runLinear({{0, 33}, 19, true, {}, {}, {}, {}});
  runLinear({{4, 33}, 0, true, {}, {}, {}, {}});
  // in = 0: y is the bias, or zero.
  runLinear({{4, 0}, 5, true, {}, {}, {}, {}});
  runLinear({{4, 0}, 5, false, {}, {}, {}, {}});
}

TEST(Linear, RepeatedRunsAreIdentical) {
  LinearCase c{{64, 48}, 40, true, strided({}), {}, {}, {}};
  std::vector<float> first = runLinear(c, 7);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(bitwiseEqual(first, runLinear(c, 7)));
}

class LinearErrors : public ::testing::Test {
protected:
  Tensor x{{2, 5, 8}}, w{{6, 8}}, b{{6}}, y{{2, 5, 6}};
  attn_view_f32 xv = x.view(), wv = w.view(), bv = b.view(), yv = y.view();

  void expectError(int code, std::initializer_list<const char *> needles) {
    EXPECT_EQ(attn_linear_f32(&xv, &wv, &bv, &yv), code);
    std::string msg = attn_last_error();
    EXPECT_NE(msg.find("attn_linear_f32"), std::string::npos) << msg;
    for (const char *n : needles)
      EXPECT_NE(msg.find(n), std::string::npos)
          << "'" << n << "' not in: " << msg;
  }
};

TEST_F(LinearErrors, NullPointers) {
  EXPECT_EQ(attn_linear_f32(nullptr, &wv, &bv, &yv), ATTN_ERR_NULL);
  EXPECT_NE(std::string(attn_last_error()).find("x is a null view"),
            std::string::npos);
  EXPECT_EQ(attn_linear_f32(&xv, nullptr, &bv, &yv), ATTN_ERR_NULL);
  EXPECT_EQ(attn_linear_f32(&xv, &wv, &bv, nullptr), ATTN_ERR_NULL);
  wv.data = nullptr;
  expectError(ATTN_ERR_NULL, {"w [6, 8]", "null data"});
}

TEST_F(LinearErrors, Shapes) {
  wv.sizes[1] = 7;
  expectError(ATTN_ERR_SHAPE, {"x [2, 5, 8]", "w [out, in] is [6, 7]"});
  wv = w.view();
  bv.sizes[0] = 5;
  expectError(ATTN_ERR_SHAPE, {"b [5]", "w [6, 8]"});
  bv = b.view();
  yv.sizes[1] = 4;
  expectError(ATTN_ERR_SHAPE, {"y [2, 4, 6]", "must be [2, 5, 6]"});
  yv = y.view();
  wv.rank = 3;
  expectError(ATTN_ERR_SHAPE, {"w must have rank 2", "got rank 3"});
  wv = w.view();
  xv.rank = 0;
  expectError(ATTN_ERR_SHAPE, {"x must have rank >= 1"});
  xv.rank = 9;
  expectError(ATTN_ERR_SHAPE, {"x has rank 9"});
  xv = x.view();
  xv.sizes[0] = -1;
  expectError(ATTN_ERR_SHAPE, {"x has a negative size"});
}

TEST_F(LinearErrors, SuccessClearsTheMessage) {
  wv.sizes[1] = 7;
  EXPECT_NE(attn_linear_f32(&xv, &wv, &bv, &yv), ATTN_OK);
  wv = w.view();
  x.fill(1.0f);
  w.fill(1.0f);
  b.fill(0.0f);
  EXPECT_EQ(attn_linear_f32(&xv, &wv, &bv, &yv), ATTN_OK);
  EXPECT_STREQ(attn_last_error(), "");
  EXPECT_EQ(y.at({1, 4, 5}), 8.0f);
}

} // namespace

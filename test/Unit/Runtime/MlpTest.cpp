//===- MlpTest.cpp - attn_mlp_f32 against an fp64 loop --------------------===//
//
// Bound: max|y - ref| <= 1e-5 · max|ref| (kRelTol), ref in fp64.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <gtest/gtest.h>

using namespace attenuate::runtime::test;

namespace {

struct MlpCase {
  std::vector<int64_t> xSizes;
  int64_t inter;
  Layout xLayout, gateLayout, downLayout, yLayout;
};

std::vector<float> runMlp(const MlpCase &c, uint32_t seed = 3) {
  std::mt19937 rng(seed);
  int64_t d = c.xSizes.back();
  Tensor x(c.xSizes, c.xLayout), gate({c.inter, d}, c.gateLayout),
      up({c.inter, d}, c.gateLayout), down({d, c.inter}, c.downLayout),
      y(c.xSizes, c.yLayout);
  x.fillUniform(rng);
  gate.fillUniform(rng, -0.5f, 0.5f);
  up.fillUniform(rng, -0.5f, 0.5f);
  down.fillUniform(rng, -0.5f, 0.5f);
  attn_view_f32 xv = x.view(), gv = gate.view(), uv = up.view(),
                dv = down.view(), yv = y.view();
  EXPECT_EQ(attn_mlp_f32(&xv, &gv, &uv, &dv, &yv), ATTN_OK)
      << attn_last_error();
  int64_t rows = x.numel() / std::max<int64_t>(d, 1);
  if (d == 0)
    rows = 0;
  std::vector<double> ref = mlpRef(x.dense(), gate.dense(), up.dense(),
                                   down.dense(), rows, d, c.inter);
  EXPECT_LT(relError(y.values(), ref), kRelTol);
  EXPECT_TRUE(y.paddingIntact()) << "wrote outside y's view";
  return y.values();
}

TEST(Mlp, RowCountsAcrossChunks) {
  // 256 rows per chunk inside the kernel: below, at, and across it.
  for (int64_t rows : {1, 17, 256, 300, 600})
    runMlp({{rows, 24}, 40, {}, {}, {}, {}});
}

TEST(Mlp, AnyRank) {
  runMlp({{24}, 40, {}, {}, {}, {}});
  runMlp({{2, 3, 5, 24}, 40, {}, {}, {}, {}});
}

TEST(Mlp, StridedOperands) {
  runMlp({{3, 113, 24},
          40,
          strided({1, 0, 2}),
          strided({}),
          strided({1, 0}),
          strided({})});
  runMlp({{3, 113, 24},
          40,
          scattered({1, 0, 2}),
          scattered({1, 0}),
          scattered(),
          scattered({2, 1, 0})});
}

TEST(Mlp, LargeActivationsStayFinite) {
  // silu's exp(-g) overflows for g < -88; the limit is -0, not NaN.
  Tensor x({3, 4}), gate({2, 4}), up({2, 4}), down({4, 2}), y({3, 4});
  x.fill(100.0f);
  gate.fill(-1.0f);
  up.fill(1.0f);
  down.fill(1.0f);
  attn_view_f32 xv = x.view(), gv = gate.view(), uv = up.view(),
                dv = down.view(), yv = y.view();
  ASSERT_EQ(attn_mlp_f32(&xv, &gv, &uv, &dv, &yv), ATTN_OK);
  for (float v : y.values())
    EXPECT_EQ(v, 0.0f);
}

TEST(Mlp, EmptyIntermediateGivesZero) {
  Tensor x({3, 4}), gate({0, 4}), up({0, 4}), down({4, 0}), y({3, 4});
  x.fill(1.0f);
  attn_view_f32 xv = x.view(), gv = gate.view(), uv = up.view(),
                dv = down.view(), yv = y.view();
  ASSERT_EQ(attn_mlp_f32(&xv, &gv, &uv, &dv, &yv), ATTN_OK);
  for (float v : y.values())
    EXPECT_EQ(v, 0.0f);
}

TEST(Mlp, RepeatedRunsAreIdentical) {
  MlpCase c{{300, 24}, 40, strided({}), {}, {}, {}};
  std::vector<float> first = runMlp(c, 11);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(bitwiseEqual(first, runMlp(c, 11)));
}

TEST(Mlp, Errors) {
  Tensor x({5, 8}), gate({12, 8}), up({12, 8}), down({8, 12}), y({5, 8});
  attn_view_f32 xv = x.view(), gv = gate.view(), uv = up.view(),
                dv = down.view(), yv = y.view();
  auto expectError = [&](int code, std::initializer_list<const char *> in) {
    EXPECT_EQ(attn_mlp_f32(&xv, &gv, &uv, &dv, &yv), code);
    std::string msg = attn_last_error();
    EXPECT_NE(msg.find("attn_mlp_f32"), std::string::npos) << msg;
    for (const char *n : in)
      EXPECT_NE(msg.find(n), std::string::npos)
          << "'" << n << "' not in: " << msg;
  };
  EXPECT_EQ(attn_mlp_f32(&xv, nullptr, &uv, &dv, &yv), ATTN_ERR_NULL);
  EXPECT_NE(std::string(attn_last_error()).find("gate"), std::string::npos);
  uv.sizes[0] = 11;
  expectError(ATTN_ERR_SHAPE, {"up [11, 8]", "[i, d] = [12, 8]", "x [5, 8]"});
  uv = up.view();
  dv.sizes[0] = 7;
  expectError(ATTN_ERR_SHAPE, {"down [7, 12]", "[d, i] = [8, 12]"});
  dv = down.view();
  gv.sizes[1] = 9;
  expectError(ATTN_ERR_SHAPE, {"gate [12, 9]"});
  gv = gate.view();
  yv.sizes[0] = 4;
  expectError(ATTN_ERR_SHAPE, {"y [4, 8]", "shape of x [5, 8]"});
  yv = y.view();
  xv.data = nullptr;
  expectError(ATTN_ERR_NULL, {"x [5, 8]", "null data"});
}

} // namespace

//===- GpuElementwiseTest.cpp - row-wise kernels and GEMMs on a device ----===//
//
// The emulator's elementwise cases on a device, plus attn_cuda_linear and
// attn_cuda_mlp (cuBLASLt) against fp64 references. Skips without a usable
// GPU.
//
//===----------------------------------------------------------------------===//

#include "ElementwiseTestUtil.h"
#include "GpuTestUtil.h"

using namespace attenuate::cuda::test;

namespace {

class GpuElementwiseRunner : public GpuTest, public ElementwiseRunner {
public:
  int rope(LpTensor &x, const std::vector<int64_t> &positions, int64_t offset,
           const attn_rope_config &cfg, LpTensor &y) override {
    upload(x);
    if (&y != &x)
      upload(y);
    const int64_t *pos = upload(positions);
    attn_cuda_tensor xd = onDevice(x, x.hostView()),
                     yd = onDevice(y, y.hostView());
    if (int rc = attn_cuda_rope(ctx, &xd, pos, offset, &cfg, &yd, stream))
      return rc;
    download(y);
    return ATTN_OK;
  }
  int ropeAppend(LpTensor &x, const std::vector<int64_t> &positions,
                 int64_t offset, const attn_rope_config &cfg, LpTensor &cache,
                 const attn_cuda_tensor &cacheView, int64_t pos) override {
    upload(x);
    upload(cache);
    const int64_t *p = upload(positions);
    attn_cuda_tensor xd = onDevice(x, x.hostView()),
                     cd = onDevice(cache, cacheView);
    if (int rc = attn_cuda_rope_cache_append(ctx, &xd, p, offset, &cfg, &cd,
                                             pos, stream))
      return rc;
    download(cache);
    return ATTN_OK;
  }
  int cacheAppend(LpTensor &x, const attn_cuda_tensor &xView, LpTensor &cache,
                  const attn_cuda_tensor &cacheView, int64_t pos) override {
    upload(x);
    upload(cache);
    attn_cuda_tensor xd = onDevice(x, xView), cd = onDevice(cache, cacheView);
    if (int rc = attn_cuda_cache_append(ctx, &xd, &cd, pos, stream))
      return rc;
    download(cache);
    return ATTN_OK;
  }
  int rmsNorm(LpTensor &x, LpTensor &w, double eps, LpTensor &y) override {
    upload(x);
    upload(w);
    upload(y);
    attn_cuda_tensor xd = onDevice(x, x.hostView()),
                     wd = onDevice(w, w.hostView()),
                     yd = onDevice(y, y.hostView());
    if (int rc = attn_cuda_rms_norm(ctx, &xd, &wd, eps, &yd, stream))
      return rc;
    download(y);
    return ATTN_OK;
  }
  int siluMul(LpTensor &fused, const attn_cuda_tensor &gate,
              const attn_cuda_tensor &up, LpTensor &y) override {
    upload(fused);
    upload(y);
    attn_cuda_tensor gd = onDevice(fused, gate), ud = onDevice(fused, up),
                     yd = onDevice(y, y.hostView());
    if (int rc = attn_cuda_silu_mul(ctx, &gd, &ud, &yd, stream))
      return rc;
    download(y);
    return ATTN_OK;
  }
};

class GpuRope : public GpuElementwiseRunner,
                public ::testing::WithParamInterface<RopeCase> {};

TEST_P(GpuRope, MatchesReference) { checkRope(*this, GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, GpuRope, ::testing::ValuesIn(ropeCases()));

class GpuElementwise : public GpuElementwiseRunner,
                       public ::testing::WithParamInterface<int32_t> {};

TEST_P(GpuElementwise, RopeCacheAppend) { checkRopeCacheAppend(*this, GetParam()); }
TEST_P(GpuElementwise, MlaLatentAndRopeKeyAppend) {
  checkMlaAppend(*this, GetParam());
}
TEST_P(GpuElementwise, RmsNorm) {
  checkRmsNorm(*this, 5, 64, GetParam());
  checkRmsNorm(*this, 33, 4096, GetParam());
}
TEST_P(GpuElementwise, SiluMul) { checkSiluMul(*this, 17, 1000, GetParam()); }

/// y = x·wᵀ + b through cuBLASLt vs fp64 on the rounded inputs: the fp32
/// accumulation of `in` products plus one rounding of the output.
TEST_P(GpuElementwise, Linear) {
  const int32_t dtype = GetParam();
  std::mt19937 rng(9);
  const int64_t rows = 37, in = 200, out = 72;
  LpTensor x({rows, in}, dtype, 8), w({out, in}, dtype), b({out}, dtype),
      y({rows, out}, dtype, 8);
  x.fillUniform(rng, -1, 1);
  w.fillUniform(rng, -0.1f, 0.1f);
  b.fillUniform(rng, -1, 1);
  upload(x);
  upload(w);
  upload(b);
  upload(y);
  for (bool bias : {false, true}) {
    attn_cuda_tensor xd = onDevice(x, x.hostView()),
                     wd = onDevice(w, w.hostView()),
                     bd = onDevice(b, b.hostView()),
                     yd = onDevice(y, y.hostView());
    ASSERT_EQ(attn_cuda_linear(ctx, &xd, &wd, bias ? &bd : nullptr, &yd,
                               stream),
              ATTN_OK)
        << attn_cuda_last_error();
    download(y);
    EXPECT_TRUE(y.paddingIntact());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double ref = bias ? b.get({o}) : 0.0;
        for (int64_t i = 0; i < in; ++i)
          ref += x.get({r, i}) * w.get({o, i});
        ASSERT_LE(std::fabs(y.get({r, o}) - ref),
                  elementBound(ref, dtype) + 1e-5)
            << "row " << r << " out " << o << (bias ? " (bias)" : "");
      }
  }
}

TEST_P(GpuElementwise, Mlp) {
  const int32_t dtype = GetParam();
  std::mt19937 rng(10);
  const int64_t rows = 9, d = 64, inter = 176;
  LpTensor x({rows, d}, dtype), gate({inter, d}, dtype), up({inter, d}, dtype),
      down({d, inter}, dtype), y({rows, d}, dtype);
  x.fillUniform(rng, -1, 1);
  gate.fillUniform(rng, -0.3f, 0.3f);
  up.fillUniform(rng, -0.3f, 0.3f);
  down.fillUniform(rng, -0.3f, 0.3f);
  for (LpTensor *t : {&x, &gate, &up, &down, &y})
    upload(*t);
  attn_cuda_tensor xd = onDevice(x, x.hostView()),
                   gd = onDevice(gate, gate.hostView()),
                   ud = onDevice(up, up.hostView()),
                   dd = onDevice(down, down.hostView()),
                   yd = onDevice(y, y.hostView());
  ASSERT_EQ(attn_cuda_mlp(ctx, &xd, &gd, &ud, &dd, &yd, stream), ATTN_OK)
      << attn_cuda_last_error();
  download(y);
  // The intermediate is rounded to the dtype before `down`: allow that
  // rounding, propagated through down (sum of |down|·spacing), plus the
  // output's own.
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> h(inter);
    for (int64_t i = 0; i < inter; ++i) {
      double g = 0, u = 0;
      for (int64_t c = 0; c < d; ++c) {
        g += x.get({r, c}) * gate.get({i, c});
        u += x.get({r, c}) * up.get({i, c});
      }
      h[i] = g / (1 + std::exp(-g)) * u;
    }
    for (int64_t o = 0; o < d; ++o) {
      double ref = 0, slack = 0;
      for (int64_t i = 0; i < inter; ++i) {
        ref += h[i] * down.get({o, i});
        slack += std::fabs(down.get({o, i})) * 3 * spacing(std::fabs(h[i]), dtype);
      }
      ASSERT_LE(std::fabs(y.get({r, o}) - ref),
                elementBound(ref, dtype) + slack + 1e-5)
          << "row " << r << " out " << o;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuElementwise,
                         ::testing::Values(ATTN_DTYPE_BF16, ATTN_DTYPE_F16),
                         [](const ::testing::TestParamInfo<int32_t> &info) {
                           return std::string(dtypeName(info.param));
                         });

} // namespace

//===- EmulatedElementwiseTest.cpp - row-wise kernels, run by the emulator ===//
//
// The library's checks and parameters (ElementwisePlan.cpp) in front of the
// kernel bodies (Elementwise.cuh), executed by the emulator; the same cases
// run on a device in GpuElementwiseTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"
#include "Elementwise.cuh"
#include "ElementwiseTestUtil.h"
#include "Emulator.h"

using namespace attenuate::cuda;
using namespace attenuate::cuda::test;

namespace {

constexpr unsigned kThreads = 256;

emu::Dim3 blocksFor(int64_t items) {
  return {static_cast<unsigned>((items + kThreads - 1) / kThreads), 1u, 1u};
}

void launchRope(int32_t dtype, const RopeParams &p) {
  const int64_t items = p.batch * p.seq * p.heads * (p.dim - p.rotaryDim / 2);
  if (items == 0)
    return;
  emu::launch(blocksFor(items), kThreads, 0, [&](char *) {
    if (dtype == ATTN_DTYPE_BF16)
      ropeBody<__nv_bfloat16>(p);
    else
      ropeBody<__half>(p);
  });
}

class EmulatedElementwiseRunner : public ElementwiseRunner {
public:
  int rope(LpTensor &x, const std::vector<int64_t> &positions, int64_t offset,
           const attn_rope_config &cfg, LpTensor &y) override {
    attn_cuda_tensor xv = x.hostView(), yv = y.hostView();
    RopeParams p;
    if (int rc = host::planRope("rope", &xv,
                                positions.empty() ? nullptr : positions.data(),
                                offset, &cfg, &yv, p))
      return rc;
    launchRope(x.dtype(), p);
    return ATTN_OK;
  }
  int ropeAppend(LpTensor &x, const std::vector<int64_t> &positions,
                 int64_t offset, const attn_rope_config &cfg, LpTensor &cache,
                 const attn_cuda_tensor &cacheView, int64_t pos) override {
    (void)cache;
    attn_cuda_tensor xv = x.hostView();
    RopeParams p;
    if (int rc = host::planRopeCacheAppend(
            "rope_cache_append", &xv,
            positions.empty() ? nullptr : positions.data(), offset, &cfg,
            &cacheView, pos, p))
      return rc;
    launchRope(x.dtype(), p);
    return ATTN_OK;
  }
  int cacheAppend(LpTensor &x, const attn_cuda_tensor &xView, LpTensor &cache,
                  const attn_cuda_tensor &cacheView, int64_t pos) override {
    (void)cache;
    RopeParams p;
    if (int rc =
            host::planCacheAppend("cache_append", &xView, &cacheView, pos, p))
      return rc;
    launchRope(x.dtype(), p);
    return ATTN_OK;
  }
  int rmsNorm(LpTensor &x, LpTensor &w, double eps, LpTensor &y) override {
    attn_cuda_tensor xv = x.hostView(), wv = w.hostView(), yv = y.hostView();
    RmsNormParams p;
    if (int rc = host::planRmsNorm("rms_norm", &xv, &wv, eps, &yv, p))
      return rc;
    if (p.rows == 0)
      return ATTN_OK;
    emu::launch({static_cast<unsigned>(p.rows), 1u, 1u}, kThreads,
                kThreads / 32 * sizeof(float), [&](char *smem) {
                  float *partial = reinterpret_cast<float *>(smem);
                  if (x.dtype() == ATTN_DTYPE_BF16)
                    rmsNormBody<__nv_bfloat16>(p, partial);
                  else
                    rmsNormBody<__half>(p, partial);
                });
    return ATTN_OK;
  }
  int siluMul(LpTensor &fused, const attn_cuda_tensor &gate,
              const attn_cuda_tensor &up, LpTensor &y) override {
    attn_cuda_tensor yv = y.hostView();
    SiluMulParams p;
    if (int rc = host::planSiluMul("silu_mul", &gate, &up, &yv, p))
      return rc;
    emu::launch(blocksFor(p.rows * p.cols), kThreads, 0, [&](char *) {
      if (fused.dtype() == ATTN_DTYPE_BF16)
        siluMulBody<__nv_bfloat16>(p);
      else
        siluMulBody<__half>(p);
    });
    return ATTN_OK;
  }
};

class EmulatedRope : public ::testing::TestWithParam<RopeCase> {};

TEST_P(EmulatedRope, MatchesReference) {
  EmulatedElementwiseRunner runner;
  checkRope(runner, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Cases, EmulatedRope, ::testing::ValuesIn(ropeCases()));

class EmulatedElementwise : public ::testing::TestWithParam<int32_t> {};

TEST_P(EmulatedElementwise, RopeCacheAppend) {
  EmulatedElementwiseRunner runner;
  checkRopeCacheAppend(runner, GetParam());
}

TEST_P(EmulatedElementwise, MlaLatentAndRopeKeyAppend) {
  EmulatedElementwiseRunner runner;
  checkMlaAppend(runner, GetParam());
}

TEST_P(EmulatedElementwise, RmsNorm) {
  EmulatedElementwiseRunner runner;
  checkRmsNorm(runner, 5, 64, GetParam());
  checkRmsNorm(runner, 2, 1000, GetParam());
}

TEST_P(EmulatedElementwise, SiluMul) {
  EmulatedElementwiseRunner runner;
  checkSiluMul(runner, 3, 100, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, EmulatedElementwise,
                         ::testing::Values(ATTN_DTYPE_BF16, ATTN_DTYPE_F16),
                         [](const ::testing::TestParamInfo<int32_t> &info) {
                           return std::string(dtypeName(info.param));
                         });

} // namespace

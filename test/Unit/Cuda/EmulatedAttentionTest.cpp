//===- EmulatedAttentionTest.cpp - the flash kernels, run by the emulator -===//
//
// The library's own planning (checkAttention, planAttention,
// makeFlashParams) and kernel bodies (FlashAttention.cuh), compiled for the
// host and executed thread by thread in lib/Runtime/cuda/Emulator.cpp, which
// implements ldmatrix, mma.sync m16n8k16, cp.async and shuffles with the PTX
// ISA's fragment layouts. This checks the kernels' indexing, masking,
// online softmax, pipelining, GQA packing, MLA's shared K/V tile and the
// split-K combine on a machine without a GPU; the same cases run on a real
// device in GpuAttentionTest.cpp. Shapes are smaller here (the emulator runs
// about a million warp instructions a second).
//
//===----------------------------------------------------------------------===//

#include "CudaTestUtil.h"
#include "Detail.h"
#include "Emulator.h"
#include "FlashAttention.cuh"

using namespace attenuate::cuda;
using namespace attenuate::cuda::test;

namespace {

template <typename T>
void runFlash(host::FlashKernel kernel, const FlashParams &p, char *smem) {
  switch (kernel) {
#define ATTN_BODY(name)                                                      \
  case host::FlashKernel::name:                                              \
    flashAttentionBody<T, Flash##name>(p, smem);                             \
    return;
    ATTN_FLASH_KERNELS(ATTN_BODY)
#undef ATTN_BODY
  }
}

class EmulatedRunner : public AttentionRunner {
public:
  explicit EmulatedRunner(uint32_t seed = 0) : seed_(seed) {}

  int run(const AttentionCase &c, LpTensor &q, LpTensor &k, LpTensor &v,
          const attn_cuda_tensor &vView, LpTensor &o, double scale) override {
    (void)v;
    const char *op = "emulated attention";
    attn_cuda_tensor qv = q.hostView(), kv = k.hostView(), ov = o.hostView();
    kv.sizes[1] = c.skv;
    host::AttentionProblem problem;
    if (int rc = host::checkAttention(op, &qv, &kv, &vView, scale, c.causal,
                                      &ov, problem))
      return rc;
    host::AttentionPlan plan;
    if (int rc = host::planAttention(
            op, problem,
            c.decode ? host::AttentionMode::Decode
                     : host::AttentionMode::Prefill,
            c.decode ? c.splits : 1, /*smCount=*/132, plan))
      return rc;
    lastPlan = plan;
    std::vector<float> workspace(plan.workspaceBytes / sizeof(float) + 64);
    const FlashParams params =
        host::makeFlashParams(problem, plan, workspace.data());
    const bool bf16 = c.dtype == ATTN_DTYPE_BF16;
    emu::launch({static_cast<unsigned>(plan.gridX), 1u,
                 static_cast<unsigned>(plan.splits)},
                static_cast<unsigned>(plan.shape.threads),
                plan.shape.smemBytes,
                [&](char *smem) {
                  if (bf16)
                    runFlash<__nv_bfloat16>(plan.kernel, params, smem);
                  else
                    runFlash<__half>(plan.kernel, params, smem);
                },
                seed_);
    if (plan.splits > 1) {
      const CombineParams cp = host::makeCombineParams(problem, plan, params);
      emu::launch({static_cast<unsigned>(c.batch * c.hq * c.sq), 1u, 1u}, 128,
                  0, [&](char *) {
                    if (bf16)
                      flashCombineBody<__nv_bfloat16>(cp);
                    else
                      flashCombineBody<__half>(cp);
                  });
    }
    return ATTN_OK;
  }

  host::AttentionPlan lastPlan;

private:
  uint32_t seed_;
};

class EmulatedAttention : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(EmulatedAttention, MatchesReference) {
  EmulatedRunner runner(/*seed=*/GetParam().seed);
  checkAttention(runner, GetParam());
}

std::vector<AttentionCase> cases() { return attentionSweep(/*withSeeds=*/true); }

INSTANTIATE_TEST_SUITE_P(
    Sweep, EmulatedAttention, ::testing::ValuesIn(cases()),
    [](const ::testing::TestParamInfo<AttentionCase> &info) {
      return caseName(info.param) +
             (info.param.seed != 7 ? "_seed" + std::to_string(info.param.seed)
                                   : "");
    });

// The long case of the sweep (Sq = Skv = 1023 crosses 16 key tiles and 8
// row blocks); one head, so it stays a few seconds.
TEST(EmulatedAttentionLong, Prefill1023) {
  EmulatedRunner runner;
  checkAttention(runner, {1, 1023, 1023, 1, 1, 64, 64, true});
}

TEST(EmulatedAttentionLong, Decode1023) {
  EmulatedRunner runner;
  AttentionCase c{1, 1, 1023, 4, 1, 128, 128, true};
  c.decode = true;
  checkAttention(runner, c);
  EXPECT_GT(runner.lastPlan.splits, 1) << "the heuristic should split 16 "
                                          "tiles of one block";
}

// Each variant the planner can pick is reached by the sweep above.
TEST(EmulatedAttentionPlan, VariantsAndSplits) {
  using host::AttentionMode;
  using host::FlashKernel;
  host::AttentionProblem p;
  p.batch = 16;
  p.sq = 1;
  p.hq = 32;
  p.hkv = 8;
  p.dqk = p.dv = 128;
  p.skv = 8192;
  p.scale = 0.088;
  host::AttentionPlan plan;
  ASSERT_EQ(host::planAttention("t", p, AttentionMode::Decode, 0, 132, plan),
            ATTN_OK);
  EXPECT_EQ(plan.kernel, FlashKernel::Decode128);
  EXPECT_EQ(plan.pack, 4);
  EXPECT_EQ(plan.gridX, 16 * 8);
  // 128 blocks for 132 SMs: split until there are two waves.
  EXPECT_GE(plan.gridX * plan.splits, 2 * 132);
  EXPECT_GT(plan.workspaceBytes, 0u);

  ASSERT_EQ(host::planAttention("t", p, AttentionMode::Prefill, 0, 132, plan),
            ATTN_OK);
  EXPECT_EQ(plan.kernel, FlashKernel::Prefill128);
  EXPECT_EQ(plan.splits, 1);
  EXPECT_EQ(plan.workspaceBytes, 0u);

  p.hq = 128;
  p.hkv = 1;
  p.dqk = 576;
  p.dv = 512;
  p.vPrefixOfK = true;
  ASSERT_EQ(host::planAttention("t", p, AttentionMode::Decode, 0, 132, plan),
            ATTN_OK);
  EXPECT_EQ(plan.kernel, FlashKernel::Mla32);
  EXPECT_EQ(plan.rowBlocks, 4);
}

} // namespace

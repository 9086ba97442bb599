//===- GpuAttentionTest.cpp - attention kernels on a device ---------------===//
//
// attn_cuda_attention and attn_cuda_decode_attention against the fp64
// reference with FlashAttention's bound (CudaTestUtil.h): the emulator's
// sweep plus the sizes only a GPU runs in reasonable time (1023 tokens,
// long decode caches, 128 MLA heads). Outputs start poisoned (NaN) on the
// device, inputs are fresh random values, and each case runs twice and must
// give identical bits. Skips without a usable GPU.
//
//===----------------------------------------------------------------------===//

#include "GpuTestUtil.h"

using namespace attenuate::cuda::test;

namespace {

class GpuAttention : public GpuTest,
                     public ::testing::WithParamInterface<AttentionCase>,
                     public AttentionRunner {
public:
  int run(const AttentionCase &c, LpTensor &q, LpTensor &k, LpTensor &v,
          const attn_cuda_tensor &vView, LpTensor &o, double scale) override {
    upload(q);
    upload(k);
    if (&v != &k)
      upload(v);
    upload(o);
    attn_cuda_tensor kv = k.hostView();
    kv.sizes[1] = c.skv;
    const attn_cuda_tensor qd = onDevice(q, q.hostView()),
                           kd = onDevice(k, kv), vd = onDevice(v, vView),
                           od = onDevice(o, o.hostView());
    int rc;
    if (c.decode) {
      // The caller-provided workspace path when splits are forced, the
      // context's scratch otherwise.
      void *workspace = nullptr;
      size_t bytes = 0;
      if (c.splits > 0) {
        EXPECT_EQ(attn_cuda_decode_workspace_size(ctx, &qd, &kd, &vd,
                                                  c.splits, &bytes),
                  ATTN_OK)
            << attn_cuda_last_error();
        if (bytes > 0)
          EXPECT_EQ(cudaMalloc(&workspace, bytes), cudaSuccess);
      }
      rc = attn_cuda_decode_attention(ctx, &qd, &kd, &vd, scale, c.causal,
                                      &od, c.splits, workspace, bytes,
                                      stream);
      if (workspace) {
        EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
        cudaFree(workspace);
      }
    } else {
      rc = attn_cuda_attention(ctx, &qd, &kd, &vd, scale, c.causal, &od,
                               stream);
    }
    if (rc != ATTN_OK)
      return rc;
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess)
        << "the kernel faulted";
    download(o);
    return ATTN_OK;
  }
};

TEST_P(GpuAttention, MatchesReference) { checkAttention(*this, GetParam()); }

std::vector<AttentionCase> gpuCases() {
  std::vector<AttentionCase> all = attentionSweep(/*withSeeds=*/false);
  auto decode = [](AttentionCase c, int splits) {
    c.decode = true;
    c.splits = splits;
    return c;
  };
  std::vector<AttentionCase> large = {
      {1, 1023, 1023, 4, 2, 128, 128, true},
      {1, 1023, 1023, 2, 2, 64, 64, false},
      {2, 1023, 1023, 2, 1, 256, 256, true},
      {1, 513, 1023, 4, 4, 96, 96, true},
      decode({4, 1, 4097, 32, 8, 128, 128, true}, 0),
      decode({2, 1, 8191, 8, 1, 64, 64, true}, 0),
      decode({2, 4, 2049, 16, 2, 128, 128, true}, 0),
  };
  AttentionCase mla128 = decode({2, 1, 2049, 128, 1, 576, 512, true}, 0);
  mla128.mla = true;
  large.push_back(mla128);
  AttentionCase mla16 = decode({4, 1, 4095, 16, 1, 576, 512, true}, 0);
  mla16.mla = true;
  large.push_back(mla16);
  for (const AttentionCase &c : large) {
    all.push_back(withDtype(c, ATTN_DTYPE_BF16));
    all.push_back(withDtype(c, ATTN_DTYPE_F16));
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Sweep, GpuAttention, ::testing::ValuesIn(gpuCases()),
                         [](const ::testing::TestParamInfo<AttentionCase> &i) {
                           return caseName(i.param);
                         });

// The decode heuristic's split count changes nothing but speed.
class GpuDecode : public GpuTest {};

TEST_F(GpuDecode, SplitsAgree) {
  std::mt19937 rng(11);
  const int64_t B = 2, S = 3000, Hq = 16, Hkv = 4, D = 128;
  LpTensor q({B, 1, Hq, D}, ATTN_DTYPE_BF16), k({B, S, Hkv, D}, ATTN_DTYPE_BF16),
      v({B, S, Hkv, D}, ATTN_DTYPE_BF16), o({B, 1, Hq, D}, ATTN_DTYPE_BF16);
  q.fillUniform(rng, -1, 1);
  k.fillUniform(rng, -1, 1);
  v.fillUniform(rng, -1, 1);
  upload(q);
  upload(k);
  upload(v);
  std::vector<std::vector<double>> outs;
  for (int splits : {1, 2, 7, 40}) {
    o.poison();
    upload(o);
    attn_cuda_tensor qd = onDevice(q, q.hostView()), kd = onDevice(k, k.hostView()),
                     vd = onDevice(v, v.hostView()), od = onDevice(o, o.hostView());
    ASSERT_EQ(attn_cuda_decode_attention(ctx, &qd, &kd, &vd, 0.088, 1, &od,
                                         splits, nullptr, 0, stream),
              ATTN_OK)
        << attn_cuda_last_error();
    download(o);
    outs.push_back(o.dense());
  }
  for (size_t s = 1; s < outs.size(); ++s)
    for (size_t i = 0; i < outs[0].size(); ++i)
      ASSERT_NEAR(outs[s][i], outs[0][i], 1.5 * spacing(1.0, ATTN_DTYPE_BF16))
          << "split variant " << s << " element " << i;
}

} // namespace

//===- AbiTest.cpp - bad arguments at the C ABI, with or without a GPU ----===//
//
// Every entry checks its arguments on the host before touching the device
// (tensors first, then the context), so these run on machines without a GPU:
// the pointers are placeholders that are never dereferenced. Each bad input
// gives its error code and a message naming the operand and the rule.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Runtime/attn_runtime_cuda.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace {

void *fakePointer(uintptr_t offsetBytes = 0) {
  return reinterpret_cast<void *>(uintptr_t{1} << 20 | offsetBytes);
}

attn_cuda_tensor tensor(std::initializer_list<int64_t> sizes,
                        int32_t dtype = ATTN_DTYPE_BF16,
                        void *data = fakePointer()) {
  attn_cuda_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(sizes.size());
  int d = 0;
  for (int64_t s : sizes)
    t.sizes[d++] = s;
  int64_t stride = 1;
  for (int i = t.rank - 1; i >= 0; --i) {
    t.strides[i] = stride;
    stride *= t.sizes[i];
  }
  return t;
}

/// Expects `rc` with a message that contains every fragment.
#define EXPECT_ERROR(call, code, ...)                                        \
  do {                                                                       \
    int rc_ = (call);                                                        \
    EXPECT_EQ(rc_, code) << #call << ": " << attn_cuda_last_error();         \
    std::string msg_ = attn_cuda_last_error();                               \
    for (const char *f_ : {__VA_ARGS__})                                     \
      EXPECT_NE(msg_.find(f_), std::string::npos)                            \
          << "message \"" << msg_ << "\" lacks \"" << f_ << "\"";            \
  } while (0)

struct Attention {
  attn_cuda_tensor q = tensor({2, 5, 8, 64}), k = tensor({2, 7, 2, 64}),
                   v = tensor({2, 7, 2, 64}), o = tensor({2, 5, 8, 64});
  int run(double scale = 0.125) {
    return attn_cuda_attention(nullptr, &q, &k, &v, scale, 1, &o, nullptr);
  }
};

TEST(CudaAbi, ReportsAvailability) {
  const int available = attn_cuda_available();
  if (!available) {
    // The driver's (or the device's) reason, for the test log.
    EXPECT_STRNE(attn_cuda_last_error(), "");
    std::printf("attn_cuda_available() = 0: %s\n", attn_cuda_last_error());
  } else {
    EXPECT_STREQ(attn_cuda_last_error(), "");
  }
}

TEST(CudaAbi, AttentionChecksTensorsBeforeTheContext) {
  Attention a;
  // Valid tensors: only the null context is left to complain about.
  EXPECT_ERROR(a.run(), ATTN_ERR_NULL, "attn_cuda_attention", "context");
}

TEST(CudaAbi, AttentionNullPointers) {
  Attention a;
  EXPECT_ERROR(attn_cuda_attention(nullptr, nullptr, &a.k, &a.v, 1, 0, &a.o,
                                   nullptr),
               ATTN_ERR_NULL, "q is a null tensor pointer");
  a.v.data = nullptr;
  EXPECT_ERROR(a.run(), ATTN_ERR_NULL, "v", "null data pointer");
}

TEST(CudaAbi, AttentionDtypes) {
  Attention a;
  a.q.dtype = ATTN_DTYPE_F32;
  EXPECT_ERROR(a.run(), ATTN_ERR_UNSUPPORTED, "q is f32", "bf16 or f16");
  a.q.dtype = ATTN_DTYPE_F16;
  EXPECT_ERROR(a.run(), ATTN_ERR_UNSUPPORTED, "k is bf16 but q is f16");
  a.q.dtype = 7;
  EXPECT_ERROR(a.run(), ATTN_ERR_UNSUPPORTED, "dtype code 7");
}

TEST(CudaAbi, AttentionHeadDims) {
  Attention a;
  a.q.sizes[3] = a.k.sizes[3] = 100;
  a.q.strides[2] = a.k.strides[2] = 104; // keep the stride rule satisfied
  EXPECT_ERROR(a.run(), ATTN_ERR_UNSUPPORTED, "Dqk = 100",
               "multiple of 8");
  Attention big;
  big.q = tensor({2, 5, 8, 320});
  big.k = tensor({2, 7, 2, 320});
  EXPECT_ERROR(big.run(), ATTN_ERR_UNSUPPORTED, "above 256", "absorbed");
  big.q = tensor({2, 5, 8, 640});
  big.k = tensor({2, 7, 2, 640});
  big.v = big.k;
  big.v.sizes[3] = 512;
  big.o = tensor({2, 5, 8, 512});
  EXPECT_ERROR(big.run(), ATTN_ERR_UNSUPPORTED, "exceed the largest kernel");
  // MLA's absorbed form is accepted: v a prefix view of k.
  Attention mla;
  mla.q = tensor({2, 1, 16, 576});
  mla.k = tensor({2, 9, 1, 576});
  mla.v = mla.k;
  mla.v.sizes[3] = 512;
  mla.o = tensor({2, 1, 16, 512});
  EXPECT_ERROR(mla.run(), ATTN_ERR_NULL, "context");
}

TEST(CudaAbi, AttentionShapes) {
  Attention a;
  a.k.sizes[2] = a.v.sizes[2] = 3;
  EXPECT_ERROR(a.run(), ATTN_ERR_SHAPE, "query heads (8)", "kv heads (3)");
  Attention b;
  b.o.sizes[0] = 3;
  EXPECT_ERROR(b.run(), ATTN_ERR_SHAPE, "batch sizes differ");
  Attention c;
  c.v.sizes[1] = 6;
  EXPECT_ERROR(c.run(), ATTN_ERR_SHAPE, "k and v differ");
  Attention d;
  d.o.sizes[3] = 32;
  EXPECT_ERROR(d.run(), ATTN_ERR_SHAPE, "o is not [B, Sq, Hq, Dv]");
  Attention e;
  e.q.rank = 3;
  EXPECT_ERROR(e.run(), ATTN_ERR_SHAPE, "q has rank 3, expected 4");
  Attention f;
  EXPECT_ERROR(f.run(std::nan("")), ATTN_ERR_SHAPE, "scale");
  Attention g;
  g.q.sizes[1] = -1;
  EXPECT_ERROR(g.run(), ATTN_ERR_SHAPE, "negative size");
}

TEST(CudaAbi, AttentionLayouts) {
  Attention a;
  a.k.data = fakePointer(2);
  EXPECT_ERROR(a.run(), ATTN_ERR_UNSUPPORTED, "k", "16-byte aligned");
  Attention b;
  b.q.strides[3] = 2;
  EXPECT_ERROR(b.run(), ATTN_ERR_UNSUPPORTED, "q", "contiguous");
  Attention c;
  c.v.strides[2] = 68;
  c.v.strides[1] = 2 * 68;
  c.v.strides[0] = 7 * 2 * 68;
  EXPECT_ERROR(c.run(), ATTN_ERR_UNSUPPORTED, "not a multiple of 8");
  // Empty problems need no data and succeed once a context is given; the
  // tensors themselves are fine.
  Attention empty;
  empty.q = tensor({2, 0, 8, 64}, ATTN_DTYPE_BF16, nullptr);
  empty.o = tensor({2, 0, 8, 64}, ATTN_DTYPE_BF16, nullptr);
  EXPECT_ERROR(empty.run(), ATTN_ERR_NULL, "context");
}

TEST(CudaAbi, DecodeWorkspaceAndSplits) {
  Attention a;
  size_t bytes = 1;
  EXPECT_ERROR(attn_cuda_decode_workspace_size(nullptr, &a.q, &a.k, &a.v, 0,
                                               &bytes),
               ATTN_ERR_NULL, "context");
  // Forced splits need no device: 3 splits of 2·8·5 rows of 64 floats, then
  // the (max, sum) pairs at a 256-byte boundary.
  ASSERT_EQ(attn_cuda_decode_workspace_size(nullptr, &a.q, &a.k, &a.v, 1,
                                            &bytes),
            ATTN_OK)
      << attn_cuda_last_error();
  EXPECT_EQ(bytes, 0u);
  Attention longer;
  longer.k = tensor({2, 700, 2, 64});
  longer.v = tensor({2, 700, 2, 64});
  ASSERT_EQ(attn_cuda_decode_workspace_size(nullptr, &longer.q, &longer.k,
                                            &longer.v, 3, &bytes),
            ATTN_OK)
      << attn_cuda_last_error();
  const size_t rows = 2 * 8 * 5, partial = 3 * rows * 64 * 4;
  EXPECT_EQ(bytes, (partial + 255) / 256 * 256 + 3 * rows * 2 * 4);
  EXPECT_ERROR(attn_cuda_decode_workspace_size(nullptr, &a.q, &a.k, &a.v, 1,
                                               nullptr),
               ATTN_ERR_NULL, "bytes is null");
  EXPECT_ERROR(attn_cuda_decode_attention(nullptr, &a.q, &a.k, &a.v, 0.1, 1,
                                          &a.o, -1, nullptr, 0, nullptr),
               ATTN_ERR_SHAPE, "num_splits");
}

TEST(CudaAbi, Rope) {
  attn_cuda_tensor x = tensor({1, 4, 2, 64}), y = tensor({1, 4, 2, 64});
  attn_rope_config cfg{};
  cfg.theta = 10000;
  cfg.rotary_dim = 63;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, &cfg, &y, nullptr),
               ATTN_ERR_UNSUPPORTED, "rotary_dim 63");
  cfg.rotary_dim = 66;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, &cfg, &y, nullptr),
               ATTN_ERR_UNSUPPORTED, "rotary_dim 66", "head dim (64)");
  cfg.rotary_dim = 64;
  cfg.theta = 0;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, &cfg, &y, nullptr),
               ATTN_ERR_SHAPE, "theta");
  cfg.theta = 10000;
  const int64_t freqs[32] = {40};
  cfg.frequencies = freqs;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, &cfg, &y, nullptr),
               ATTN_ERR_SHAPE, "frequencies[0] = 40");
  cfg.frequencies = nullptr;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, nullptr, &y, nullptr),
               ATTN_ERR_NULL, "rope config is null");
  y.sizes[1] = 5;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, &cfg, &y, nullptr),
               ATTN_ERR_SHAPE, "differ in shape");
  y.sizes[1] = 4;
  EXPECT_ERROR(attn_cuda_rope(nullptr, &x, nullptr, 0, &cfg, &y, nullptr),
               ATTN_ERR_NULL, "context");
}

TEST(CudaAbi, CacheBounds) {
  attn_cuda_tensor x = tensor({2, 3, 2, 64}), cache = tensor({2, 8, 2, 64});
  attn_rope_config cfg{};
  cfg.theta = 10000;
  cfg.rotary_dim = 64;
  EXPECT_ERROR(attn_cuda_rope_cache_append(nullptr, &x, nullptr, 0, &cfg,
                                           &cache, 6, nullptr),
               ATTN_ERR_SHAPE, "writing 3 tokens at position 6",
               "capacity 8");
  EXPECT_ERROR(
      attn_cuda_cache_append(nullptr, &x, &cache, -1, nullptr),
      ATTN_ERR_SHAPE, "position -1");
  attn_cuda_tensor other = tensor({2, 8, 4, 64});
  EXPECT_ERROR(attn_cuda_cache_append(nullptr, &x, &other, 0, nullptr),
               ATTN_ERR_SHAPE, "differ in batch, heads or head dim");
  EXPECT_ERROR(attn_cuda_cache_append(nullptr, &x, &cache, 5, nullptr),
               ATTN_ERR_NULL, "context");
}

TEST(CudaAbi, RmsNormAndSiluMul) {
  attn_cuda_tensor x = tensor({3, 64}), w = tensor({32}), y = tensor({3, 64});
  EXPECT_ERROR(attn_cuda_rms_norm(nullptr, &x, &w, 1e-5, &y, nullptr),
               ATTN_ERR_SHAPE, "w [D]");
  w = tensor({64});
  EXPECT_ERROR(attn_cuda_rms_norm(nullptr, &x, &w, -1, &y, nullptr),
               ATTN_ERR_SHAPE, "epsilon");
  w.dtype = ATTN_DTYPE_F16;
  EXPECT_ERROR(attn_cuda_rms_norm(nullptr, &x, &w, 1e-5, &y, nullptr),
               ATTN_ERR_UNSUPPORTED, "w is f16 but x is bf16");
  attn_cuda_tensor g = tensor({3, 10}), u = tensor({3, 11}), o = tensor({3, 10});
  EXPECT_ERROR(attn_cuda_silu_mul(nullptr, &g, &u, &o, nullptr),
               ATTN_ERR_SHAPE, "differ in shape");
}

TEST(CudaAbi, LinearAndMlp) {
  attn_cuda_tensor x = tensor({4, 3, 32}), w = tensor({16, 31}),
                   y = tensor({4, 3, 16});
  EXPECT_ERROR(attn_cuda_linear(nullptr, &x, &w, nullptr, &y, nullptr),
               ATTN_ERR_SHAPE, "w [out, in]");
  w = tensor({16, 32});
  attn_cuda_tensor b = tensor({15});
  EXPECT_ERROR(attn_cuda_linear(nullptr, &x, &w, &b, &y, nullptr),
               ATTN_ERR_SHAPE, "b [out]");
  // x rows that cannot be flattened to one stride (a transposed batch).
  attn_cuda_tensor xt = x;
  xt.strides[0] = 32;
  xt.strides[1] = 4 * 32;
  EXPECT_ERROR(attn_cuda_linear(nullptr, &xt, &w, nullptr, &y, nullptr),
               ATTN_ERR_UNSUPPORTED, "flatten to rows");
  EXPECT_ERROR(attn_cuda_linear(nullptr, &x, &w, nullptr, &y, nullptr),
               ATTN_ERR_NULL, "context");
  attn_cuda_tensor gate = tensor({48, 32}), up = tensor({48, 32}),
                   down = tensor({32, 47}), out = tensor({4, 3, 32});
  EXPECT_ERROR(attn_cuda_mlp(nullptr, &x, &gate, &up, &down, &out, nullptr),
               ATTN_ERR_SHAPE, "down [d, i]");
  down = tensor({32, 48});
  EXPECT_ERROR(attn_cuda_mlp(nullptr, &x, &gate, &up, &down, &out, nullptr),
               ATTN_ERR_NULL, "context");
}

TEST(CudaAbi, Contexts) {
  EXPECT_ERROR(attn_cuda_context_create(0, nullptr), ATTN_ERR_NULL,
               "out is null");
  attn_cuda_context *ctx = nullptr;
  int rc = attn_cuda_context_create(-1, &ctx);
  EXPECT_NE(rc, ATTN_OK);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_STRNE(attn_cuda_last_error(), "");
  attn_cuda_context_destroy(nullptr); // a no-op
}

} // namespace

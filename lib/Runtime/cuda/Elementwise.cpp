//===- Elementwise.cpp - entries for RoPE, cache appends, RMSNorm, SiLU·mul ===//

#include "Context.h"

using namespace attenuate::cuda::host;
using attenuate::cuda::RmsNormParams;
using attenuate::cuda::RopeParams;
using attenuate::cuda::SiluMulParams;

namespace {

int launchRopeEntry(const char *op, attn_cuda_context *ctx, int32_t dtype,
                    const RopeParams &p, void *stream) {
  std::unique_ptr<DeviceGuard> guard;
  if (int rc = enterContext(op, ctx, guard))
    return rc;
  if (cudaError_t e = launchRope(dtype, p, static_cast<cudaStream_t>(stream)))
    return cudaFail(op, "launching the kernel", e);
  return ATTN_OK;
}

} // namespace

extern "C" int attn_cuda_rope(attn_cuda_context *ctx,
                              const attn_cuda_tensor *x,
                              const int64_t *positions,
                              int64_t position_offset,
                              const attn_rope_config *rope,
                              const attn_cuda_tensor *y, void *stream) {
  const char *op = "attn_cuda_rope";
  return guarded(op, [&]() -> int {
    RopeParams p;
    if (int rc = planRope(op, x, positions, position_offset, rope, y, p))
      return rc;
    return launchRopeEntry(op, ctx, x->dtype, p, stream);
  });
}

extern "C" int attn_cuda_rope_cache_append(
    attn_cuda_context *ctx, const attn_cuda_tensor *x,
    const int64_t *positions, int64_t position_offset,
    const attn_rope_config *rope, const attn_cuda_tensor *cache,
    int64_t cache_pos, void *stream) {
  const char *op = "attn_cuda_rope_cache_append";
  return guarded(op, [&]() -> int {
    RopeParams p;
    if (int rc = planRopeCacheAppend(op, x, positions, position_offset, rope,
                                     cache, cache_pos, p))
      return rc;
    return launchRopeEntry(op, ctx, x->dtype, p, stream);
  });
}

extern "C" int attn_cuda_cache_append(attn_cuda_context *ctx,
                                      const attn_cuda_tensor *x,
                                      const attn_cuda_tensor *cache,
                                      int64_t cache_pos, void *stream) {
  const char *op = "attn_cuda_cache_append";
  return guarded(op, [&]() -> int {
    RopeParams p;
    if (int rc = planCacheAppend(op, x, cache, cache_pos, p))
      return rc;
    return launchRopeEntry(op, ctx, x->dtype, p, stream);
  });
}

extern "C" int attn_cuda_rms_norm(attn_cuda_context *ctx,
                                  const attn_cuda_tensor *x,
                                  const attn_cuda_tensor *w, double eps,
                                  const attn_cuda_tensor *y, void *stream) {
  const char *op = "attn_cuda_rms_norm";
  return guarded(op, [&]() -> int {
    RmsNormParams p;
    if (int rc = planRmsNorm(op, x, w, eps, y, p))
      return rc;
    std::unique_ptr<DeviceGuard> guard;
    if (int rc = enterContext(op, ctx, guard))
      return rc;
    if (cudaError_t e =
            launchRmsNorm(x->dtype, p, static_cast<cudaStream_t>(stream)))
      return cudaFail(op, "launching the kernel", e);
    return ATTN_OK;
  });
}

extern "C" int attn_cuda_silu_mul(attn_cuda_context *ctx,
                                  const attn_cuda_tensor *gate,
                                  const attn_cuda_tensor *up,
                                  const attn_cuda_tensor *y, void *stream) {
  const char *op = "attn_cuda_silu_mul";
  return guarded(op, [&]() -> int {
    SiluMulParams p;
    if (int rc = planSiluMul(op, gate, up, y, p))
      return rc;
    std::unique_ptr<DeviceGuard> guard;
    if (int rc = enterContext(op, ctx, guard))
      return rc;
    if (cudaError_t e =
            launchSiluMul(gate->dtype, p, static_cast<cudaStream_t>(stream)))
      return cudaFail(op, "launching the kernel", e);
    return ATTN_OK;
  });
}

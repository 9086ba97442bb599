//===- Attention.cpp - attn_cuda_attention and the split-K decode ---------===//

#include "Context.h"

namespace attenuate::cuda::host {

namespace {

bool isPrefillKernel(FlashKernel k) {
  switch (k) {
  case FlashKernel::Prefill32:
  case FlashKernel::Prefill64:
  case FlashKernel::Prefill96:
  case FlashKernel::Prefill128:
  case FlashKernel::Prefill192:
  case FlashKernel::Prefill256:
    return true;
  default:
    return false;
  }
}

int run(const char *op, attn_cuda_context *ctx, const attn_cuda_tensor *q,
        const attn_cuda_tensor *k, const attn_cuda_tensor *v, double scale,
        int causal, const attn_cuda_tensor *o, AttentionMode mode,
        int numSplits, void *workspace, size_t workspaceBytes,
        void *streamHandle) {
  AttentionProblem problem;
  if (int rc = checkAttention(op, q, k, v, scale, causal, o, problem))
    return rc;
  if (numSplits < 0)
    return fail(ATTN_ERR_SHAPE, std::string(op) + ": num_splits " +
                                    std::to_string(numSplits) +
                                    " is negative");
  std::unique_ptr<DeviceGuard> guard;
  if (int rc = enterContext(op, ctx, guard))
    return rc;
  if (problem.batch == 0 || problem.sq == 0 || problem.hq == 0)
    return ATTN_OK;
  AttentionPlan plan;
  if (int rc = planAttention(op, problem, mode, numSplits, ctx->smCount, plan))
    return rc;
  auto stream = static_cast<cudaStream_t>(streamHandle);
  if (plan.workspaceBytes > 0) {
    if (workspace) {
      if (workspaceBytes < plan.workspaceBytes)
        return fail(ATTN_ERR_SHAPE,
                    std::string(op) + ": the workspace holds " +
                        std::to_string(workspaceBytes) + " bytes, " +
                        std::to_string(plan.workspaceBytes) +
                        " needed (attn_cuda_decode_workspace_size)");
      if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0)
        return fail(ATTN_ERR_UNSUPPORTED,
                    std::string(op) +
                        ": the workspace must be 256-byte aligned (as "
                        "cudaMalloc returns)");
    } else if (int rc = scratch(op, ctx, plan.workspaceBytes, stream,
                                workspace)) {
      return rc;
    }
  }
  const FlashParams params = makeFlashParams(problem, plan, workspace);
  cudaError_t e =
      isPrefillKernel(plan.kernel)
          ? launchFlashPrefill(plan.kernel, problem.dtype, params, plan.gridX,
                               plan.splits, stream)
          : launchFlashDecode(plan.kernel, problem.dtype, params, plan.gridX,
                              plan.splits, stream);
  if (e != cudaSuccess)
    return cudaFail(op, (std::string("launching flash kernel ") +
                         flashKernelName(plan.kernel))
                            .c_str(),
                    e);
  if (plan.splits > 1) {
    const CombineParams c = makeCombineParams(problem, plan, params);
    if (cudaError_t e2 = launchFlashCombine(
            problem.dtype, c, problem.batch * problem.hq * problem.sq, stream))
      return cudaFail(op, "launching the split-K combine kernel", e2);
  }
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::cuda::host

using namespace attenuate::cuda::host;

extern "C" int attn_cuda_attention(attn_cuda_context *ctx,
                                   const attn_cuda_tensor *q,
                                   const attn_cuda_tensor *k,
                                   const attn_cuda_tensor *v, double scale,
                                   int causal, const attn_cuda_tensor *o,
                                   void *stream) {
  const char *op = "attn_cuda_attention";
  return guarded(op, [&] {
    return run(op, ctx, q, k, v, scale, causal, o, AttentionMode::Prefill, 1,
               nullptr, 0, stream);
  });
}

extern "C" int attn_cuda_decode_workspace_size(attn_cuda_context *ctx,
                                               const attn_cuda_tensor *q,
                                               const attn_cuda_tensor *k,
                                               const attn_cuda_tensor *v,
                                               int num_splits, size_t *bytes) {
  const char *op = "attn_cuda_decode_workspace_size";
  return guarded(op, [&]() -> int {
    if (!bytes)
      return fail(ATTN_ERR_NULL, std::string(op) + ": bytes is null");
    *bytes = 0;
    if (!q)
      return fail(ATTN_ERR_NULL, std::string(op) + ": q is a null tensor pointer");
    // o only contributes its shape, which must equal [B, Sq, Hq, Dv].
    attn_cuda_tensor o = *q;
    if (v && v->rank == 4 && q->rank == 4) {
      o.sizes[3] = v->sizes[3];
      o.strides[2] = ((v->sizes[3] + 7) / 8) * 8;
      o.strides[1] = o.strides[2] * q->sizes[2];
      o.strides[0] = o.strides[1] * q->sizes[1];
      o.strides[3] = 1;
    }
    AttentionProblem problem;
    if (int rc = checkAttention(op, q, k, v, 1.0, 0, &o, problem))
      return rc;
    if (num_splits < 0)
      return fail(ATTN_ERR_SHAPE, std::string(op) + ": num_splits is negative");
    if (num_splits == 0 && !ctx)
      return fail(ATTN_ERR_NULL,
                  std::string(op) +
                      ": the context is null (needed for num_splits = 0)");
    if (problem.batch == 0 || problem.sq == 0 || problem.hq == 0)
      return ATTN_OK;
    AttentionPlan plan;
    if (int rc = planAttention(op, problem, AttentionMode::Decode, num_splits,
                               ctx ? ctx->smCount : 1, plan))
      return rc;
    *bytes = plan.workspaceBytes;
    return ATTN_OK;
  });
}

extern "C" int attn_cuda_decode_attention(
    attn_cuda_context *ctx, const attn_cuda_tensor *q,
    const attn_cuda_tensor *k, const attn_cuda_tensor *v, double scale,
    int causal, const attn_cuda_tensor *o, int num_splits, void *workspace,
    size_t workspace_bytes, void *stream) {
  const char *op = "attn_cuda_decode_attention";
  return guarded(op, [&] {
    return run(op, ctx, q, k, v, scale, causal, o, AttentionMode::Decode,
               num_splits, workspace, workspace_bytes, stream);
  });
}

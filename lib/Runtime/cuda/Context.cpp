//===- Context.cpp - availability, contexts, scratch memory ---------------===//

#include "Context.h"

namespace attenuate::cuda::host {

namespace {

/// cuBLASLt's recommended workspace on Hopper.
constexpr size_t kLtWorkspaceBytes = 32u << 20;

std::string cudaText(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

/// The reason device `device` cannot run this library's code, or "".
std::string unusableReason(int device) {
  cudaDeviceProp prop;
  cudaError_t e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess)
    return "cudaGetDeviceProperties(" + std::to_string(device) +
           ") failed: " + cudaText(e);
  // The library carries sm_90 code and compute_90 PTX: Hopper and newer.
  if (prop.major < 9)
    return "device " + std::to_string(device) + " (" + prop.name +
           ") has compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) +
           "; this build carries sm_90 code only";
  return "";
}

} // namespace

GemmPlan::~GemmPlan() {
  if (a)
    cublasLtMatrixLayoutDestroy(a);
  if (b)
    cublasLtMatrixLayoutDestroy(b);
  if (c)
    cublasLtMatrixLayoutDestroy(c);
  if (op)
    cublasLtMatmulDescDestroy(op);
}

DeviceGuard::DeviceGuard(int device) {
  status_ = cudaGetDevice(&previous_);
  if (status_ == cudaSuccess && previous_ != device) {
    status_ = cudaSetDevice(device);
    changed_ = status_ == cudaSuccess;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_)
    cudaSetDevice(previous_);
}

int cudaFail(const char *op, const char *what, cudaError_t e) {
  return fail(ATTN_ERR_CUDA,
              std::string(op) + ": " + what + " failed: " + cudaText(e));
}

int cublasFail(const char *op, const char *what, cublasStatus_t s) {
  return fail(ATTN_ERR_CUDA, std::string(op) + ": " + what +
                                 " failed: cuBLAS status " +
                                 std::to_string(static_cast<int>(s)));
}

int enterContext(const char *op, attn_cuda_context *ctx,
                 std::unique_ptr<DeviceGuard> &guard) {
  if (!ctx)
    return fail(ATTN_ERR_NULL, std::string(op) + ": the context is null");
  guard = std::make_unique<DeviceGuard>(ctx->device);
  if (guard->status() != cudaSuccess)
    return cudaFail(op, "selecting the context's device", guard->status());
  return ATTN_OK;
}

int scratch(const char *op, attn_cuda_context *ctx, size_t bytes,
            cudaStream_t stream, void *&out) {
  if (bytes <= ctx->scratchBytes) {
    out = ctx->scratch;
    return ATTN_OK;
  }
  if (ctx->scratch) {
    // Work queued earlier on this stream may still use the old buffer.
    if (cudaError_t e = cudaStreamSynchronize(stream))
      return cudaFail(op, "waiting to grow the scratch buffer", e);
    cudaFree(ctx->scratch);
    ctx->scratch = nullptr;
    ctx->scratchBytes = 0;
  }
  // Grow geometrically so that a decode loop with a growing cache
  // reallocates O(log n) times.
  size_t size = std::max<size_t>(bytes, 2 * ctx->scratchBytes);
  if (cudaError_t e = cudaMalloc(&ctx->scratch, size))
    return cudaFail(op, "allocating scratch memory", e);
  ctx->scratchBytes = size;
  out = ctx->scratch;
  return ATTN_OK;
}

} // namespace attenuate::cuda::host

using namespace attenuate::cuda::host;

extern "C" int attn_cuda_available(void) {
  clearError();
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    fail(ATTN_ERR_CUDA, "no usable CUDA driver or device: " + cudaText(e));
    return 0;
  }
  if (count == 0) {
    fail(ATTN_ERR_CUDA, "the CUDA driver reports no devices");
    return 0;
  }
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    device = 0;
  std::string reason = unusableReason(device);
  if (!reason.empty()) {
    fail(ATTN_ERR_UNSUPPORTED, reason);
    return 0;
  }
  return 1;
}

extern "C" int attn_cuda_context_create(int device, attn_cuda_context **out) {
  return guarded("attn_cuda_context_create", [&]() -> int {
    const char *op = "attn_cuda_context_create";
    if (!out)
      return fail(ATTN_ERR_NULL, std::string(op) + ": out is null");
    *out = nullptr;
    int count = 0;
    if (cudaError_t e = cudaGetDeviceCount(&count)) {
      cudaGetLastError();
      return cudaFail(op, "cudaGetDeviceCount", e);
    }
    if (device < 0 || device >= count)
      return fail(ATTN_ERR_UNSUPPORTED,
                  std::string(op) + ": device " + std::to_string(device) +
                      " does not exist (" + std::to_string(count) +
                      " devices)");
    std::string reason = unusableReason(device);
    if (!reason.empty())
      return fail(ATTN_ERR_UNSUPPORTED, std::string(op) + ": " + reason);
    DeviceGuard guard(device);
    if (guard.status() != cudaSuccess)
      return cudaFail(op, "cudaSetDevice", guard.status());
    auto ctx = std::make_unique<attn_cuda_context>();
    ctx->device = device;
    if (cudaError_t e = cudaDeviceGetAttribute(
            &ctx->smCount, cudaDevAttrMultiProcessorCount, device))
      return cudaFail(op, "querying the SM count", e);
    if (cublasStatus_t s = cublasLtCreate(&ctx->lt))
      return cublasFail(op, "cublasLtCreate", s);
    if (cudaError_t e = cudaMalloc(&ctx->ltWorkspace, kLtWorkspaceBytes)) {
      cublasLtDestroy(ctx->lt);
      return cudaFail(op, "allocating the cuBLASLt workspace", e);
    }
    ctx->ltWorkspaceBytes = kLtWorkspaceBytes;
    *out = ctx.release();
    return ATTN_OK;
  });
}

extern "C" void attn_cuda_context_destroy(attn_cuda_context *ctx) {
  if (!ctx)
    return;
  {
    DeviceGuard guard(ctx->device);
    // cudaFree waits for the device, so no kernel still uses these.
    ctx->gemmPlans.clear();
    if (ctx->scratch)
      cudaFree(ctx->scratch);
    if (ctx->ltWorkspace)
      cudaFree(ctx->ltWorkspace);
    if (ctx->lt)
      cublasLtDestroy(ctx->lt);
  }
  delete ctx;
}

//===- Context.h - the context object and CUDA helpers ----------*- C++ -*-===//
//
// Host code that talks to the CUDA runtime: the attn_cuda_context layout,
// a device guard, error formatting, and the launchers the .cu files define.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_CONTEXT_H
#define ATTENUATE_LIB_RUNTIME_CUDA_CONTEXT_H

#include "Detail.h"
#include "ElementwiseParams.h"
#include "FlashConfigs.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <tuple>

#pragma GCC visibility push(hidden)

namespace attenuate::cuda::host {

/// A cuBLASLt plan for one GEMM shape, found once by the heuristic.
struct GemmPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~GemmPlan();
};
/// dtype, m, n, k, lda, ldb, ldc, bias.
using GemmKey =
    std::tuple<int32_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
               bool>;

} // namespace attenuate::cuda::host

struct attn_cuda_context {
  int device = 0;
  int smCount = 0;
  cublasLtHandle_t lt = nullptr;
  void *ltWorkspace = nullptr;
  size_t ltWorkspaceBytes = 0;
  /// Decode partials and MLP intermediates, grown on demand.
  void *scratch = nullptr;
  size_t scratchBytes = 0;
  std::map<attenuate::cuda::host::GemmKey,
           std::unique_ptr<attenuate::cuda::host::GemmPlan>>
      gemmPlans;
};

namespace attenuate::cuda::host {

/// Makes `device` current for the scope, restoring the caller's device.
class DeviceGuard {
public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard &) = delete;
  DeviceGuard &operator=(const DeviceGuard &) = delete;
  cudaError_t status() const { return status_; }

private:
  int previous_ = -1;
  bool changed_ = false;
  cudaError_t status_ = cudaSuccess;
};

/// "op: what: cudaErrorX: text" as ATTN_ERR_CUDA.
int cudaFail(const char *op, const char *what, cudaError_t e);
int cublasFail(const char *op, const char *what, cublasStatus_t s);

/// Checks that ctx is non-null and makes its device current.
int enterContext(const char *op, attn_cuda_context *ctx,
                 std::unique_ptr<DeviceGuard> &guard);

/// At least `bytes` of the context's scratch, reallocating (after the
/// stream's earlier work, which may use the old buffer, has finished).
int scratch(const char *op, attn_cuda_context *ctx, size_t bytes,
            cudaStream_t stream, void *&out);

// Launchers defined by the .cu files; they return cudaGetLastError().
cudaError_t launchFlashPrefill(FlashKernel kernel, int32_t dtype,
                               const FlashParams &p, int gridX, int splits,
                               cudaStream_t stream);
cudaError_t launchFlashDecode(FlashKernel kernel, int32_t dtype,
                              const FlashParams &p, int gridX, int splits,
                              cudaStream_t stream);
cudaError_t launchFlashCombine(int32_t dtype, const CombineParams &p,
                               int64_t rows, cudaStream_t stream);
cudaError_t launchRope(int32_t dtype, const RopeParams &p,
                       cudaStream_t stream);
cudaError_t launchRmsNorm(int32_t dtype, const RmsNormParams &p,
                          cudaStream_t stream);
cudaError_t launchSiluMul(int32_t dtype, const SiluMulParams &p,
                          cudaStream_t stream);

} // namespace attenuate::cuda::host

#pragma GCC visibility pop

#endif // ATTENUATE_LIB_RUNTIME_CUDA_CONTEXT_H

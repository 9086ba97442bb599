//===- Elementwise.cu - launchers of RoPE, RMSNorm and SiLU·mul -----------===//

#include "Context.h"
#include "Elementwise.cuh"

namespace attenuate::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T> __global__ void ropeKernel(const RopeParams p) {
  ropeBody<T>(p);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) rmsNormKernel(const RmsNormParams p) {
  __shared__ float partial[kThreads / 32];
  rmsNormBody<T>(p, partial);
}

template <typename T> __global__ void siluMulKernel(const SiluMulParams p) {
  siluMulBody<T>(p);
}

dim3 blocksFor(int64_t items) {
  return dim3(static_cast<unsigned>((items + kThreads - 1) / kThreads));
}

} // namespace

namespace host {

cudaError_t launchRope(int32_t dtype, const RopeParams &p,
                       cudaStream_t stream) {
  const int64_t items = p.batch * p.seq * p.heads * (p.dim - p.rotaryDim / 2);
  if (items == 0)
    return cudaSuccess;
  if (dtype == ATTN_DTYPE_BF16)
    ropeKernel<__nv_bfloat16><<<blocksFor(items), kThreads, 0, stream>>>(p);
  else
    ropeKernel<__half><<<blocksFor(items), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launchRmsNorm(int32_t dtype, const RmsNormParams &p,
                          cudaStream_t stream) {
  if (p.rows == 0)
    return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(p.rows));
  if (dtype == ATTN_DTYPE_BF16)
    rmsNormKernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(p);
  else
    rmsNormKernel<__half><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launchSiluMul(int32_t dtype, const SiluMulParams &p,
                          cudaStream_t stream) {
  const int64_t items = p.rows * p.cols;
  if (items == 0)
    return cudaSuccess;
  if (dtype == ATTN_DTYPE_BF16)
    siluMulKernel<__nv_bfloat16><<<blocksFor(items), kThreads, 0, stream>>>(p);
  else
    siluMulKernel<__half><<<blocksFor(items), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

} // namespace host

} // namespace attenuate::cuda

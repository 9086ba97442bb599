//===- CudaKernels.cu - the plan steps attn_runtime_cuda.h has no entry for --===//
//
// Embedding gather, residual add and a strided copy, on bf16: small
// memory-bound kernels (one thread per element, 16-bit loads/stores) that
// the CUDA backend of attn-exec launches on its stream. Everything else goes
// through libattn_runtime_cuda.
//
//===----------------------------------------------------------------------===//

#include "CudaKernels.h"

#include <cuda_bf16.h>

namespace attenuate::plan::cuda {

namespace {

__global__ void embedKernel(const __nv_bfloat16 *table, const int64_t *tokens,
                            __nv_bfloat16 *y, int64_t n, int64_t d,
                            int64_t vocab) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * d)
    return;
  int64_t row = i / d, col = i % d;
  int64_t id = tokens[row];
  // As the CPU lowering: ids are clamped into [0, vocab).
  id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
  y[i] = table[id * d + col];
}

__global__ void addKernel(const __nv_bfloat16 *a, const __nv_bfloat16 *b,
                          __nv_bfloat16 *y, int64_t n) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n)
    y[i] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i]));
}

__global__ void copyKernel(const uint16_t *x, uint16_t *y, StridedCopy c,
                           int64_t n) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n)
    return;
  int64_t xo = 0, yo = 0, r = i;
  for (int k = c.rank - 1; k >= 0; --k) {
    int64_t idx = r % c.sizes[k];
    r /= c.sizes[k];
    xo += idx * c.xStrides[k];
    yo += idx * c.yStrides[k];
  }
  y[yo] = x[xo];
}

unsigned blocks(int64_t n) {
  return static_cast<unsigned>((n + 255) / 256);
}

} // namespace

cudaError_t launchEmbed(const void *table, const int64_t *tokens, void *y,
                        int64_t n, int64_t d, int64_t vocab,
                        cudaStream_t stream) {
  if (n * d == 0)
    return cudaSuccess;
  embedKernel<<<blocks(n * d), 256, 0, stream>>>(
      static_cast<const __nv_bfloat16 *>(table), tokens,
      static_cast<__nv_bfloat16 *>(y), n, d, vocab);
  return cudaGetLastError();
}

cudaError_t launchAdd(const void *a, const void *b, void *y, int64_t n,
                      cudaStream_t stream) {
  if (n == 0)
    return cudaSuccess;
  addKernel<<<blocks(n), 256, 0, stream>>>(
      static_cast<const __nv_bfloat16 *>(a),
      static_cast<const __nv_bfloat16 *>(b), static_cast<__nv_bfloat16 *>(y),
      n);
  return cudaGetLastError();
}

cudaError_t launchCopy16(const void *x, void *y, const StridedCopy &c,
                         cudaStream_t stream) {
  int64_t n = 1;
  for (int k = 0; k < c.rank; ++k)
    n *= c.sizes[k];
  if (n == 0)
    return cudaSuccess;
  copyKernel<<<blocks(n), 256, 0, stream>>>(static_cast<const uint16_t *>(x),
                                            static_cast<uint16_t *>(y), c, n);
  return cudaGetLastError();
}

} // namespace attenuate::plan::cuda

//===- CudaKernels.h - attn-exec's own bf16 kernels -------------*- C++ -*-===//
#ifndef ATTENUATE_LIB_PLAN_CUDAKERNELS_H
#define ATTENUATE_LIB_PLAN_CUDAKERNELS_H

#include <cuda_runtime_api.h>

#include <cstdint>

namespace attenuate::plan::cuda {

struct StridedCopy {
  int rank = 0;
  int64_t sizes[8] = {};
  int64_t xStrides[8] = {};
  int64_t yStrides[8] = {};
};

/// y[r, :] = table[clamp(tokens[r]), :] for r < n; all contiguous, bf16.
cudaError_t launchEmbed(const void *table, const int64_t *tokens, void *y,
                        int64_t n, int64_t d, int64_t vocab,
                        cudaStream_t stream);
/// y = a + b over n contiguous bf16 elements (fp32 add, one rounding).
cudaError_t launchAdd(const void *a, const void *b, void *y, int64_t n,
                      cudaStream_t stream);
/// y = x for 16-bit elements of any strides.
cudaError_t launchCopy16(const void *x, void *y, const StridedCopy &c,
                         cudaStream_t stream);

} // namespace attenuate::plan::cuda

#endif

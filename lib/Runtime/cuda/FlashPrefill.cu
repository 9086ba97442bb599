//===- FlashPrefill.cu - the prefill variants of the flash kernel ---------===//
//
// One translation unit per kernel family keeps each nvcc run short and lets
// `ptxas -v` output (ATTN_CUDA_PTXAS_VERBOSE) be read per family.
//
//===----------------------------------------------------------------------===//

#include "FlashKernels.cuh"

namespace attenuate::cuda::host {

cudaError_t launchFlashPrefill(FlashKernel kernel, int32_t dtype,
                               const FlashParams &p, int gridX, int splits,
                               cudaStream_t stream) {
  const bool bf16 = dtype == ATTN_DTYPE_BF16;
  switch (kernel) {
#define ATTN_LAUNCH(name)                                                    \
  case FlashKernel::name:                                                    \
    return bf16 ? launchFlashConfig<__nv_bfloat16, Flash##name>(             \
                      p, gridX, splits, stream)                              \
                : launchFlashConfig<__half, Flash##name>(p, gridX, splits,   \
                                                         stream);
    ATTN_LAUNCH(Prefill32)
    ATTN_LAUNCH(Prefill64)
    ATTN_LAUNCH(Prefill96)
    ATTN_LAUNCH(Prefill128)
    ATTN_LAUNCH(Prefill192)
    ATTN_LAUNCH(Prefill256)
#undef ATTN_LAUNCH
  default:
    return cudaErrorInvalidValue;
  }
}

} // namespace attenuate::cuda::host

//===- FlashDecode.cu - split-K decode, MLA absorbed, and the combine -----===//

#include "FlashKernels.cuh"

namespace attenuate::cuda::host {

cudaError_t launchFlashDecode(FlashKernel kernel, int32_t dtype,
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
    ATTN_LAUNCH(Decode64)
    ATTN_LAUNCH(Decode128)
    ATTN_LAUNCH(Decode256)
    ATTN_LAUNCH(Mla16)
    ATTN_LAUNCH(Mla32)
#undef ATTN_LAUNCH
  default:
    return cudaErrorInvalidValue;
  }
}

cudaError_t launchFlashCombine(int32_t dtype, const CombineParams &p,
                               int64_t rows, cudaStream_t stream) {
  if (rows > 0x7fffffff)
    return cudaErrorInvalidConfiguration;
  const dim3 grid(static_cast<unsigned>(rows));
  if (dtype == ATTN_DTYPE_BF16)
    flashCombineKernel<__nv_bfloat16><<<grid, 128, 0, stream>>>(p);
  else
    flashCombineKernel<__half><<<grid, 128, 0, stream>>>(p);
  return cudaGetLastError();
}

} // namespace attenuate::cuda::host

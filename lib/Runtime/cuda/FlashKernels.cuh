//===- FlashKernels.cuh - __global__ wrappers of the flash bodies ---------===//
//
// Included by the .cu files that instantiate the variants (nvcc only).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_FLASHKERNELS_CUH
#define ATTENUATE_LIB_RUNTIME_CUDA_FLASHKERNELS_CUH

#include "Context.h"
#include "FlashAttention.cuh"

#include <atomic>

namespace attenuate::cuda {

template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks)
    flashKernel(const FlashParams p) {
  extern __shared__ __align__(16) char smem[];
  flashAttentionBody<T, Cfg>(p, smem);
}

template <typename T>
__global__ void __launch_bounds__(128) flashCombineKernel(const CombineParams p) {
  flashCombineBody<T>(p);
}

/// Launches one variant. Blocks above 48 KiB of shared memory need an
/// opt-in per kernel and device, done on the first launch on each device.
template <typename T, typename Cfg>
cudaError_t launchFlashConfig(const FlashParams &p, int gridX, int splits,
                              cudaStream_t stream) {
  static std::atomic<uint64_t> configuredDevices{0};
  auto kernel = flashKernel<T, Cfg>;
  if (Cfg::kSmemBytes > 48 * 1024) {
    int device = 0;
    if (cudaError_t e = cudaGetDevice(&device))
      return e;
    const uint64_t bit = device < 64 ? uint64_t{1} << device : 0;
    if (!bit || !(configuredDevices.load() & bit)) {
      if (cudaError_t e = cudaFuncSetAttribute(
              kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
              static_cast<int>(Cfg::kSmemBytes)))
        return e;
      configuredDevices.fetch_or(bit);
    }
  }
  kernel<<<dim3(gridX, 1, splits), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(
      p);
  return cudaGetLastError();
}

} // namespace attenuate::cuda

#endif // ATTENUATE_LIB_RUNTIME_CUDA_FLASHKERNELS_CUH

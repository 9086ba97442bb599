//===- FlashConfigs.h - flash kernel shapes and parameters ------*- C++ -*-===//
//
// Plain constexpr data, no CUDA: the planner (host C++) and the kernels
// (nvcc) read the same numbers. Each variant is a FlashConfig; the X-macro
// ATTN_FLASH_KERNELS lists them by FlashKernel name, so adding a variant
// means one `using` and one list entry.
//
// Why these shapes (registers per thread from `ptxas -v`, see
// docs in lib/Runtime/cuda/README.md):
//  - Prefill: one warp per 16·kMTiles query rows with all Dv output columns
//    in registers (FlashAttention-2's split of the work). Up to d96 a warp
//    takes 32 rows (kMTiles = 2), which halves the shared-memory reads of K
//    and V per FLOP; at d128 and above 16 rows per warp and 8 warps keep the
//    accumulators (16·Dv/32 floats per thread) within the register file
//    without spills, and key tiles shrink to 32 at d192/d256 so that Q plus
//    two stages of K and V fit next to a second block on the SM.
//  - Decode: 16 rows (the query heads of one kv head) per block and four
//    warps that split Dv: the block streams the cache once; S is computed
//    four times, which costs tensor-core time decode has to spare.
//  - MLA absorbed (Dqk 576 = 512 latent + 64 rope, Dv 512 = the latent):
//    v is read from the K tile (kSharedKV). Mla16 for up to 16 query rows
//    per kv head, Mla32 (eight warps) beyond.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_FLASHCONFIGS_H
#define ATTENUATE_LIB_RUNTIME_CUDA_FLASHCONFIGS_H

#include <cstddef>
#include <cstdint>

namespace attenuate::cuda {

/// One launch, built on the host (AttentionPlan.h) and passed by value.
struct FlashParams {
  const void *q, *k, *v;
  void *o;
  /// Split-K outputs when splits > 1: partialO[split][row][dv] and
  /// partialStats[split][row][2] = (max in log2 units, sum), with
  /// row = (b·Hq + h)·Sq + i.
  float *partialO;
  float *partialStats;
  int64_t qStride[3], kStride[3], vStride[3], oStride[3]; // b, s, h
  int batch, sq, skv, hq, hkv, dqk, dv;
  int group;            // hq / hkv
  int pack;             // query heads per block row set: 1 or group
  int headGroups;       // group / pack
  int rowsPerHeadGroup; // sq · pack
  int rowBlocks;        // ceil(rowsPerHeadGroup / kBlockM)
  int causal;
  float scaleLog2; // scale · log2(e)
  int splits, tilesPerSplit;
};

/// Merges the split-K partials: one block per output row (b, h, i).
struct CombineParams {
  const float *partialO, *partialStats;
  void *o;
  int64_t oStride[3];
  int batch, sq, hq, dv, splits;
};

/// kDqk, kDv: the largest head dims the variant takes (smaller multiples of
/// 8 are zero-padded in shared memory). kWarpsM × kWarpsD warps; each warp
/// has 16·kMTiles rows and kDv / kWarpsD output columns. kBlockN keys per
/// tile. kSharedKV: V is the first Dv columns of K.
template <int kDqk_, int kDv_, int kWarpsM_, int kWarpsD_, int kMTiles_,
          int kBlockN_, bool kSharedKV_, int kMinBlocks_ = 1>
struct FlashConfig {
  /// Blocks per SM the register allocation must allow (__launch_bounds__).
  static constexpr int kMinBlocks = kMinBlocks_;
  static constexpr int kDqk = kDqk_, kDv = kDv_;
  static constexpr int kWarpsM = kWarpsM_, kWarpsD = kWarpsD_;
  static constexpr int kMTiles = kMTiles_, kBlockN = kBlockN_;
  static constexpr bool kSharedKV = kSharedKV_;
  static constexpr int kWarps = kWarpsM * kWarpsD;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBlockM = 16 * kMTiles * kWarpsM;
  static constexpr int kDvWarp = kDv / kWarpsD;
  static constexpr int kPitchQK = kDqk + 8;
  static constexpr int kPitchV = kSharedKV ? kPitchQK : kDv + 8;
  static constexpr int kTileK = kBlockN * kPitchQK; // elements per stage
  static constexpr int kTileV = kSharedKV ? 0 : kBlockN * kPitchV;
  static constexpr int kSmemElems = kBlockM * kPitchQK + 2 * (kTileK + kTileV);
  static constexpr size_t kSmemBytes = 2 * static_cast<size_t>(kSmemElems);
  static_assert(kDqk % 16 == 0 && kDv % 16 == 0, "head dims in 16s");
  static_assert(kDvWarp % 16 == 0 && kDvWarp * kWarpsD == kDv,
                "each warp's output columns come in 16s");
  static_assert(kBlockN % 16 == 0, "key tiles in 16s");
  static_assert(!kSharedKV || kDv <= kDqk, "v is a prefix of k");
  static_assert(kSmemBytes <= 227 * 1024, "over sm_90's shared memory per block");
};


using FlashPrefill32 = FlashConfig<32, 32, 4, 1, 2, 64, false>;
using FlashPrefill64 = FlashConfig<64, 64, 4, 1, 2, 64, false>;
using FlashPrefill96 = FlashConfig<96, 96, 4, 1, 2, 64, false>;
using FlashPrefill128 = FlashConfig<128, 128, 8, 1, 1, 64, false, 2>;
using FlashPrefill192 = FlashConfig<192, 192, 8, 1, 1, 32, false>;
using FlashPrefill256 = FlashConfig<256, 256, 8, 1, 1, 32, false>;
using FlashDecode64 = FlashConfig<64, 64, 1, 4, 1, 64, false>;
using FlashDecode128 = FlashConfig<128, 128, 1, 4, 1, 64, false>;
using FlashDecode256 = FlashConfig<256, 256, 1, 4, 1, 32, false>;
using FlashMla16 = FlashConfig<576, 512, 1, 4, 1, 64, true>;
using FlashMla32 = FlashConfig<576, 512, 2, 4, 1, 64, true>;

/// X(name) for every FlashKernel::name, whose configuration is Flash##name.
#define ATTN_FLASH_KERNELS(X)                                                \
  X(Prefill32)                                                               \
  X(Prefill64)                                                               \
  X(Prefill96)                                                               \
  X(Prefill128)                                                              \
  X(Prefill192)                                                              \
  X(Prefill256)                                                              \
  X(Decode64)                                                                \
  X(Decode128)                                                               \
  X(Decode256)                                                               \
  X(Mla16)                                                                   \
  X(Mla32)

} // namespace attenuate::cuda

#endif // ATTENUATE_LIB_RUNTIME_CUDA_FLASHCONFIGS_H

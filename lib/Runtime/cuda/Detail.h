//===- Detail.h - host-side internals of the CUDA runtime -------*- C++ -*-===//
//
// Errors, argument validation and launch planning: plain C++ that needs no
// CUDA headers, so the emulation tests compile it with the host compiler and
// run the same planning the library uses. Hidden from the library's
// exports (only the C ABI is visible).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_DETAIL_H
#define ATTENUATE_LIB_RUNTIME_CUDA_DETAIL_H

#pragma GCC visibility push(default)
#include "attenuate/Runtime/attn_runtime_cuda.h"
#pragma GCC visibility pop

#include "ElementwiseParams.h"
#include "FlashConfigs.h"

#include <cstddef>
#include <cstdint>
#include <string>

#pragma GCC visibility push(hidden)

namespace attenuate::cuda::host {

//===----------------------------------------------------------------------===//
// Errors (Error.cpp)
//===----------------------------------------------------------------------===//

/// Sets this thread's attn_cuda_last_error() message and returns `code`.
int fail(int code, const std::string &message);
void clearError();

/// Runs an entry point's body: clears the message first and turns C++
/// exceptions (allocation failures) into ATTN_ERR_UNSUPPORTED, since none
/// may unwind through extern "C".
template <typename Fn> int guarded(const char *op, Fn &&body) noexcept {
  try {
    clearError();
    return body();
  } catch (const std::exception &e) {
    return fail(ATTN_ERR_UNSUPPORTED, std::string(op) + ": " + e.what());
  } catch (...) {
    return fail(ATTN_ERR_UNSUPPORTED, std::string(op) + ": unknown failure");
  }
}

//===----------------------------------------------------------------------===//
// Tensors (Validate.cpp)
//===----------------------------------------------------------------------===//

const char *dtypeName(int32_t dtype);
size_t dtypeBytes(int32_t dtype);
/// "[2, 3, 4] bf16" (+ " strides [...]" when not contiguous).
std::string describe(const attn_cuda_tensor &t);
int64_t numel(const attn_cuda_tensor &t);

/// Requirements a kernel puts on one operand.
struct TensorRule {
  int rank = -1;     // exact rank, or -1 for any rank >= minRank
  int minRank = 1;
  bool lowPrecision = true; // bf16 or f16 only
  /// 16-byte loads: base aligned to 16 bytes and every stride but the
  /// innermost a multiple of 8 elements.
  bool vectorRows = false;
};

/// Checks non-null view, rank, dtype, sizes (non-negative, element count
/// without overflow), innermost stride 1, non-null data unless empty and the
/// vector-row rule. Messages start with "op: name".
int checkTensor(const char *op, const char *name, const attn_cuda_tensor *t,
                const TensorRule &rule);
int checkSameDtype(const char *op, const char *name,
                   const attn_cuda_tensor &t, const char *refName,
                   const attn_cuda_tensor &ref);

/// A view as rows × cols with one row stride: the leading dims must be
/// collapsible (each stride = next stride · next size, size-1 dims ignored).
struct Rows {
  int64_t rows = 0, cols = 0, stride = 0;
};
bool asRows(const attn_cuda_tensor &t, Rows &out);

//===----------------------------------------------------------------------===//
// Attention planning (AttentionPlan.cpp)
//===----------------------------------------------------------------------===//

/// The validated operands of an attention call.
struct AttentionProblem {
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  void *o = nullptr;
  int32_t dtype = ATTN_DTYPE_BF16;
  int64_t batch = 0, sq = 0, skv = 0, hq = 0, hkv = 0, dqk = 0, dv = 0;
  int64_t qStride[3] = {}, kStride[3] = {}, vStride[3] = {}, oStride[3] = {};
  bool causal = false;
  double scale = 1.0;
  /// v is a prefix of k (same pointer, leading strides and sizes): MLA's
  /// absorbed form, whose cache is read once.
  bool vPrefixOfK = false;
};

/// Validates q, k, v, o, scale; fills `out`.
int checkAttention(const char *op, const attn_cuda_tensor *q,
                   const attn_cuda_tensor *k, const attn_cuda_tensor *v,
                   double scale, int causal, const attn_cuda_tensor *o,
                   AttentionProblem &out);

/// The kernel variants (FlashConfigs.h lists their shapes).
enum class FlashKernel {
  Prefill32,
  Prefill64,
  Prefill96,
  Prefill128,
  Prefill192,
  Prefill256,
  Decode64,
  Decode128,
  Decode256,
  Mla16,
  Mla32,
};
const char *flashKernelName(FlashKernel k);

/// Launch shape of each variant (rows per block, keys per tile, threads,
/// shared memory bytes); FlashConfigs.h asserts these agree with the
/// compiled configurations.
struct FlashShape {
  int blockM, blockN, threads;
  size_t smemBytes;
};
FlashShape flashShape(FlashKernel k);

enum class AttentionMode { Prefill, Decode };

/// Everything a launch needs, computed without touching the device.
struct AttentionPlan {
  FlashKernel kernel = FlashKernel::Prefill64;
  FlashShape shape{};
  int gridX = 0, splits = 1;
  // FlashParams fields (copied into the device struct by the launcher).
  int group = 1, pack = 1, headGroups = 1, rowsPerHeadGroup = 0,
      rowBlocks = 0, tilesPerSplit = 0;
  float scaleLog2 = 0;
  /// Bytes of fp32 workspace for split-K partials (0 when splits == 1) and
  /// where the (max, sum) array starts in it.
  size_t workspaceBytes = 0, statsOffset = 0;
};

/// Chooses the variant and the grid. `numSplits` 0 lets the SM count decide
/// (decode only; prefill always uses one split).
int planAttention(const char *op, const AttentionProblem &p,
                  AttentionMode mode, int numSplits, int smCount,
                  AttentionPlan &out);

/// The kernel's parameters for a plan; `workspace` (device memory of
/// plan.workspaceBytes) holds the split-K partials when plan.splits > 1.
FlashParams makeFlashParams(const AttentionProblem &p,
                            const AttentionPlan &plan, void *workspace);
/// The combine kernel's parameters (one block per output row).
CombineParams makeCombineParams(const AttentionProblem &p,
                                const AttentionPlan &plan,
                                const FlashParams &f);

//===----------------------------------------------------------------------===//
// Row-wise kernels (ElementwisePlan.cpp): checks and kernel parameters
//===----------------------------------------------------------------------===//

int planRope(const char *op, const attn_cuda_tensor *x,
             const int64_t *positions, int64_t positionOffset,
             const attn_rope_config *rope, const attn_cuda_tensor *y,
             RopeParams &p);
int planRopeCacheAppend(const char *op, const attn_cuda_tensor *x,
                        const int64_t *positions, int64_t positionOffset,
                        const attn_rope_config *rope,
                        const attn_cuda_tensor *cache, int64_t cachePos,
                        RopeParams &p);
int planCacheAppend(const char *op, const attn_cuda_tensor *x,
                    const attn_cuda_tensor *cache, int64_t cachePos,
                    RopeParams &p);
int planRmsNorm(const char *op, const attn_cuda_tensor *x,
                const attn_cuda_tensor *w, double eps,
                const attn_cuda_tensor *y, RmsNormParams &p);
int planSiluMul(const char *op, const attn_cuda_tensor *gate,
                const attn_cuda_tensor *up, const attn_cuda_tensor *y,
                SiluMulParams &p);

} // namespace attenuate::cuda::host

#pragma GCC visibility pop

#endif // ATTENUATE_LIB_RUNTIME_CUDA_DETAIL_H

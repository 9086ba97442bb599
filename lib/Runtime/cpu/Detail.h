//===- Detail.h - internals shared by the CPU runtime kernels ---*- C++ -*-===//
//
// Not installed. The library builds with hidden visibility; the public header
// is included under `visibility push(default)` so that exactly the C ABI is
// exported and these helpers never clash with a host's symbols.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CPU_DETAIL_H
#define ATTENUATE_LIB_RUNTIME_CPU_DETAIL_H

#pragma GCC visibility push(default)
#include "attenuate/Runtime/attn_runtime.h"
#pragma GCC visibility pop

#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <vector>

#pragma GCC visibility push(hidden)

namespace attenuate::runtime::detail {

//===----------------------------------------------------------------------===//
// Errors (Error.cpp)
//===----------------------------------------------------------------------===//

/// Sets this thread's attn_last_error() message and returns `code`.
int fail(int code, const std::string &message);
/// The same as "op: text", allocating nothing (for out-of-memory paths).
int fail(int code, const char *op, const char *text) noexcept;
/// Empties this thread's message; every kernel entry point starts with it.
void clearError();
/// Records "adapter: message" in the process-wide adapter slot unless it
/// already holds an error (the first one is the cause; later ones are
/// fallout).
void recordAdapterError(const char *adapter, const char *message) noexcept;

/// Runs a kernel body behind the C ABI: clears the thread's error first and
/// turns any C++ exception (allocation failure, thread creation) into an
/// error code, since none may unwind through extern "C".
template <typename Fn> int guarded(const char *op, Fn &&body) noexcept {
  try {
    clearError();
    return body();
  } catch (const std::bad_alloc &) {
    return fail(ATTN_ERR_UNSUPPORTED, op, "out of memory for scratch buffers");
  } catch (const std::exception &e) {
    return fail(ATTN_ERR_UNSUPPORTED, op, e.what());
  } catch (...) {
    return fail(ATTN_ERR_UNSUPPORTED, op, "unknown failure");
  }
}

//===----------------------------------------------------------------------===//
// Views (View.cpp)
//===----------------------------------------------------------------------===//

/// "[2, 3, 4]".
std::string sizesOf(const attn_view_f32 &v);
/// "[2, 3, 4]" for contiguous views, "[2, 3, 4] (strides [24, 8, 1])" else.
std::string describe(const attn_view_f32 &v);

/// Checks that `v` is usable as operand `name` of `op`: non-null, rank
/// `rank` (any rank >= `minRank` when `rank` < 0), non-negative sizes whose
/// product fits in int64, and non-null data unless it has no elements.
int checkView(const char *op, const char *name, const attn_view_f32 *v,
              int rank, int minRank = 1);

/// Writes 0 to every element of a valid view.
void fillZero(const attn_view_f32 &v) noexcept;

/// Converts a memref descriptor; `op`/`name` prefix the error message.
int viewFromMemref(const char *op, const char *name,
                   const attn_unranked_memref *m, attn_view_f32 &out);

/// A view seen as a matrix: the leading dimensions, flattened in row-major
/// order, are the rows; the last dimension holds the columns.
struct RowMatrix {
  float *data = nullptr;
  int64_t rows = 0, cols = 0, colStride = 0;
  int32_t leadRank = 0;
  int64_t leadSizes[ATTN_MAX_RANK] = {};
  int64_t leadStrides[ATTN_MAX_RANK] = {};
  /// True when row r starts at data + r * rowStride for every r.
  bool uniform = false;
  int64_t rowStride = 0;

  int64_t rowOffset(int64_t r) const;
  /// Whether rows [r0, r0 + n) can be handed to BLAS in place, with `ld`.
  bool blasRows(int64_t n, int &ld) const;
};
RowMatrix asRows(const attn_view_f32 &v);

/// Copies rows [r0, r0 + n) into `dst`, contiguous [n, cols].
void gatherRows(const RowMatrix &m, int64_t r0, int64_t n, float *dst);
/// Copies contiguous [n, cols] `src` into rows [r0, r0 + n).
void scatterRows(const float *src, const RowMatrix &m, int64_t r0, int64_t n);

//===----------------------------------------------------------------------===//
// BLAS (Blas.cpp)
//===----------------------------------------------------------------------===//

/// The largest dimension or leading dimension a cblas call takes.
constexpr int64_t kBlasMaxDim = 2147483647;

/// A weight W [N, K] as the B operand of C = A·Wᵀ: used in place when either
/// of its dimensions is unit-stride (a transposed W needs no copy), packed
/// otherwise.
class WeightOperand {
public:
  explicit WeightOperand(const attn_view_f32 &w);
  int64_t outDim() const { return n; }
  int64_t inDim() const { return k; }
  /// C [m, N] = A [m, K]·Wᵀ + beta·C, single sgemm; K > 0.
  void multiply(int64_t m, const float *a, int lda, float beta, float *c,
                int ldc) const;

private:
  const float *data;
  int64_t n, k;
  int ld;
  bool transpose;
  std::vector<float> packed;
};

/// While any instance lives, OpenBLAS runs single-threaded: kernels that call
/// sgemm from their own workers would otherwise start nthreads² threads.
/// Reference-counted, so overlapping kernels restore the setting only once.
class BlasSerialScope {
public:
  BlasSerialScope();
  ~BlasSerialScope();
  BlasSerialScope(const BlasSerialScope &) = delete;
  BlasSerialScope &operator=(const BlasSerialScope &) = delete;
};

//===----------------------------------------------------------------------===//
// Threading (Threading.cpp)
//===----------------------------------------------------------------------===//

/// attn_set_num_threads' value, or the hardware concurrency.
int numThreads();

/// Calls body(task, slot) for every task in [0, tasks), on up to `slots`
/// threads (the caller included); `slot` < `slots` names the calling thread's
/// scratch. Tasks are handed out dynamically, so the result must not depend
/// on which thread runs a task. `body` must not throw.
void parallelFor(int64_t tasks, int slots,
                 const std::function<void(int64_t, int)> &body);

} // namespace attenuate::runtime::detail

#pragma GCC visibility pop

#endif // ATTENUATE_LIB_RUNTIME_CPU_DETAIL_H

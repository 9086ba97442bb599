//===- Primitives.cuh - the device operations the kernels are written in --===//
//
// Every kernel body in lib/Runtime/cuda is written against these few
// functions instead of raw CUDA builtins and inline PTX, so that the same
// source compiles two ways:
//  - by nvcc for sm_90 (the library): each function is one PTX instruction
//    (ldmatrix, mma.sync, cp.async, ex2.approx) or builtin;
//  - by the host compiler with ATTN_CUDA_EMULATE (the emulation tests): each
//    function calls Emulator.h, which runs every CUDA thread as a fiber and
//    implements the warp-wide instructions with the fragment layouts of the
//    PTX ISA. Index arithmetic, masking, softmax, pipelining and split-K
//    combination are then tested on a machine without a GPU; only timing
//    and the hardware's own rounding are left to the GPU tests.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_PRIMITIVES_CUH
#define ATTENUATE_LIB_RUNTIME_CUDA_PRIMITIVES_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#if defined(ATTN_CUDA_EMULATE)
#include "Emulator.h"
#include <cmath>
#include <stdexcept>
#define ATTN_DEVICE inline
#define ATTN_RESTRICT
#else
#define ATTN_DEVICE __device__ __forceinline__
#define ATTN_RESTRICT __restrict__
#endif

namespace attenuate::cuda {

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

template <typename T> struct Elem;

template <> struct Elem<__nv_bfloat16> {
  static constexpr bool kIsBf16 = true;
  ATTN_DEVICE static float toFloat(__nv_bfloat16 x) {
    return __bfloat162float(x);
  }
  ATTN_DEVICE static __nv_bfloat16 fromFloat(float x) {
    return __float2bfloat16_rn(x);
  }
  /// Two values in one 32-bit register, `lo` in the low half: the operand
  /// layout of mma.sync (the lower column index is in the lower bits).
  ATTN_DEVICE static uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    return bits;
  }
};

template <> struct Elem<__half> {
  static constexpr bool kIsBf16 = false;
  ATTN_DEVICE static float toFloat(__half x) { return __half2float(x); }
  ATTN_DEVICE static __half fromFloat(float x) { return __float2half_rn(x); }
  ATTN_DEVICE static uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    return bits;
  }
};

//===----------------------------------------------------------------------===//
// Thread geometry and synchronisation (1-D blocks only)
//===----------------------------------------------------------------------===//

#if defined(ATTN_CUDA_EMULATE)
inline int threadIndex() { return static_cast<int>(emu::threadIdxX()); }
inline int blockIndexX() { return static_cast<int>(emu::blockIdx().x); }
inline int blockIndexY() { return static_cast<int>(emu::blockIdx().y); }
inline int blockIndexZ() { return static_cast<int>(emu::blockIdx().z); }
inline int gridSizeX() { return static_cast<int>(emu::gridDim().x); }
inline int blockSize() { return static_cast<int>(emu::blockDimX()); }
inline void blockSync() { emu::syncThreads(); }
inline float shflXor(float v, int laneMask) {
  return emu::shflXor(v, laneMask);
}
#else
ATTN_DEVICE int threadIndex() { return static_cast<int>(threadIdx.x); }
ATTN_DEVICE int blockIndexX() { return static_cast<int>(blockIdx.x); }
ATTN_DEVICE int blockIndexY() { return static_cast<int>(blockIdx.y); }
ATTN_DEVICE int blockIndexZ() { return static_cast<int>(blockIdx.z); }
ATTN_DEVICE int gridSizeX() { return static_cast<int>(gridDim.x); }
ATTN_DEVICE int blockSize() { return static_cast<int>(blockDim.x); }
ATTN_DEVICE void blockSync() { __syncthreads(); }
ATTN_DEVICE float shflXor(float v, int laneMask) {
  return __shfl_xor_sync(0xffffffffu, v, laneMask);
}
#endif

//===----------------------------------------------------------------------===//
// Tensor-core fragments (all 32 lanes of the warp must call these together)
//===----------------------------------------------------------------------===//

#if !defined(ATTN_CUDA_EMULATE)
ATTN_DEVICE uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
#endif

/// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8i..8i+7 give the row
/// addresses of matrix i; r[i] receives the lane's two elements of matrix i
/// (row lane/4, columns 2·(lane%4) and +1).
ATTN_DEVICE void ldmatrixX4(uint32_t (&r)[4], const void *smemRow) {
#if defined(ATTN_CUDA_EMULATE)
  emu::ldmatrixX4(r, smemRow, false);
#else
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(sharedAddress(smemRow)));
#endif
}

/// The same with .trans: r[i] receives elements (2·(lane%4), lane/4) and
/// (2·(lane%4)+1, lane/4) of matrix i, i.e. a column pair of the stored rows.
ATTN_DEVICE void ldmatrixX4Trans(uint32_t (&r)[4], const void *smemRow) {
#if defined(ATTN_CUDA_EMULATE)
  emu::ldmatrixX4(r, smemRow, true);
#else
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, "
      "[%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(sharedAddress(smemRow)));
#endif
}

/// D = A·B + C, mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}: A 16×16
/// (a[0]: row g, cols 2t..2t+1; a[1]: row g+8; a[2]: row g, cols 8+2t;
/// a[3]: row g+8, cols 8+2t), B 16×8 (b[0]: rows 2t..2t+1, col g; b[1]: rows
/// 8+2t), C/D 16×8 fp32 (c[0..1]: row g, cols 2t..2t+1; c[2..3]: row g+8),
/// with g = lane/4 and t = lane%4.
template <typename T>
ATTN_DEVICE void mma16816(float (&c)[4], const uint32_t (&a)[4],
                          const uint32_t (&b)[2]) {
#if defined(ATTN_CUDA_EMULATE)
  emu::mma16816(c, a, b, Elem<T>::kIsBf16);
#else
  if constexpr (Elem<T>::kIsBf16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]),
                   "r"(b[1]));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]),
                   "r"(b[1]));
  }
#endif
}

//===----------------------------------------------------------------------===//
// Asynchronous global → shared copies
//===----------------------------------------------------------------------===//

/// Copies 16 bytes, or writes 16 zero bytes when `valid` is false (then
/// nothing is read from `src`; it must still be a mapped address, so callers
/// pass the tensor's base). Both addresses 16-byte aligned. Bypasses L1
/// (.cg): each tile is read once per block.
ATTN_DEVICE void cpAsync16(void *dst, const void *src, bool valid) {
#if defined(ATTN_CUDA_EMULATE)
  emu::cpAsync16(dst, src, valid);
#else
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(
                   sharedAddress(dst)),
               "l"(src), "r"(valid ? 16 : 0));
#endif
}

ATTN_DEVICE void cpAsyncCommit() {
#if defined(ATTN_CUDA_EMULATE)
  emu::cpAsyncCommit();
#else
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

/// Waits until at most `kPending` of this thread's committed groups are in
/// flight. Other threads' copies need a blockSync() afterwards.
template <int kPending> ATTN_DEVICE void cpAsyncWait() {
#if defined(ATTN_CUDA_EMULATE)
  emu::cpAsyncWait(kPending);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

//===----------------------------------------------------------------------===//
// Stores
//===----------------------------------------------------------------------===//

/// One 32-bit store to a 4-byte aligned address. (memcpy would tell nvcc
/// nothing about alignment, and it emits four byte stores.)
ATTN_DEVICE void store32(void *dst, uint32_t bits) {
#if defined(ATTN_CUDA_EMULATE)
  if (reinterpret_cast<uintptr_t>(dst) % 4 != 0)
    throw std::runtime_error("store32 to a misaligned address");
  std::memcpy(dst, &bits, sizeof(bits));
#else
  *reinterpret_cast<uint32_t *>(dst) = bits;
#endif
}

/// Two floats in one 64-bit store to an 8-byte aligned address.
ATTN_DEVICE void storeFloat2(float *dst, float a, float b) {
#if defined(ATTN_CUDA_EMULATE)
  if (reinterpret_cast<uintptr_t>(dst) % 8 != 0)
    throw std::runtime_error("storeFloat2 to a misaligned address");
  dst[0] = a;
  dst[1] = b;
#else
  *reinterpret_cast<float2 *>(dst) = make_float2(a, b);
#endif
}

//===----------------------------------------------------------------------===//
// Math
//===----------------------------------------------------------------------===//

/// 2^x; 2^-inf = 0. ex2.approx: relative error about 2^-22, far below the
/// bf16/fp16 rounding of the probabilities it feeds.
ATTN_DEVICE float exp2Fast(float x) {
#if defined(ATTN_CUDA_EMULATE)
  return std::exp2(x);
#else
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
#endif
}

} // namespace attenuate::cuda

#endif // ATTENUATE_LIB_RUNTIME_CUDA_PRIMITIVES_CUH

//===- Elementwise.cuh - RoPE + cache append, RMSNorm, SiLU·mul bodies ----===//
//
// Memory-bound kernels: each element is read once and written once, all
// arithmetic in fp32 (RoPE angles in fp64: position · ω reaches 1e5 rad at
// long contexts, where fp32 would lose ~1e-2 rad before the sine).
// Consecutive threads take consecutive channels, so every warp's accesses
// are coalesced for any row stride.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_ELEMENTWISE_CUH
#define ATTENUATE_LIB_RUNTIME_CUDA_ELEMENTWISE_CUH

#include "ElementwiseParams.h"
#include "Primitives.cuh"

#if defined(ATTN_CUDA_EMULATE)
#include <cmath>
#endif

namespace attenuate::cuda {

namespace detail {

ATTN_DEVICE void sinCos(double a, double &s, double &c) {
#if defined(ATTN_CUDA_EMULATE)
  s = std::sin(a);
  c = std::cos(a);
#else
  sincos(a, &s, &c);
#endif
}

ATTN_DEVICE float expAccurate(float x) {
#if defined(ATTN_CUDA_EMULATE)
  return std::exp(x);
#else
  return expf(x);
#endif
}

ATTN_DEVICE float rsqrtAccurate(float x) {
#if defined(ATTN_CUDA_EMULATE)
  return 1.0f / std::sqrt(x);
#else
  return rsqrtf(x);
#endif
}

} // namespace detail

/// Grid: ceil(rows · itemsPerRow / blockSize) blocks, rows = B·S·H.
template <typename T> ATTN_DEVICE void ropeBody(const RopeParams &p) {
  using E = Elem<T>;
  const int64_t half = p.rotaryDim / 2;
  const int64_t items = p.dim - half;
  const int64_t w = static_cast<int64_t>(blockIndexX()) * blockSize() +
                    threadIndex();
  const int64_t rows = p.batch * p.seq * p.heads;
  if (w >= rows * items)
    return;
  const int64_t row = w / items, item = w % items;
  const int64_t h = row % p.heads, bs = row / p.heads;
  const int64_t s = bs % p.seq, b = bs / p.seq;
  const T *x = static_cast<const T *>(p.x) + b * p.xStride[0] +
               s * p.xStride[1] + h * p.xStride[2];
  T *y = static_cast<T *>(p.y) + b * p.yStride[0] + s * p.yStride[1] +
         h * p.yStride[2];
  if (item >= half) {
    const int64_t c = p.rotaryDim + (item - half);
    y[c] = x[c];
    return;
  }
  const int64_t position =
      p.positions ? p.positions[b * p.seq + s] : p.positionOffset + s;
  double sn, cs;
  detail::sinCos(static_cast<double>(position) * p.invFreq[item], sn, cs);
  const int64_t c0 = p.interleaved ? 2 * item : item;
  const int64_t c1 = p.interleaved ? 2 * item + 1 : item + half;
  const float x0 = E::toFloat(x[c0]), x1 = E::toFloat(x[c1]);
  const float c = static_cast<float>(cs), sf = static_cast<float>(sn);
  y[c0] = E::fromFloat(x0 * c - x1 * sf);
  y[c1] = E::fromFloat(x1 * c + x0 * sf);
}

/// One block per row; blockSize() a multiple of 32, at most 1024. `smem`
/// holds one float per warp.
template <typename T>
ATTN_DEVICE void rmsNormBody(const RmsNormParams &p, float *smem) {
  using E = Elem<T>;
  const int64_t row = blockIndexX();
  const T *x = static_cast<const T *>(p.x) + row * p.xStride;
  const T *w = static_cast<const T *>(p.w);
  T *y = static_cast<T *>(p.y) + row * p.yStride;
  const int tid = threadIndex(), threads = blockSize();
  float sum = 0.f;
  for (int64_t c = tid; c < p.cols; c += threads) {
    const float v = E::toFloat(x[c]);
    sum += v * v;
  }
  for (int m = 16; m >= 1; m /= 2)
    sum += shflXor(sum, m);
  if (tid % 32 == 0)
    smem[tid / 32] = sum;
  blockSync();
  float total = 0.f;
  for (int i = 0; i < threads / 32; ++i)
    total += smem[i];
  const float scale =
      detail::rsqrtAccurate(total / static_cast<float>(p.cols) + p.eps);
  for (int64_t c = tid; c < p.cols; c += threads)
    y[c] = E::fromFloat(E::toFloat(x[c]) * scale * E::toFloat(w[c]));
}

/// Grid: ceil(rows · cols / blockSize) blocks.
template <typename T> ATTN_DEVICE void siluMulBody(const SiluMulParams &p) {
  using E = Elem<T>;
  const int64_t i = static_cast<int64_t>(blockIndexX()) * blockSize() +
                    threadIndex();
  if (i >= p.rows * p.cols)
    return;
  const int64_t r = i / p.cols, c = i % p.cols;
  const float g = E::toFloat(static_cast<const T *>(p.gate)[r * p.gateStride + c]);
  const float u = E::toFloat(static_cast<const T *>(p.up)[r * p.upStride + c]);
  static_cast<T *>(p.y)[r * p.yStride + c] =
      E::fromFloat(g / (1.f + detail::expAccurate(-g)) * u);
}

} // namespace attenuate::cuda

#endif // ATTENUATE_LIB_RUNTIME_CUDA_ELEMENTWISE_CUH

//===- ElementwiseParams.h - parameters of the row-wise kernels -*- C++ -*-===//
//
// Plain data shared by the host launchers and the device bodies
// (Elementwise.cuh), like FlashConfigs.h for attention.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_ELEMENTWISEPARAMS_H
#define ATTENUATE_LIB_RUNTIME_CUDA_ELEMENTWISEPARAMS_H

#include <cstdint>

namespace attenuate::cuda {

/// y[b, s, h, :] = rope(x[b, s, h, :]); also the plain copy of the cache
/// append (rotaryDim = 0). Work item w of a row is pair w when
/// w < rotaryDim / 2, else the pass-through channel rotaryDim + w −
/// rotaryDim/2, so each pair is read and written by one thread and y may be
/// x itself.
struct RopeParams {
  static constexpr int kMaxPairs = 256;
  const void *x;
  void *y;
  int64_t xStride[3], yStride[3]; // b, s, h
  int64_t batch, seq, heads, dim;
  int rotaryDim;
  int interleaved;
  const int64_t *positions; // device [batch·seq], or null: offset + s
  int64_t positionOffset;
  double invFreq[kMaxPairs]; // ω_j, computed in fp64 on the host
};

/// y[r, :] = x[r, :] · rsqrt(mean(x[r, :]²) + eps) · w, one block per row.
struct RmsNormParams {
  const void *x, *w;
  void *y;
  int64_t xStride, yStride; // between rows
  int64_t rows, cols;
  float eps;
};

/// y = silu(gate) · up over rows × cols.
struct SiluMulParams {
  const void *gate, *up;
  void *y;
  int64_t gateStride, upStride, yStride;
  int64_t rows, cols;
};

} // namespace attenuate::cuda

#endif // ATTENUATE_LIB_RUNTIME_CUDA_ELEMENTWISEPARAMS_H

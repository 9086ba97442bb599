//===- FlashAttention.cuh - the flash attention kernel family ------------===//
//
// One kernel body serves prefill, split-K decode and MLA's absorbed decode.
// A block owns kBlockM "rows" and walks key tiles of kBlockN keys:
//   S = Q·Kᵀ (mma.sync m16n8k16, fp32), mask, online softmax in base 2,
//   O += P·V with P converted to the input type in registers (the C fragment
//   of S is the A fragment of P·V, so P never leaves registers).
// Nothing of size Sq×Skv is stored anywhere.
//
// Rows. The block's rows are (query position, query head) pairs of one kv
// head: row R of head group `hg` is position R / pack and head
// kvh·group + hg·pack + R % pack. Prefill uses pack = 1 (a block is
// consecutive positions of one head, as in FlashAttention-2); decode uses
// pack = group, so all query heads that read a kv head share each key tile
// it loads (one query per head gives too few rows to fill a block
// otherwise). MLA's absorbed form is the same with one kv head and a block
// of 16 or 32 of its query heads.
//
// Warps. Warp (wm, wd) owns rows [16·kMTiles·wm, +16·kMTiles) and output
// columns [kDvWarp·wd, +kDvWarp). With kWarpsD > 1 the warps that share rows
// compute the same S (identically, so their softmax statistics agree) and
// each multiplies P by its slice of V. That keeps every accumulator in
// registers for Dv = 512 (MLA) at the price of repeating Q·Kᵀ kWarpsD times,
// which decode can afford: it is bound by reading the cache, and the cache
// tile is read from global memory once per block either way.
//
// Keys. Tiles are double-buffered in shared memory with cp.async: tile t+1
// is in flight while tile t is multiplied. With kSharedKV (MLA absorbed:
// v is a prefix of k) the V operand is read from the K tile, so the latent
// cache is read once. Split-K (decode): blockIdx.z takes a contiguous range
// of tiles and writes unnormalised fp32 partials plus (max, sum) per row;
// flashCombineBody merges them.
//
// Shared memory rows are padded by 8 elements (16 bytes): for any head dim
// that is a multiple of 16 the row pitch is an odd number of 16-byte units,
// so the 8 rows an ldmatrix phase reads hit distinct banks, without the
// power-of-two widths an XOR swizzle needs.
//
// Masking. Key j is visible to a row at position i when j ≤ limit, limit =
// min(i + Skv − Sq, Skv − 1) if causal (bottom-right aligned) and Skv − 1
// otherwise; padding rows get limit −1. A row with no visible key keeps
// m = −∞, l = 0 and gets output 0. exp2 uses m = 0 instead of −∞ so that
// −∞ − m never forms NaN.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_FLASHATTENTION_CUH
#define ATTENUATE_LIB_RUNTIME_CUDA_FLASHATTENTION_CUH

#include "FlashConfigs.h"
#include "Primitives.cuh"

#include <cstddef>
#include <cstdint>

namespace attenuate::cuda {

namespace detail {

constexpr float kNegInf = -__builtin_huge_valf();

ATTN_DEVICE int imin(int a, int b) { return a < b ? a : b; }
ATTN_DEVICE float fmaxf2(float a, float b) { return a > b ? a : b; }

/// Position and head of block row R of head group `hg` of kv head `kvh`.
ATTN_DEVICE void rowCoordinates(const FlashParams &p, int kvh, int hg, int R,
                                int &position, int &head) {
  position = R / p.pack;
  head = kvh * p.group + hg * p.pack + R % p.pack;
}

/// The last key a row may see, or -1 for padding rows and rows before the
/// first key (causal with Sq > Skv).
ATTN_DEVICE int rowLimit(const FlashParams &p, int R) {
  if (R >= p.rowsPerHeadGroup)
    return -1;
  int last = p.skv - 1;
  if (p.causal)
    last = imin(last, R / p.pack + p.skv - p.sq);
  return last < -1 ? -1 : last;
}

} // namespace detail

template <typename T, typename Cfg>
ATTN_DEVICE void flashAttentionBody(const FlashParams &p, char *smemRaw) {
  using namespace detail;
  constexpr int kBlockM = Cfg::kBlockM, kBlockN = Cfg::kBlockN;
  constexpr int kMT = Cfg::kMTiles, kNT = kBlockN / 8;
  constexpr int kDT = Cfg::kDvWarp / 8;
  constexpr int kThreads = Cfg::kThreads;
  constexpr int kPitchQK = Cfg::kPitchQK, kPitchV = Cfg::kPitchV;

  T *sQ = reinterpret_cast<T *>(smemRaw);
  T *sK = sQ + kBlockM * kPitchQK;
  T *sV = Cfg::kSharedKV ? sK : sK + 2 * Cfg::kTileK;

  const int tid = threadIndex();
  const int lane = tid % 32, warp = tid / 32;
  const int warpM = warp / Cfg::kWarpsD, warpD = warp % Cfg::kWarpsD;
  const int g = lane / 4, tq = lane % 4;
  const int mRow0 = warpM * 16 * kMT;   // first block row of this warp
  const int dvCol0 = warpD * Cfg::kDvWarp; // first output column

  // Block coordinates: x enumerates (row block, b·kv head·head group) with
  // the row block major and reversed, so that under causal masking the
  // blocks with the most tiles start first.
  const int bhCount = p.batch * p.hkv * p.headGroups;
  const int x = blockIndexX();
  const int rowBlock = p.rowBlocks - 1 - x / bhCount;
  int bh = x % bhCount;
  const int hg = bh % p.headGroups;
  bh /= p.headGroups;
  const int kvh = bh % p.hkv;
  const int b = bh / p.hkv;
  const int split = blockIndexZ();
  const int rowBase = rowBlock * kBlockM;

  const T *qBase = static_cast<const T *>(p.q);
  const T *kBase = static_cast<const T *>(p.k);
  const T *vBase = static_cast<const T *>(p.v);

  // Key tiles of this block: its split's range, cut at the last key any of
  // its rows may see.
  const int lastRow = imin(rowBase + kBlockM, p.rowsPerHeadGroup) - 1;
  const int maxLimit = rowLimit(p, lastRow);
  const int tileCount = (p.skv + kBlockN - 1) / kBlockN;
  const int tBegin = split * p.tilesPerSplit;
  int tEnd = imin(tBegin + p.tilesPerSplit, tileCount);
  tEnd = imin(tEnd, maxLimit < 0 ? 0 : maxLimit / kBlockN + 1);

  // This thread's accumulator rows: (mt, half) is block row
  // mRow0 + 16·mt + g + 8·half.
  int limit[kMT][2];
  float mRow[kMT][2], lRow[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      limit[mt][h] = rowLimit(p, rowBase + mRow0 + 16 * mt + g + 8 * h);
      mRow[mt][h] = kNegInf;
      lRow[mt][h] = 0.f;
    }
  int minLimit = limit[0][0];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h)
      minLimit = limit[mt][h] < minLimit ? limit[mt][h] : minLimit;

  float o[kMT][kDT][4];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        o[mt][dt][e] = 0.f;

  auto loadKV = [&](int tile, int stage) {
    constexpr int kChunksK = Cfg::kDqk / 8;
    const int j0 = tile * kBlockN;
    T *dstK = sK + stage * Cfg::kTileK;
    for (int c = tid; c < kBlockN * kChunksK; c += kThreads) {
      const int r = c / kChunksK, ch = c % kChunksK;
      const int j = j0 + r;
      const bool ok = j < p.skv && ch * 8 < p.dqk;
      const T *src = ok ? kBase + b * p.kStride[0] + j * p.kStride[1] +
                              kvh * p.kStride[2] + ch * 8
                        : kBase;
      cpAsync16(dstK + r * kPitchQK + ch * 8, src, ok);
    }
    if constexpr (!Cfg::kSharedKV) {
      constexpr int kChunksV = Cfg::kDv / 8;
      T *dstV = sV + stage * Cfg::kTileV;
      for (int c = tid; c < kBlockN * kChunksV; c += kThreads) {
        const int r = c / kChunksV, ch = c % kChunksV;
        const int j = j0 + r;
        const bool ok = j < p.skv && ch * 8 < p.dv;
        const T *src = ok ? vBase + b * p.vStride[0] + j * p.vStride[1] +
                                kvh * p.vStride[2] + ch * 8
                          : vBase;
        cpAsync16(dstV + r * kPitchV + ch * 8, src, ok);
      }
    }
  };

  if (tBegin < tEnd) {
    // Prologue: Q and the first key tile in one group.
    {
      constexpr int kChunksQ = Cfg::kDqk / 8;
      for (int c = tid; c < kBlockM * kChunksQ; c += kThreads) {
        const int r = c / kChunksQ, ch = c % kChunksQ;
        const int R = rowBase + r;
        const bool ok = R < p.rowsPerHeadGroup && ch * 8 < p.dqk;
        const T *src = qBase;
        if (ok) {
          int position, head;
          rowCoordinates(p, kvh, hg, R, position, head);
          src = qBase + b * p.qStride[0] + position * p.qStride[1] +
                head * p.qStride[2] + ch * 8;
        }
        cpAsync16(sQ + r * kPitchQK + ch * 8, src, ok);
      }
    }
    loadKV(tBegin, 0);
    cpAsyncCommit();

    for (int t = tBegin; t < tEnd; ++t) {
      const int stage = (t - tBegin) & 1;
      if (t + 1 < tEnd) {
        loadKV(t + 1, stage ^ 1);
        cpAsyncCommit();
        cpAsyncWait<1>();
      } else {
        cpAsyncWait<0>();
      }
      blockSync();

      const T *tileK = sK + stage * Cfg::kTileK;
      const T *tileV = Cfg::kSharedKV ? tileK : sV + stage * Cfg::kTileV;

      // S = Q·Kᵀ for this warp's rows and all kBlockN keys.
      float s[kMT][kNT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            s[mt][nt][e] = 0.f;
#pragma unroll
      for (int kk = 0; kk < Cfg::kDqk / 16; ++kk) {
        if (kk * 16 >= p.dqk)
          break;
        uint32_t qa[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt)
          ldmatrixX4(qa[mt], sQ +
                                 (mRow0 + 16 * mt + lane % 8 +
                                  ((lane / 8) % 2) * 8) *
                                     kPitchQK +
                                 kk * 16 + (lane / 16) * 8);
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          uint32_t kb[4];
          ldmatrixX4(kb, tileK +
                             (np * 16 + lane % 8 + (lane / 16) * 8) *
                                 kPitchQK +
                             kk * 16 + ((lane / 8) % 2) * 8);
          const uint32_t b0[2] = {kb[0], kb[1]}, b1[2] = {kb[2], kb[3]};
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) {
            mma16816<T>(s[mt][2 * np], qa[mt], b0);
            mma16816<T>(s[mt][2 * np + 1], qa[mt], b1);
          }
        }
      }

      // Scale into log2 units, mask, and update the running max and sum.
      const int j0 = t * kBlockN;
      const bool needMask = j0 + kBlockN - 1 > minLimit;
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          float mx = kNegInf;
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              float &v = s[mt][nt][2 * h + e];
              v *= p.scaleLog2;
              if (needMask && j0 + nt * 8 + 2 * tq + e > limit[mt][h])
                v = kNegInf;
              mx = fmaxf2(mx, v);
            }
          mx = fmaxf2(mx, shflXor(mx, 1));
          mx = fmaxf2(mx, shflXor(mx, 2));
          const float mNew = fmaxf2(mRow[mt][h], mx);
          const float mUse = mNew == kNegInf ? 0.f : mNew;
          const float alpha = exp2Fast(mRow[mt][h] - mUse);
          mRow[mt][h] = mNew;
          float sum = 0.f;
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              float &v = s[mt][nt][2 * h + e];
              v = exp2Fast(v - mUse);
              sum += v;
            }
          lRow[mt][h] = lRow[mt][h] * alpha + sum;
#pragma unroll
          for (int dt = 0; dt < kDT; ++dt) {
            o[mt][dt][2 * h] *= alpha;
            o[mt][dt][2 * h + 1] *= alpha;
          }
        }

      // O += P·V over this warp's output columns.
#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        uint32_t pa[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          pa[mt][0] = Elem<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          pa[mt][1] = Elem<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          pa[mt][2] =
              Elem<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          pa[mt][3] =
              Elem<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < kDT / 2; ++dp) {
          if (dvCol0 + dp * 16 >= p.dv)
            break;
          uint32_t vb[4];
          ldmatrixX4Trans(vb, tileV +
                                  (kk * 16 + lane % 8 +
                                   ((lane / 8) % 2) * 8) *
                                      kPitchV +
                                  dvCol0 + dp * 16 + (lane / 16) * 8);
          const uint32_t b0[2] = {vb[0], vb[1]}, b1[2] = {vb[2], vb[3]};
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) {
            mma16816<T>(o[mt][2 * dp], pa[mt], b0);
            mma16816<T>(o[mt][2 * dp + 1], pa[mt], b1);
          }
        }
      }
      // Every warp is done with this stage before the next iteration's
      // copies overwrite it.
      blockSync();
    }
  }

  // Epilogue: finish the row sums across the quad and write.
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = lRow[mt][h];
      l += shflXor(l, 1);
      l += shflXor(l, 2);
      const int R = rowBase + mRow0 + 16 * mt + g + 8 * h;
      if (R >= p.rowsPerHeadGroup)
        continue;
      int position, head;
      rowCoordinates(p, kvh, hg, R, position, head);
      if (p.splits == 1) {
        const float inv = l > 0.f ? 1.f / l : 0.f;
        T *out = static_cast<T *>(p.o) + b * p.oStride[0] +
                 position * p.oStride[1] + head * p.oStride[2];
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt) {
          const int col = dvCol0 + dt * 8 + 2 * tq;
          if (col < p.dv) {
            store32(out + col, Elem<T>::pack(o[mt][dt][2 * h] * inv,
                                             o[mt][dt][2 * h + 1] * inv));
          }
        }
      } else {
        const int64_t row =
            (static_cast<int64_t>(split) * p.batch * p.hq +
             static_cast<int64_t>(b) * p.hq + head) *
                p.sq +
            position;
        float *out = p.partialO + row * p.dv;
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt) {
          const int col = dvCol0 + dt * 8 + 2 * tq;
          if (col < p.dv)
            storeFloat2(out + col, o[mt][dt][2 * h], o[mt][dt][2 * h + 1]);
        }
        if (warpD == 0 && tq == 0) {
          p.partialStats[2 * row] = mRow[mt][h];
          p.partialStats[2 * row + 1] = l;
        }
      }
    }
}

template <typename T>
ATTN_DEVICE void flashCombineBody(const CombineParams &p) {
  using namespace detail;
  const int64_t rows = static_cast<int64_t>(p.batch) * p.hq * p.sq;
  const int64_t row = blockIndexX();
  const int position = static_cast<int>(row % p.sq);
  const int head = static_cast<int>((row / p.sq) % p.hq);
  const int b = static_cast<int>(row / (static_cast<int64_t>(p.sq) * p.hq));
  float m = kNegInf;
  for (int s = 0; s < p.splits; ++s)
    m = fmaxf2(m, p.partialStats[2 * (s * rows + row)]);
  float l = 0.f;
  if (m != kNegInf)
    for (int s = 0; s < p.splits; ++s) {
      const float ms = p.partialStats[2 * (s * rows + row)];
      if (ms != kNegInf)
        l += p.partialStats[2 * (s * rows + row) + 1] * exp2Fast(ms - m);
    }
  const float inv = l > 0.f ? 1.f / l : 0.f;
  T *out = static_cast<T *>(p.o) + b * p.oStride[0] +
           position * p.oStride[1] + head * p.oStride[2];
  for (int col = threadIndex(); col < p.dv; col += blockSize()) {
    float acc = 0.f;
    if (l > 0.f)
      for (int s = 0; s < p.splits; ++s) {
        const float ms = p.partialStats[2 * (s * rows + row)];
        if (ms != kNegInf)
          acc += p.partialO[(s * rows + row) * p.dv + col] * exp2Fast(ms - m);
      }
    out[col] = Elem<T>::fromFloat(acc * inv);
  }
}

} // namespace attenuate::cuda

#endif // ATTENUATE_LIB_RUNTIME_CUDA_FLASHATTENTION_CUH

//===- CudaTestUtil.h - tensors, references and bounds for CUDA kernels --===//
//
// Shared by the GPU tests (GpuAttentionTest.cpp, ...) and the emulation
// tests (Emulated*.cpp): the same cases, references and bounds, checked
// through a Runner that either calls the library on a device or runs the
// kernel bodies in the CPU emulator.
//
// References (shared/RELIABILITY.md, "Numerics"), computed here by plain
// loops that share nothing with the kernels:
//  - `ref`: fp64 on the (already rounded) bf16/fp16 inputs;
//  - `lowp`: the textbook computation rounded to the input dtype after every
//    operation (S = q·kᵀ·scale, P = softmax(S), O = P·v, each accumulated in
//    fp32 and rounded), which is what a framework's plain attention in that
//    dtype does.
// Bound (FlashAttention's rule): max|out − ref| ≤ 2·max|lowp − ref| plus two
// rounding steps of the dtype at max|ref|. Rows that see no key must be
// exactly 0.
//
// Storage outside a view holds NaN (0xffff), so a kernel that reads outside
// its view poisons its result, one that writes outside is caught by
// paddingIntact(), and outputs start as NaN, so an element the kernel
// forgets to write fails the comparison.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_TEST_UNIT_CUDA_CUDATESTUTIL_H
#define ATTENUATE_TEST_UNIT_CUDA_CUDATESTUTIL_H

#include "attenuate/Runtime/attn_runtime_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace attenuate::cuda::test {

inline float decode(uint16_t bits, int32_t dtype) {
  if (dtype == ATTN_DTYPE_BF16) {
    uint32_t word = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &word, sizeof(f));
    return f;
  }
  __half h;
  std::memcpy(&h, &bits, sizeof(bits));
  return __half2float(h);
}

inline uint16_t encode(float x, int32_t dtype) {
  uint16_t bits;
  if (dtype == ATTN_DTYPE_BF16) {
    __nv_bfloat16 b = __float2bfloat16_rn(x);
    std::memcpy(&bits, &b, sizeof(bits));
  } else {
    __half h = __float2half_rn(x);
    std::memcpy(&bits, &h, sizeof(bits));
  }
  return bits;
}

inline float roundTo(float x, int32_t dtype) {
  return decode(encode(x, dtype), dtype);
}

inline const char *dtypeName(int32_t dtype) {
  return dtype == ATTN_DTYPE_BF16 ? "bf16" : "f16";
}

/// The spacing of the dtype's values at magnitude `x` (one rounding step is
/// half of it; "two rounding steps" is one spacing).
inline double spacing(double x, int32_t dtype) {
  const int mantissa = dtype == ATTN_DTYPE_BF16 ? 7 : 10;
  if (x <= 0)
    return 0;
  return std::ldexp(1.0, static_cast<int>(std::floor(std::log2(x))) -
                             mantissa);
}

constexpr uint16_t kPoison = 0xffff; // NaN in bf16 and fp16

/// A bf16/fp16 tensor stored with optional padding after every dimension
/// and a leading offset, all in multiples of 8 elements so that views stay
/// 16-byte aligned (as the attention kernels require).
class LpTensor {
public:
  LpTensor(std::vector<int64_t> sizes, int32_t dtype, int64_t pad = 0,
           std::vector<int> order = {})
      : sizes_(std::move(sizes)), dtype_(dtype) {
    const int rank = static_cast<int>(sizes_.size());
    if (order.empty()) {
      order.resize(rank);
      std::iota(order.begin(), order.end(), 0);
    }
    strides_.assign(rank, 0);
    int64_t stride = 1;
    for (int p = rank - 1; p >= 0; --p) {
      strides_[order[p]] = stride;
      stride *= sizes_[order[p]] + pad;
    }
    lead_ = pad;
    storage_.assign(stride + lead_ + 8, kPoison);
    inView_.assign(storage_.size(), false);
    forEach([&](const std::vector<int64_t> &idx) {
      inView_[lead_ + offsetOf(idx)] = true;
    });
  }

  int32_t dtype() const { return dtype_; }
  const std::vector<int64_t> &sizes() const { return sizes_; }
  const std::vector<int64_t> &strides() const { return strides_; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : sizes_)
      n *= s;
    return n;
  }
  /// The whole allocation (view, padding and lead), for copies to a device.
  std::vector<uint16_t> &storage() { return storage_; }
  int64_t lead() const { return lead_; }

  /// The view over storage that starts at `base` (host or device copy).
  attn_cuda_tensor view(void *base) const {
    attn_cuda_tensor t{};
    t.data = static_cast<uint16_t *>(base) + lead_;
    t.dtype = dtype_;
    t.rank = static_cast<int32_t>(sizes_.size());
    for (size_t d = 0; d < sizes_.size(); ++d) {
      t.sizes[d] = sizes_[d];
      t.strides[d] = strides_[d];
    }
    return t;
  }
  attn_cuda_tensor hostView() { return view(storage_.data()); }

  template <typename Fn> void forEach(Fn &&fn) const {
    int64_t n = numel();
    if (n == 0)
      return;
    std::vector<int64_t> idx(sizes_.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
      fn(idx);
      for (int d = static_cast<int>(sizes_.size()) - 1; d >= 0; --d) {
        if (++idx[d] < sizes_[d])
          break;
        idx[d] = 0;
      }
    }
  }

  float get(const std::vector<int64_t> &idx) const {
    return decode(storage_[lead_ + offsetOf(idx)], dtype_);
  }
  void set(const std::vector<int64_t> &idx, float v) {
    storage_[lead_ + offsetOf(idx)] = encode(v, dtype_);
  }
  void fillUniform(std::mt19937 &rng, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    forEach([&](const std::vector<int64_t> &idx) { set(idx, dist(rng)); });
  }
  void poison() {
    forEach([&](const std::vector<int64_t> &idx) {
      storage_[lead_ + offsetOf(idx)] = kPoison;
    });
  }
  /// Logical contents, row-major.
  std::vector<double> dense() const {
    std::vector<double> out;
    out.reserve(numel());
    forEach([&](const std::vector<int64_t> &idx) { out.push_back(get(idx)); });
    return out;
  }
  bool paddingIntact() const {
    for (size_t i = 0; i < storage_.size(); ++i)
      if (!inView_[i] && storage_[i] != kPoison)
        return false;
    return true;
  }

private:
  int64_t offsetOf(const std::vector<int64_t> &idx) const {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      off += idx[d] * strides_[d];
    return off;
  }

  std::vector<int64_t> sizes_, strides_;
  int32_t dtype_;
  int64_t lead_ = 0;
  std::vector<uint16_t> storage_;
  std::vector<bool> inView_;
};

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

struct AttentionCase {
  int64_t batch, sq, skv, hq, hkv, dqk, dv;
  bool causal;
  bool decode = false;  // attn_cuda_decode_attention instead of prefill
  int splits = 0;       // decode only; 0: the library's choice
  bool mla = false;     // v is the first dv channels of k
  float logitScale = 1; // q and k drawn from ±sqrt(logitScale)
  bool padded = false;  // padded, permuted layouts and a k/v cache slice
  int32_t dtype = ATTN_DTYPE_BF16;
  uint32_t seed = 7;
};

inline std::string caseName(const AttentionCase &c) {
  std::string s = std::string(c.decode ? "decode" : "prefill") + "_B" +
                  std::to_string(c.batch) + "_Sq" + std::to_string(c.sq) +
                  "_Skv" + std::to_string(c.skv) + "_Hq" +
                  std::to_string(c.hq) + "_Hkv" + std::to_string(c.hkv) +
                  "_Dqk" + std::to_string(c.dqk) + "_Dv" +
                  std::to_string(c.dv) + (c.causal ? "_causal" : "_full");
  if (c.decode)
    s += "_splits" + std::to_string(c.splits);
  if (c.mla)
    s += "_mla";
  if (c.logitScale != 1)
    s += "_logits" + std::to_string(static_cast<int>(c.logitScale));
  if (c.padded)
    s += "_padded";
  return s + "_" + dtypeName(c.dtype);
}

inline void PrintTo(const AttentionCase &c, std::ostream *os) {
  *os << caseName(c);
}

/// The last key query i sees, or -1 (bottom-right causal alignment).
inline int64_t lastKey(const AttentionCase &c, int64_t i) {
  int64_t last = c.skv - 1;
  if (c.causal)
    last = std::min(last, i + c.skv - c.sq);
  return last;
}

/// fp64 (dtype < 0) or the rounded-at-every-step `dtype` reference;
/// o [B, Sq, Hq, Dv] row-major.
inline std::vector<double> attentionRef(const AttentionCase &c,
                                        const std::vector<double> &q,
                                        const std::vector<double> &k,
                                        const std::vector<double> &v,
                                        double scale, int32_t dtype) {
  const bool lowp = dtype >= 0;
  auto rnd = [&](double x) {
    return lowp ? static_cast<double>(roundTo(static_cast<float>(x), dtype))
                : x;
  };
  const int64_t group = c.hq / c.hkv;
  const int64_t kd = c.mla ? c.dqk : c.dv; // row length of v's storage
  std::vector<double> o(c.batch * c.sq * c.hq * c.dv, 0.0);
  std::vector<double> s(std::max<int64_t>(c.skv, 1));
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.sq; ++i)
      for (int64_t h = 0; h < c.hq; ++h) {
        const int64_t kvh = h / group, last = lastKey(c, i);
        double *out = &o[((b * c.sq + i) * c.hq + h) * c.dv];
        if (last < 0)
          continue;
        const double *qr = &q[((b * c.sq + i) * c.hq + h) * c.dqk];
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j <= last; ++j) {
          const double *kr = &k[((b * c.skv + j) * c.hkv + kvh) * c.dqk];
          double dot = 0;
          float dotf = 0;
          for (int64_t e = 0; e < c.dqk; ++e) {
            dot += qr[e] * kr[e];
            dotf += static_cast<float>(qr[e]) * static_cast<float>(kr[e]);
          }
          s[j] = lowp ? rnd(static_cast<double>(dotf) * scale) : dot * scale;
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          s[j] = lowp ? static_cast<double>(
                            std::exp(static_cast<float>(s[j] - m)))
                      : std::exp(s[j] - m);
          sum += s[j];
        }
        for (int64_t e = 0; e < c.dv; ++e) {
          double acc = 0;
          float accf = 0;
          for (int64_t j = 0; j <= last; ++j) {
            const double vv =
                c.mla ? k[((b * c.skv + j) * c.hkv + kvh) * c.dqk + e]
                      : v[((b * c.skv + j) * c.hkv + kvh) * kd + e];
            if (lowp)
              accf += static_cast<float>(rnd(s[j] / sum)) *
                      static_cast<float>(vv);
            else
              acc += s[j] / sum * vv;
          }
          out[e] = lowp ? rnd(accf) : acc;
        }
      }
  return o;
}

/// Executes one attention call on tensors whose storage lives on the host:
/// the GPU runner copies them to a device and back, the emulation runner
/// runs the kernel bodies on them in place.
class AttentionRunner {
public:
  virtual ~AttentionRunner() = default;
  /// `v` may be the same LpTensor as `k` (MLA), with vView its prefix view.
  virtual int run(const AttentionCase &c, LpTensor &q, LpTensor &k,
                  LpTensor &v, const attn_cuda_tensor &vViewOnHost,
                  LpTensor &o, double scale) = 0;
};

/// Builds the case's tensors, runs it twice (fresh poison each time),
/// checks the bound, masked rows, padding, and run-to-run identity.
inline void checkAttention(AttentionRunner &runner, const AttentionCase &c) {
  SCOPED_TRACE(caseName(c));
  std::mt19937 rng(c.seed);
  const int64_t pad = c.padded ? 8 : 0;
  // Padded: q stored [B, H, S, D]; k and v slices of a longer cache;
  // o stored [S, B, H, D].
  const int64_t cap = c.padded ? c.skv + 24 : c.skv;
  LpTensor q({c.batch, c.sq, c.hq, c.dqk}, c.dtype, pad,
             c.padded ? std::vector<int>{0, 2, 1, 3} : std::vector<int>{});
  LpTensor kCache({c.batch, cap, c.hkv, c.dqk}, c.dtype, pad);
  LpTensor vCache({c.batch, cap, c.hkv, c.mla ? 8 : c.dv}, c.dtype, pad);
  LpTensor o({c.batch, c.sq, c.hq, c.dv}, c.dtype, pad,
             c.padded ? std::vector<int>{1, 0, 2, 3} : std::vector<int>{});
  const float qk = std::sqrt(c.logitScale);
  q.fillUniform(rng, -qk, qk);
  kCache.fillUniform(rng, -qk, qk);
  vCache.fillUniform(rng, -1.f, 1.f);
  if (c.mla) // v = the first dv channels of k: give them a value's range
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t j = 0; j < cap; ++j)
        for (int64_t e = 0; e < c.dv; ++e)
          kCache.set({b, j, 0, e},
                     std::uniform_real_distribution<float>(-1, 1)(rng));

  // The logical k and v: the first skv rows of the caches.
  auto slice = [&](LpTensor &cache, int64_t d) {
    std::vector<double> out;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t j = 0; j < c.skv; ++j)
        for (int64_t h = 0; h < c.hkv; ++h)
          for (int64_t e = 0; e < d; ++e)
            out.push_back(cache.get({b, j, h, e}));
    return out;
  };
  const std::vector<double> qd = q.dense(), kd = slice(kCache, c.dqk),
                            vd = c.mla ? std::vector<double>{}
                                       : slice(vCache, c.dv);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.dqk));
  const std::vector<double> ref =
      attentionRef(c, qd, kd, vd, scale, /*dtype=*/-1);
  const std::vector<double> lowp = attentionRef(c, qd, kd, vd, scale, c.dtype);

  double maxRef = 0, lowpErr = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    maxRef = std::max(maxRef, std::fabs(ref[i]));
    lowpErr = std::max(lowpErr, std::fabs(lowp[i] - ref[i]));
  }
  const double bound = 2 * lowpErr + spacing(maxRef, c.dtype);

  std::vector<uint16_t> first;
  for (int attempt = 0; attempt < 2; ++attempt) {
    o.poison();
    attn_cuda_tensor kView = kCache.hostView();
    kView.sizes[1] = c.skv;
    attn_cuda_tensor vView = c.mla ? kView : vCache.hostView();
    vView.sizes[1] = c.skv;
    if (c.mla)
      vView.sizes[3] = c.dv;
    ASSERT_EQ(runner.run(c, q, kCache, c.mla ? kCache : vCache, vView, o,
                         scale),
              ATTN_OK)
        << attn_cuda_last_error();
    ASSERT_TRUE(o.paddingIntact()) << "wrote outside o's view";
    const std::vector<double> out = o.dense();
    double err = 0;
    size_t worst = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_TRUE(std::isfinite(out[i])) << "non-finite output at " << i;
      if (std::fabs(out[i] - ref[i]) > err) {
        err = std::fabs(out[i] - ref[i]);
        worst = i;
      }
    }
    EXPECT_LE(err, bound) << "max|out - ref| = " << err << " at " << worst
                          << " (out " << out[worst] << ", ref " << ref[worst]
                          << "), 2·max|lowp - ref| = " << 2 * lowpErr
                          << ", floor " << spacing(maxRef, c.dtype);
    // Rows that see no key are exactly 0.
    for (int64_t i = 0; i < c.sq; ++i)
      if (lastKey(c, i) < 0)
        for (int64_t b = 0; b < c.batch; ++b)
          for (int64_t h = 0; h < c.hq; ++h)
            for (int64_t e = 0; e < c.dv; ++e)
              ASSERT_EQ(o.get({b, i, h, e}), 0.0f)
                  << "masked row " << i << " head " << h;
    if (attempt == 0)
      first = o.storage();
    else
      EXPECT_TRUE(first == o.storage()) << "two runs differ";
  }
}

inline AttentionCase withDtype(AttentionCase c, int32_t dtype) {
  c.dtype = dtype;
  return c;
}

/// The shape sweep both runners use (shared/RELIABILITY.md): odd lengths,
/// decode, kv_len 1 and 0, GQA and MQA, Dqk != Dv, causal with Sq < Skv and
/// Sq > Skv, large logits, padded layouts, MLA; each in bf16 and fp16.
/// `withSeeds` adds the emulator's adversarial-schedule runs.
inline std::vector<AttentionCase> attentionSweep(bool withSeeds) {
  std::vector<AttentionCase> base = {
      // Prefill: odd lengths, causal and not, each head-dim bucket.
      {1, 1, 1, 1, 1, 64, 64, false},
      {1, 17, 17, 2, 2, 64, 64, true},
      {1, 113, 113, 1, 1, 64, 64, false},
      {1, 113, 113, 2, 1, 128, 128, true},
      {2, 17, 17, 2, 2, 32, 32, true},
      {1, 17, 33, 2, 2, 96, 96, false},
      {1, 40, 40, 1, 1, 192, 192, true},
      {1, 33, 40, 1, 1, 256, 256, true},
      // Causal with Sq < Skv and Sq > Skv (rows before the first key → 0).
      {1, 17, 113, 4, 2, 64, 64, true},
      {1, 70, 17, 2, 2, 64, 64, true},
      // GQA and MQA, Dqk != Dv, head dims that are multiples of 8 only.
      {1, 33, 33, 8, 2, 64, 64, true},
      {1, 33, 33, 4, 1, 128, 64, false},
      {1, 33, 33, 2, 2, 64, 128, true},
      {1, 21, 21, 2, 1, 72, 40, true},
      {1, 21, 29, 2, 2, 192, 128, true},
      // kv_len 1, and no keys at all.
      {2, 5, 1, 2, 2, 64, 64, false},
      {1, 3, 0, 2, 1, 64, 64, false},
  };
  // Large logits (×100): the running max keeps exp2 finite.
  AttentionCase large{1, 33, 33, 2, 2, 64, 64, true};
  large.logitScale = 100;
  base.push_back(large);
  // Padded, permuted layouts; k/v slices of a longer cache.
  AttentionCase padded{2, 17, 29, 4, 2, 64, 64, true};
  padded.padded = true;
  base.push_back(padded);

  // Decode: one query per head over caches that are not multiples of the
  // tile, forced and automatic splits, GQA groups 1, 4, 8.
  auto decode = [](AttentionCase c, int splits) {
    c.decode = true;
    c.splits = splits;
    return c;
  };
  for (int splits : {0, 1, 3})
    base.push_back(decode({2, 1, 113, 8, 2, 128, 128, true}, splits));
  base.push_back(decode({1, 1, 1, 4, 4, 64, 64, true}, 0));
  base.push_back(decode({1, 1, 200, 8, 1, 64, 64, false}, 4));
  base.push_back(decode({1, 1, 70, 4, 2, 256, 256, true}, 2));
  base.push_back(decode({1, 1, 0, 4, 2, 128, 128, true}, 0));
  // Several queries per step (speculative decode) with causal masking.
  base.push_back(decode({1, 3, 50, 8, 2, 64, 64, true}, 2));
  // Decode's rows span more than one block: 8 heads × 3 queries = 24 > 16.
  base.push_back(decode({1, 3, 40, 8, 1, 128, 128, true}, 2));
  AttentionCase paddedDecode = decode({2, 1, 45, 4, 2, 64, 64, true}, 3);
  paddedDecode.padded = true;
  base.push_back(paddedDecode);

  // MLA absorbed: one kv head, k = [c ; k_rope] (512 + 64), v = c.
  auto mla = [&](int64_t hq, int64_t sq, int64_t skv, int splits) {
    AttentionCase c = decode({1, sq, skv, hq, 1, 576, 512, true}, splits);
    c.mla = true;
    return c;
  };
  base.push_back(mla(16, 1, 70, 1));
  base.push_back(mla(16, 1, 130, 3));
  base.push_back(mla(32, 1, 65, 2));
  base.push_back(mla(8, 2, 33, 0));
  AttentionCase mlaPrefill = mla(4, 5, 9, 1);
  mlaPrefill.decode = false; // attn_cuda_attention on MLA dims
  base.push_back(mlaPrefill);

  std::vector<AttentionCase> all;
  for (const AttentionCase &c : base) {
    all.push_back(withDtype(c, ATTN_DTYPE_BF16));
    all.push_back(withDtype(c, ATTN_DTYPE_F16));
  }
  // Seeded runs: another warp leads, and each cp.async group lands either at
  // its commit or at its wait. With at least three key tiles per block a
  // stage is reloaded while a slower warp might still read it, so a missing
  // barrier shows. One case per kernel family.
  if (!withSeeds)
    return all;
  std::vector<AttentionCase> seeded = {
      {1, 70, 300, 2, 1, 128, 128, true},
      {1, 40, 200, 1, 1, 256, 256, false},
      decode({2, 1, 300, 8, 2, 128, 128, true}, 1),
      decode({1, 1, 300, 4, 1, 64, 64, false}, 2),
      mla(16, 1, 200, 1),
      mla(32, 1, 230, 1),
  };
  for (AttentionCase c : seeded)
    for (uint32_t seed : {12345u, 777u}) {
      c.seed = seed;
      all.push_back(c);
    }
  return all;
}

} // namespace attenuate::cuda::test

#endif // ATTENUATE_TEST_UNIT_CUDA_CUDATESTUTIL_H

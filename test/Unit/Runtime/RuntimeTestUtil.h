//===- RuntimeTestUtil.h - tensors and fp64 references for kernel tests --===//
//
// The references are plain fp64 loops over logical indices, written here and
// sharing nothing with the kernels. Tensors can be stored in any layout the
// kernels must accept: dimensions permuted, padded, elements spaced apart.
// Storage outside the view holds NaN, so a kernel that reads outside its
// view poisons its result, and one that writes outside is caught by
// paddingIntact().
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H
#define ATTENUATE_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H

#include "attenuate/Runtime/attn_runtime.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace attenuate::runtime::test {

/// The bound every kernel is held to against its fp64 reference:
/// max|out - ref| <= kRelTol · max|ref| over the whole output.
constexpr double kRelTol = 1e-5;

/// How a tensor is stored. `order` lists the logical dims from outermost to
/// innermost in memory (empty: row-major); every stored dim has `pad` extra
/// elements; consecutive innermost elements are `step` apart; the view
/// starts `lead` elements into the buffer.
struct Layout {
  std::vector<int> order;
  int64_t pad = 0;
  int64_t step = 1;
  int64_t lead = 0;
  std::string name = "contiguous";
};

inline Layout contiguous() { return {}; }
/// A permuted, padded layout that BLAS can still read in place when the
/// innermost dim stays last.
inline Layout strided(std::vector<int> order, int64_t pad = 3) {
  return {std::move(order), pad, 1, 5, "strided"};
}
/// Innermost elements two apart: forces the copying paths.
inline Layout scattered(std::vector<int> order = {}, int64_t pad = 1) {
  return {std::move(order), pad, 2, 3, "scattered"};
}

class Tensor {
public:
  explicit Tensor(std::vector<int64_t> sizes, Layout layout = {})
      : sizes_(std::move(sizes)) {
    int rank = static_cast<int>(sizes_.size());
    std::vector<int> order = layout.order;
    if (order.empty()) {
      order.resize(rank);
      std::iota(order.begin(), order.end(), 0);
    }
    strides_.assign(rank, 0);
    int64_t stride = layout.step;
    for (int p = rank - 1; p >= 0; --p) {
      strides_[order[p]] = stride;
      stride *= sizes_[order[p]] + layout.pad;
    }
    storage_.assign(stride + layout.lead,
                    std::numeric_limits<float>::quiet_NaN());
    lead_ = layout.lead;
    inView_.assign(storage_.size(), false);
    forEach([&](const std::vector<int64_t> &idx) {
      inView_[lead_ + offsetOf(idx)] = true;
    });
  }

  int rank() const { return static_cast<int>(sizes_.size()); }
  const std::vector<int64_t> &sizes() const { return sizes_; }
  const std::vector<int64_t> &strides() const { return strides_; }
  float *data() { return storage_.data() + lead_; }
  float *base() { return storage_.data(); }
  int64_t lead() const { return lead_; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : sizes_)
      n *= s;
    return n;
  }

  attn_view_f32 view() {
    attn_view_f32 v{};
    v.data = data();
    v.rank = rank();
    for (int d = 0; d < rank(); ++d) {
      v.sizes[d] = sizes_[d];
      v.strides[d] = strides_[d];
    }
    return v;
  }

  float &at(const std::vector<int64_t> &idx) {
    return storage_[lead_ + offsetOf(idx)];
  }

  /// Calls fn(index) for every logical index in row-major order.
  template <typename Fn> void forEach(Fn &&fn) const {
    if (numel() == 0)
      return;
    std::vector<int64_t> idx(rank(), 0);
    for (;;) {
      fn(idx);
      int d = rank() - 1;
      while (d >= 0 && ++idx[d] == sizes_[d])
        idx[d--] = 0;
      if (d < 0)
        return;
    }
  }

  void fillUniform(std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    forEach([&](const std::vector<int64_t> &idx) { at(idx) = dist(rng); });
  }
  void fillInts(std::mt19937 &rng, int lo, int hi) {
    std::uniform_int_distribution<int> dist(lo, hi);
    forEach([&](const std::vector<int64_t> &idx) {
      at(idx) = static_cast<float>(dist(rng));
    });
  }
  void fill(float value) {
    forEach([&](const std::vector<int64_t> &idx) { at(idx) = value; });
  }

  /// The logical contents, row-major, in fp64.
  std::vector<double> dense() const {
    std::vector<double> out;
    out.reserve(numel());
    forEach([&](const std::vector<int64_t> &idx) {
      out.push_back(storage_[lead_ + offsetOf(idx)]);
    });
    return out;
  }
  std::vector<float> values() const {
    std::vector<float> out;
    forEach([&](const std::vector<int64_t> &idx) {
      out.push_back(storage_[lead_ + offsetOf(idx)]);
    });
    return out;
  }

  /// Whether every element outside the view is still NaN.
  bool paddingIntact() const {
    for (size_t i = 0; i < storage_.size(); ++i)
      if (!inView_[i] && !std::isnan(storage_[i]))
        return false;
    return true;
  }

private:
  int64_t offsetOf(const std::vector<int64_t> &idx) const {
    int64_t off = 0;
    for (int d = 0; d < rank(); ++d)
      off += idx[d] * strides_[d];
    return off;
  }

  std::vector<int64_t> sizes_, strides_;
  std::vector<float> storage_;
  std::vector<bool> inView_;
  int64_t lead_ = 0;
};

/// max|out - ref| / max|ref|; infinite if out holds a NaN or an infinity.
inline double relError(const std::vector<float> &out,
                       const std::vector<double> &ref) {
  if (out.size() != ref.size())
    return std::numeric_limits<double>::infinity();
  double maxDiff = 0, maxRef = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]))
      return std::numeric_limits<double>::infinity();
    maxDiff = std::max(maxDiff, std::fabs(out[i] - ref[i]));
    maxRef = std::max(maxRef, std::fabs(ref[i]));
  }
  if (maxRef == 0)
    return maxDiff;
  return maxDiff / maxRef;
}

inline bool bitwiseEqual(const std::vector<float> &a,
                         const std::vector<float> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

//===----------------------------------------------------------------------===//
// fp64 references, on row-major dense arrays.
//===----------------------------------------------------------------------===//

/// y [rows, out] = x [rows, in] · wᵀ (+ b).
inline std::vector<double> linearRef(const std::vector<double> &x,
                                     const std::vector<double> &w,
                                     const std::vector<double> *b, int64_t rows,
                                     int64_t in, int64_t out) {
  std::vector<double> y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b ? (*b)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i)
        acc += x[r * in + i] * w[o * in + i];
      y[r * out + o] = acc;
    }
  return y;
}

inline std::vector<double> mlpRef(const std::vector<double> &x,
                                  const std::vector<double> &gate,
                                  const std::vector<double> &up,
                                  const std::vector<double> &down, int64_t rows,
                                  int64_t d, int64_t inter) {
  std::vector<double> g = linearRef(x, gate, nullptr, rows, d, inter);
  std::vector<double> u = linearRef(x, up, nullptr, rows, d, inter);
  for (size_t i = 0; i < g.size(); ++i)
    g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
  return linearRef(g, down, nullptr, rows, inter, d);
}

struct AttentionShape {
  int64_t batch, queries, keys, qHeads, kvHeads, dqk, dv;
  bool causal;
};

/// o [B, Sq, Hq, Dv] from q [B, Sq, Hq, Dqk], k [B, Skv, Hkv, Dqk],
/// v [B, Skv, Hkv, Dv]: the definition, one query row at a time.
inline std::vector<double> attentionRef(const std::vector<double> &q,
                                        const std::vector<double> &k,
                                        const std::vector<double> &v,
                                        const AttentionShape &s, double scale) {
  std::vector<double> o(s.batch * s.queries * s.qHeads * s.dv, 0.0);
  int64_t group = s.qHeads / s.kvHeads;
  std::vector<double> logits(s.keys);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t i = 0; i < s.queries; ++i)
      for (int64_t h = 0; h < s.qHeads; ++h) {
        int64_t kvh = h / group;
        int64_t last = s.causal ? i + s.keys - s.queries : s.keys - 1;
        last = std::min(last, s.keys - 1);
        double *out = &o[((b * s.queries + i) * s.qHeads + h) * s.dv];
        if (last < 0)
          continue;
        double maxLogit = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j <= last; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < s.dqk; ++e)
            dot += q[((b * s.queries + i) * s.qHeads + h) * s.dqk + e] *
                   k[((b * s.keys + j) * s.kvHeads + kvh) * s.dqk + e];
          logits[j] = scale * dot;
          maxLogit = std::max(maxLogit, logits[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          double p = std::exp(logits[j] - maxLogit);
          sum += p;
          for (int64_t e = 0; e < s.dv; ++e)
            out[e] += p * v[((b * s.keys + j) * s.kvHeads + kvh) * s.dv + e];
        }
        for (int64_t e = 0; e < s.dv; ++e)
          out[e] /= sum;
      }
  return o;
}

//===----------------------------------------------------------------------===//
// MLIR memref descriptors, built by hand as the JIT would.
//===----------------------------------------------------------------------===//

/// StridedMemRefType<float, N> as MLIR's C interface lays it out.
template <int N> struct Descriptor {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[N];
  int64_t strides[N];
};

/// A descriptor for `t` whose allocated pointer is deliberately bogus (the
/// runtime must use aligned + offset only) and whose offset is not 0.
template <int N> Descriptor<N> describe(Tensor &t) {
  Descriptor<N> d{};
  d.allocated = reinterpret_cast<float *>(uintptr_t{0x10});
  d.aligned = t.base();
  d.offset = t.lead();
  for (int i = 0; i < N; ++i) {
    d.sizes[i] = t.sizes()[i];
    d.strides[i] = t.strides()[i];
  }
  return d;
}

template <int N> attn_unranked_memref unranked(Descriptor<N> &d) {
  return attn_unranked_memref{N, &d};
}

} // namespace attenuate::runtime::test

#endif // ATTENUATE_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H

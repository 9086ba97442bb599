//===- ElementwiseTestUtil.h - RoPE, cache appends, RMSNorm, SiLU·mul -----===//
//
// Cases and fp64 references for the row-wise kernels, checked through an
// ElementwiseRunner (GPU or emulator), like CudaTestUtil.h for attention.
// Each output element is one fp32 computation rounded once to the dtype, so
// the bound is per element: |out − ref| ≤ one spacing of the dtype at |ref|
// (two rounding steps) + 1e-6 for fp32 cancellation near zero.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_TEST_UNIT_CUDA_ELEMENTWISETESTUTIL_H
#define ATTENUATE_TEST_UNIT_CUDA_ELEMENTWISETESTUTIL_H

#include "CudaTestUtil.h"

namespace attenuate::cuda::test {

class ElementwiseRunner {
public:
  virtual ~ElementwiseRunner() = default;
  /// `positions` empty: positions are offset + s. `y` may be `x`.
  virtual int rope(LpTensor &x, const std::vector<int64_t> &positions,
                   int64_t offset, const attn_rope_config &cfg,
                   LpTensor &y) = 0;
  /// `cacheView` is a view into cache's storage (base = its host storage).
  virtual int ropeAppend(LpTensor &x, const std::vector<int64_t> &positions,
                         int64_t offset, const attn_rope_config &cfg,
                         LpTensor &cache, const attn_cuda_tensor &cacheView,
                         int64_t pos) = 0;
  virtual int cacheAppend(LpTensor &x, const attn_cuda_tensor &xView,
                          LpTensor &cache, const attn_cuda_tensor &cacheView,
                          int64_t pos) = 0;
  virtual int rmsNorm(LpTensor &x, LpTensor &w, double eps, LpTensor &y) = 0;
  /// gate and up are views into one fused [rows, 2I] tensor.
  virtual int siluMul(LpTensor &fused, const attn_cuda_tensor &gate,
                      const attn_cuda_tensor &up, LpTensor &y) = 0;
};

inline double elementBound(double ref, int32_t dtype) {
  return spacing(std::fabs(ref), dtype) + 1e-6;
}

/// The rotated value of channel c of a row, fp64.
inline double ropeRef(const std::vector<double> &row, int64_t c,
                      int64_t position, const attn_rope_config &cfg) {
  const int64_t rot = cfg.rotary_dim, half = rot / 2;
  if (c >= rot)
    return row[c];
  const int64_t base = cfg.base_dim ? cfg.base_dim : rot;
  int64_t j, partner;
  bool first;
  if (cfg.interleaved) {
    j = c / 2;
    first = c % 2 == 0;
    partner = first ? c + 1 : c - 1;
  } else {
    j = c < half ? c : c - half;
    first = c < half;
    partner = first ? c + half : c - half;
  }
  const double f = cfg.frequencies ? cfg.frequencies[j] : j;
  const double angle =
      position * std::pow(cfg.theta, -2.0 * f / static_cast<double>(base));
  return first ? row[c] * std::cos(angle) - row[partner] * std::sin(angle)
               : row[c] * std::cos(angle) + row[partner] * std::sin(angle);
}

inline std::vector<double> rowOf(const LpTensor &t,
                                 std::vector<int64_t> idx, int64_t dim) {
  std::vector<double> row(dim);
  for (int64_t c = 0; c < dim; ++c) {
    idx.back() = c;
    row[c] = t.get(idx);
  }
  return row;
}

struct RopeCase {
  int64_t batch, seq, heads, dim, rotary;
  bool interleaved;
  bool explicitPositions;
  bool inPlace;
  std::vector<int64_t> frequencies; // empty: j
  int64_t baseDim = 0;
  int32_t dtype = ATTN_DTYPE_BF16;
};

inline void checkRope(ElementwiseRunner &runner, const RopeCase &c) {
  std::mt19937 rng(3);
  LpTensor x({c.batch, c.seq, c.heads, c.dim}, c.dtype, 8, {0, 2, 1, 3});
  LpTensor y({c.batch, c.seq, c.heads, c.dim}, c.dtype);
  x.fillUniform(rng, -2, 2);
  const LpTensor original = x;
  std::vector<int64_t> positions;
  const int64_t offset = 37;
  if (c.explicitPositions) {
    std::uniform_int_distribution<int64_t> pos(0, 131071);
    for (int64_t i = 0; i < c.batch * c.seq; ++i)
      positions.push_back(pos(rng));
  }
  attn_rope_config cfg{};
  cfg.theta = 500000.0;
  cfg.rotary_dim = c.rotary;
  cfg.base_dim = c.baseDim;
  cfg.interleaved = c.interleaved;
  cfg.frequencies = c.frequencies.empty() ? nullptr : c.frequencies.data();
  LpTensor &out = c.inPlace ? x : y;
  ASSERT_EQ(runner.rope(x, positions, offset, cfg, out), ATTN_OK)
      << attn_cuda_last_error();
  EXPECT_TRUE(out.paddingIntact());
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t s = 0; s < c.seq; ++s)
      for (int64_t h = 0; h < c.heads; ++h) {
        const std::vector<double> row = rowOf(original, {b, s, h, 0}, c.dim);
        const int64_t p =
            c.explicitPositions ? positions[b * c.seq + s] : offset + s;
        for (int64_t e = 0; e < c.dim; ++e) {
          const double ref = ropeRef(row, e, p, cfg);
          const double got = out.get({b, s, h, e});
          ASSERT_LE(std::fabs(got - ref), elementBound(ref, c.dtype))
              << "b " << b << " s " << s << " h " << h << " channel " << e
              << ": " << got << " vs " << ref;
        }
      }
}

inline void checkRopeCacheAppend(ElementwiseRunner &runner, int32_t dtype) {
  std::mt19937 rng(4);
  const int64_t B = 2, S = 3, H = 2, D = 64, C = 10, pos = 4;
  LpTensor x({B, S, H, D}, dtype);
  LpTensor cache({B, C, H, D}, dtype, 8);
  x.fillUniform(rng, -1, 1);
  cache.fillUniform(rng, -1, 1);
  const LpTensor before = cache;
  attn_rope_config cfg{};
  cfg.theta = 10000.0;
  cfg.rotary_dim = D;
  ASSERT_EQ(runner.ropeAppend(x, {}, pos, cfg, cache, cache.hostView(), pos),
            ATTN_OK)
      << attn_cuda_last_error();
  EXPECT_TRUE(cache.paddingIntact());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < C; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const bool written = t >= pos && t < pos + S;
        const std::vector<double> row =
            written ? rowOf(x, {b, t - pos, h, 0}, D) : std::vector<double>{};
        for (int64_t e = 0; e < D; ++e) {
          const double got = cache.get({b, t, h, e});
          if (!written) {
            ASSERT_EQ(got, before.get({b, t, h, e})) << "row " << t;
            continue;
          }
          const double ref = ropeRef(row, e, t, cfg);
          ASSERT_LE(std::fabs(got - ref), elementBound(ref, dtype))
              << "b " << b << " t " << t << " channel " << e;
        }
      }
  // A write past the capacity is refused and leaves the cache alone.
  EXPECT_EQ(runner.ropeAppend(x, {}, 8, cfg, cache, cache.hostView(), 8),
            ATTN_ERR_SHAPE);
  EXPECT_NE(std::string(attn_cuda_last_error()).find("capacity"),
            std::string::npos)
      << attn_cuda_last_error();
}

/// MLA's cache [B, C, 1, 576]: the latent c goes to channels [0, 512) by a
/// plain append, the rope key to [512, 576) rotated, both through views.
inline void checkMlaAppend(ElementwiseRunner &runner, int32_t dtype) {
  std::mt19937 rng(5);
  const int64_t B = 2, S = 2, C = 6, pos = 3;
  LpTensor latent({B, S, 512}, dtype);
  LpTensor kRope({B, S, 1, 64}, dtype);
  LpTensor cache({B, C, 1, 576}, dtype);
  latent.fillUniform(rng, -1, 1);
  kRope.fillUniform(rng, -1, 1);
  cache.fillUniform(rng, -1, 1);
  attn_cuda_tensor latentView = cache.hostView();
  latentView.rank = 3;
  latentView.sizes[2] = 512;
  latentView.strides[2] = 1;
  attn_cuda_tensor ropeView = cache.hostView();
  ropeView.data = static_cast<uint16_t *>(ropeView.data) + 512;
  ropeView.sizes[3] = 64;
  ASSERT_EQ(runner.cacheAppend(latent, latent.hostView(), cache, latentView,
                               pos),
            ATTN_OK)
      << attn_cuda_last_error();
  attn_rope_config cfg{};
  cfg.theta = 10000.0;
  cfg.rotary_dim = 64;
  cfg.interleaved = 1;
  ASSERT_EQ(runner.ropeAppend(kRope, {}, pos, cfg, cache, ropeView, pos),
            ATTN_OK)
      << attn_cuda_last_error();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      for (int64_t e = 0; e < 512; ++e)
        ASSERT_EQ(cache.get({b, pos + s, 0, e}), latent.get({b, s, e}));
      const std::vector<double> row = rowOf(kRope, {b, s, 0, 0}, 64);
      for (int64_t e = 0; e < 64; ++e) {
        const double ref = ropeRef(row, e, pos + s, cfg);
        ASSERT_LE(std::fabs(cache.get({b, pos + s, 0, 512 + e}) - ref),
                  elementBound(ref, dtype));
      }
    }
}

inline void checkRmsNorm(ElementwiseRunner &runner, int64_t rows,
                         int64_t dim, int32_t dtype) {
  std::mt19937 rng(6);
  LpTensor x({rows, dim}, dtype, 8);
  LpTensor w({dim}, dtype);
  LpTensor y({rows, dim}, dtype, 8);
  x.fillUniform(rng, -3, 3);
  w.fillUniform(rng, 0.5, 1.5);
  const double eps = 1e-5;
  ASSERT_EQ(runner.rmsNorm(x, w, eps, y), ATTN_OK) << attn_cuda_last_error();
  EXPECT_TRUE(y.paddingIntact());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < dim; ++c)
      ss += x.get({r, c}) * x.get({r, c});
    const double scale = 1.0 / std::sqrt(ss / dim + eps);
    for (int64_t c = 0; c < dim; ++c) {
      const double ref = x.get({r, c}) * scale * w.get({c});
      ASSERT_LE(std::fabs(y.get({r, c}) - ref), elementBound(ref, dtype))
          << "row " << r << " col " << c;
    }
  }
}

inline void checkSiluMul(ElementwiseRunner &runner, int64_t rows,
                         int64_t inter, int32_t dtype) {
  std::mt19937 rng(8);
  LpTensor fused({rows, 2 * inter}, dtype);
  LpTensor y({rows, inter}, dtype, 8);
  fused.fillUniform(rng, -6, 6);
  attn_cuda_tensor gate = fused.hostView(), up = fused.hostView();
  gate.sizes[1] = inter;
  up.sizes[1] = inter;
  up.data = static_cast<uint16_t *>(up.data) + inter;
  ASSERT_EQ(runner.siluMul(fused, gate, up, y), ATTN_OK)
      << attn_cuda_last_error();
  EXPECT_TRUE(y.paddingIntact());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < inter; ++c) {
      const double g = fused.get({r, c}), u = fused.get({r, inter + c});
      const double ref = g / (1 + std::exp(-g)) * u;
      ASSERT_LE(std::fabs(y.get({r, c}) - ref), elementBound(ref, dtype))
          << "row " << r << " col " << c;
    }
}

inline std::vector<RopeCase> ropeCases() {
  std::vector<RopeCase> base = {
      {2, 5, 3, 64, 64, false, false, false, {}},
      {2, 5, 3, 128, 64, true, true, false, {}},
      {1, 4, 2, 64, 32, false, true, true, {}},
      // A3's kept frequencies: pairs 0, 3, 7, 12 of a 32-dim base.
      {1, 3, 2, 8, 8, false, false, false, {0, 3, 7, 12}, 32},
  };
  std::vector<RopeCase> all;
  for (RopeCase c : base)
    for (int32_t dtype : {ATTN_DTYPE_BF16, ATTN_DTYPE_F16}) {
      c.dtype = dtype;
      all.push_back(c);
    }
  return all;
}

} // namespace attenuate::cuda::test

#endif // ATTENUATE_TEST_UNIT_CUDA_ELEMENTWISETESTUTIL_H

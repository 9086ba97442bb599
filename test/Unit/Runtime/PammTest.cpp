//===- PammTest.cpp - PAMM and projection-gradient kernels ----------------===//
//
// Against the op definitions (AttnOps.td) written as fp64 loops here: the
// compress result is checked for what it must be (generators are distinct
// rows of x, a generator is its own, the assignment is an argmax of |cos|,
// the scale is the projection coefficient), not against a second copy of the
// sampling code. Bound for the gradients: max|out - ref| <= 1e-5 · max|ref|.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <gtest/gtest.h>

#include <set>

using namespace attenuate::runtime::test;

namespace {

/// An int32 buffer seen as a per-token view of `sizes`, elements `step`
/// apart, padded with a sentinel to catch writes outside the view.
struct IntTensor {
  static constexpr int32_t kSentinel = -777;
  IntTensor(std::vector<int64_t> sizes, int64_t step = 1)
      : sizes(std::move(sizes)), step(step) {
    int64_t n = 1;
    for (int64_t s : this->sizes)
      n *= s;
    storage.assign(n * step + 1, kSentinel);
  }
  attn_view_i32 view() {
    attn_view_i32 v{};
    v.data = storage.data();
    v.rank = static_cast<int32_t>(sizes.size());
    int64_t stride = step;
    for (int d = v.rank - 1; d >= 0; --d) {
      v.sizes[d] = sizes[d];
      v.strides[d] = stride;
      stride *= sizes[d];
    }
    return v;
  }
  int32_t at(int64_t t) const { return storage[t * step]; }
  bool paddingIntact() const {
    for (size_t i = 0; i < storage.size(); ++i)
      if (i % step != 0 || i + 1 == storage.size())
        if (storage[i] != kSentinel)
          return false;
    return true;
  }
  std::vector<int64_t> sizes;
  int64_t step;
  std::vector<int32_t> storage;
};

std::vector<int64_t> leading(const std::vector<int64_t> &sizes) {
  return std::vector<int64_t>(sizes.begin(), sizes.end() - 1);
}

struct Compressed {
  Tensor c, alpha;
  IntTensor f;
  int64_t b, k, n;
};

Compressed compress(Tensor &x, double ratio, uint64_t seed, double epsilon,
                    Layout cLayout = {}, Layout aLayout = {},
                    int64_t fStep = 1) {
  std::vector<int64_t> lead = leading(x.sizes());
  int64_t b = 1;
  for (int64_t s : lead)
    b *= s;
  int64_t n = x.sizes().back();
  int64_t k = attn_pamm_num_generators(b, ratio);
  Compressed out{Tensor({k, n}, cLayout), Tensor(lead, aLayout),
                 IntTensor(lead, fStep), b, k, n};
  attn_view_f32 xv = x.view(), cv = out.c.view(), av = out.alpha.view();
  attn_view_i32 fv = out.f.view();
  EXPECT_EQ(attn_pamm_compress_f32(&xv, ratio, seed, epsilon, &cv, &fv, &av),
            ATTN_OK)
      << attn_last_error();
  EXPECT_TRUE(out.c.paddingIntact() && out.alpha.paddingIntact() &&
              out.f.paddingIntact())
      << "wrote outside an output view";
  return out;
}

double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

/// Checks everything the op description promises about a compression.
void checkDefinition(Tensor &x, Compressed &p) {
  std::vector<double> xs = x.dense(), cs = p.c.dense(), as = p.alpha.dense();
  int64_t n = p.n;
  std::set<int64_t> sources;
  std::vector<int64_t> generatorOf(p.b, -1);
  for (int64_t j = 0; j < p.k; ++j) {
    int64_t found = -1;
    for (int64_t t = 0; t < p.b && found < 0; ++t)
      if (std::equal(&cs[j * n], &cs[j * n] + n, &xs[t * n]) &&
          !sources.count(t))
        found = t;
    ASSERT_GE(found, 0) << "generator " << j << " is not a row of x";
    sources.insert(found);
    generatorOf[found] = j;
  }
  for (int64_t t = 0; t < p.b; ++t) {
    int32_t f = p.f.at(t);
    ASSERT_TRUE(f >= 0 && f < p.k) << "f[" << t << "] = " << f;
    const double *xt = &xs[t * n];
    if (generatorOf[t] >= 0) {
      EXPECT_EQ(f, generatorOf[t]) << "a generator is its own";
      EXPECT_EQ(as[t], 1.0);
      continue;
    }
    const double *cf = &cs[f * n];
    double nf = dot(cf, cf, n);
    double best = dot(xt, cf, n) * dot(xt, cf, n) / nf;
    for (int64_t j = 0; j < p.k; ++j) {
      const double *cj = &cs[j * n];
      double s = dot(xt, cj, n);
      EXPECT_LE(s * s / dot(cj, cj, n), best * (1 + 1e-5) + 1e-12)
          << "token " << t << ": generator " << j << " beats " << f;
    }
    EXPECT_NEAR(as[t], dot(xt, cf, n) / nf, 1e-5 * (1 + std::fabs(as[t])));
  }
}

/// dW [out, in] = Σ_t dz_t ⊗ (α_t C_f(t)), in fp64.
std::vector<double> pammRef(Tensor &dz, Compressed &p) {
  std::vector<double> zs = dz.dense(), cs = p.c.dense(), as = p.alpha.dense();
  int64_t out = dz.sizes().back();
  std::vector<double> w(out * p.n, 0.0);
  for (int64_t t = 0; t < p.b; ++t)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < p.n; ++i)
        w[o * p.n + i] += zs[t * out + o] * as[t] * cs[p.f.at(t) * p.n + i];
  return w;
}

std::vector<float> gradWeight(Tensor &dz, Compressed &p, Layout wLayout = {}) {
  Tensor dw({dz.sizes().back(), p.n}, wLayout);
  attn_view_f32 zv = dz.view(), cv = p.c.view(), av = p.alpha.view(),
                wv = dw.view();
  attn_view_i32 fv = p.f.view();
  EXPECT_EQ(attn_pamm_grad_weight_f32(&zv, &cv, &fv, &av, &wv), ATTN_OK)
      << attn_last_error();
  EXPECT_LT(relError(dw.values(), pammRef(dz, p)), kRelTol);
  EXPECT_TRUE(dw.paddingIntact());
  return dw.values();
}

TEST(Pamm, CompressFollowsTheDefinition) {
  std::mt19937 rng(3);
  for (double ratio : {1.0 / 8, 1.0 / 3, 0.5}) {
    Tensor x({3, 17, 24}, strided({1, 0, 2}));
    x.fillUniform(rng);
    Compressed p = compress(x, ratio, 41, 1.0, strided({1, 0}),
                            scattered(), /*fStep=*/2);
    EXPECT_EQ(p.k, static_cast<int64_t>(std::ceil(ratio * 51)));
    checkDefinition(x, p);
    Tensor dz({3, 17, 9}, scattered());
    dz.fillUniform(rng);
    gradWeight(dz, p, strided({1, 0}));
  }
}

TEST(Pamm, RatioOneIsTheExactGradient) {
  std::mt19937 rng(4);
  Tensor x({2, 64, 40}, scattered({1, 0, 2})), dz({2, 64, 24});
  x.fillUniform(rng);
  dz.fillUniform(rng);
  Compressed p = compress(x, 1.0, 5, 1.0);
  ASSERT_EQ(p.k, 128);
  for (int64_t t = 0; t < p.b; ++t)
    EXPECT_EQ(p.alpha.values()[t], 1.0f);
  std::vector<float> dw = gradWeight(dz, p);
  std::vector<double> xs = x.dense(), zs = dz.dense(), exact(24 * 40, 0.0);
  for (int64_t t = 0; t < 128; ++t)
    for (int64_t o = 0; o < 24; ++o)
      for (int64_t i = 0; i < 40; ++i)
        exact[o * 40 + i] += zs[t * 24 + o] * xs[t * 40 + i];
  EXPECT_LT(relError(dw, exact), kRelTol);
}

TEST(Pamm, EpsilonDropsAndRescales) {
  std::mt19937 rng(6);
  // Uniform tokens in 8 dims: about half lie within the epsilon 0.5
  // neighbourhood of their best generator line.
  Tensor x({256, 8});
  x.fillUniform(rng);
  Compressed all = compress(x, 1.0 / 16, 8, 1.0);
  Compressed gated = compress(x, 1.0 / 16, 8, 0.5);
  std::vector<float> a = all.alpha.values(), g = gated.alpha.values();
  int64_t kept = 0;
  for (float v : g)
    kept += v != 0.0f;
  ASSERT_GT(kept, 16);
  ASSERT_LT(kept, 256);
  for (int64_t t = 0; t < 256; ++t) {
    EXPECT_EQ(all.f.at(t), gated.f.at(t));
    if (g[t] != 0.0f)
      EXPECT_NEAR(g[t], a[t] * 256.0 / kept, 1e-5 * std::fabs(g[t]));
  }
}

TEST(Pamm, DeterministicAcrossThreads) {
  std::mt19937 rng(7);
  Tensor x({1000, 48}), dz({1000, 20});
  x.fillUniform(rng);
  dz.fillUniform(rng);
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 3}) {
    attn_set_num_threads(threads);
    Compressed p = compress(x, 1.0 / 32, 9, 1.0);
    std::vector<float> r = p.alpha.values();
    std::vector<float> w = gradWeight(dz, p);
    r.insert(r.end(), w.begin(), w.end());
    for (int64_t t = 0; t < p.b; ++t)
      r.push_back(static_cast<float>(p.f.at(t)));
    runs.push_back(r);
  }
  attn_set_num_threads(0);
  EXPECT_TRUE(bitwiseEqual(runs[0], runs[1]));
}

TEST(Pamm, NumGenerators) {
  EXPECT_EQ(attn_pamm_num_generators(0, 0.5), 0);
  EXPECT_EQ(attn_pamm_num_generators(1, 1.0 / 512), 1);
  EXPECT_EQ(attn_pamm_num_generators(2048, 1.0 / 512), 4);
  EXPECT_EQ(attn_pamm_num_generators(2049, 1.0 / 512), 5);
  EXPECT_EQ(attn_pamm_num_generators(10, 1.0), 10);
  EXPECT_EQ(attn_pamm_num_generators(10, 0.0), -1);
  EXPECT_EQ(attn_pamm_num_generators(10, 1.5), -1);
  EXPECT_EQ(attn_pamm_num_generators(-1, 0.5), -1);
}

TEST(Pamm, BadInputsAreErrors) {
  Tensor x({16, 8}), c({4, 8}), alpha({16}), dz({16, 4}), dw({4, 8});
  x.fill(1.0f);
  IntTensor f({16});
  attn_view_f32 xv = x.view(), cv = c.view(), av = alpha.view(),
                zv = dz.view(), wv = dw.view();
  attn_view_i32 fv = f.view();
  EXPECT_EQ(attn_pamm_compress_f32(&xv, 0.0, 1, 1.0, &cv, &fv, &av),
            ATTN_ERR_SHAPE);
  EXPECT_NE(std::string(attn_last_error()).find("ratio must be in (0, 1]"),
            std::string::npos);
  EXPECT_EQ(attn_pamm_compress_f32(&xv, 0.25, 1, -1.0, &cv, &fv, &av),
            ATTN_ERR_SHAPE);
  EXPECT_EQ(attn_pamm_compress_f32(&xv, 0.5, 1, 1.0, &cv, &fv, &av),
            ATTN_ERR_SHAPE);
  EXPECT_NE(std::string(attn_last_error()).find("c [4, 8] must be [8, 8]"),
            std::string::npos);
  EXPECT_EQ(attn_pamm_compress_f32(&xv, 0.25, 1, 1.0, &cv, nullptr, &av),
            ATTN_ERR_NULL);
  ASSERT_EQ(attn_pamm_compress_f32(&xv, 0.25, 1, 1.0, &cv, &fv, &av), ATTN_OK);
  f.storage[5] = 4;
  dz.fill(1.0f);
  EXPECT_EQ(attn_pamm_grad_weight_f32(&zv, &cv, &fv, &av, &wv),
            ATTN_ERR_SHAPE);
  EXPECT_NE(std::string(attn_last_error()).find("f[5] = 4 is outside [0, 4)"),
            std::string::npos);
  Tensor wrong({4, 9});
  attn_view_f32 wrongv = wrong.view();
  f.storage[5] = 0;
  EXPECT_EQ(attn_pamm_grad_weight_f32(&zv, &cv, &fv, &av, &wrongv),
            ATTN_ERR_SHAPE);
  EXPECT_NE(std::string(attn_last_error()).find("dw [4, 9] must be [out, in]"),
            std::string::npos);
}

TEST(LinearGrad, WeightAndInputMatchFp64) {
  std::mt19937 rng(8);
  Tensor x({3, 11, 21}, scattered({1, 0, 2})), dy({3, 11, 13}, strided({0, 2, 1})),
      w({13, 21}, strided({1, 0})), dw({13, 21}, scattered()),
      dx({3, 11, 21}, strided({2, 1, 0}));
  x.fillUniform(rng);
  dy.fillUniform(rng);
  w.fillUniform(rng);
  attn_view_f32 xv = x.view(), yv = dy.view(), wv = w.view(), dwv = dw.view(),
                dxv = dx.view();
  ASSERT_EQ(attn_linear_grad_weight_f32(&yv, &xv, &dwv), ATTN_OK)
      << attn_last_error();
  ASSERT_EQ(attn_linear_grad_input_f32(&yv, &wv, &dxv), ATTN_OK)
      << attn_last_error();
  std::vector<double> xs = x.dense(), ys = dy.dense(), ws = w.dense();
  std::vector<double> dwRef(13 * 21, 0.0), dxRef(33 * 21, 0.0);
  for (int64_t t = 0; t < 33; ++t)
    for (int64_t o = 0; o < 13; ++o)
      for (int64_t i = 0; i < 21; ++i) {
        dwRef[o * 21 + i] += ys[t * 13 + o] * xs[t * 21 + i];
        dxRef[t * 21 + i] += ys[t * 13 + o] * ws[o * 21 + i];
      }
  EXPECT_LT(relError(dw.values(), dwRef), kRelTol);
  EXPECT_LT(relError(dx.values(), dxRef), kRelTol);
  EXPECT_TRUE(dw.paddingIntact() && dx.paddingIntact());

  Tensor bad({12, 21});
  attn_view_f32 badv = bad.view();
  EXPECT_EQ(attn_linear_grad_weight_f32(&yv, &xv, &badv), ATTN_ERR_SHAPE);
  EXPECT_NE(std::string(attn_last_error()).find("dw [12, 21] must be [out, in]"),
            std::string::npos);
}

TEST(Pamm, AdapterZeroesAllOutputsOnFailure) {
  Tensor x({8, 4}), c({2, 4}), alpha({8});
  x.fill(1.0f);
  c.fill(5.0f);
  alpha.fill(5.0f);
  std::vector<int32_t> f(8, 5);
  auto xd = describe<2>(x), cd = describe<2>(c);
  auto ad = describe<1>(alpha);
  Descriptor<1> fd{};
  fd.aligned = reinterpret_cast<float *>(f.data());
  fd.sizes[0] = 8;
  fd.strides[0] = 1;
  attn_unranked_memref xm = unranked(xd), cm = unranked(cd), am = unranked(ad),
                       fm = unranked(fd);
  // ratio 1/4 of 8 tokens gives k = 2: the call succeeds.
  _mlir_ciface_attn_rt_pamm_compress_f32(&xm, 0.25, 3, 1.0, &cm, &fm, &am);
  EXPECT_EQ(attn_rt_take_error(), nullptr);
  for (int32_t v : f)
    EXPECT_TRUE(v == 0 || v == 1);
  // ratio 1/2 needs k = 4 rows: an error, and every output zeroed.
  _mlir_ciface_attn_rt_pamm_compress_f32(&xm, 0.5, 3, 1.0, &cm, &fm, &am);
  const char *err = attn_rt_take_error();
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("attn_rt_pamm_compress_f32"),
            std::string::npos);
  for (float v : c.values())
    EXPECT_EQ(v, 0.0f);
  for (float v : alpha.values())
    EXPECT_EQ(v, 0.0f);
  for (int32_t v : f)
    EXPECT_EQ(v, 0);
}

} // namespace

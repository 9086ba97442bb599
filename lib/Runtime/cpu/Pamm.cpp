//===- Pamm.cpp - PAMM compression and approximate weight gradient --------===//
//
// Point-approximate matrix multiplication (Khalaf et al., arXiv 2506.02939)
// for the weight gradient dW = dZᵀ·X of a projection: X [b, n] is kept as k
// generator rows C, an assignment f and a scale α per token, and
// dW ≈ B̃ᵀ·C with B̃[j] = Σ_{t: f(t)=j} α_t dZ_t.
//
// The semantics are those of attn.pamm_compress / attn.pamm_grad_weight
// (AttnOps.td), which the reference lowering transcribes; the sampling is a
// fixed function of (seed, b, k) so both produce the same generators.
//
// Threading: compress scores token blocks against the generators with one
// single-threaded sgemm per block on the worker pool (blocks are
// independent); grad-weight splits the segment sum by columns of dZ, so
// every B̃ entry is summed by one thread in token order (deterministic),
// then leaves the small B̃ᵀ·C product to OpenBLAS' own threads.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <climits>
#include <cmath>
#include <numeric>

namespace attenuate::runtime::detail {

namespace {

constexpr const char *kCompress = "attn_pamm_compress_f32";
constexpr const char *kGrad = "attn_pamm_grad_weight_f32";
/// Tokens scored per task: enough rows for an efficient sgemm, few enough
/// that two threads share a short prefill.
constexpr int64_t kTokensPerTask = 128;
/// Upper bound on a task's score scratch (floats), for huge k.
constexpr int64_t kMaxScoreFloats = int64_t(1) << 22;
/// Columns of dZ per segment-sum task.
constexpr int64_t kColumnsPerTask = 64;

/// splitmix64's output for step j + 1 of the stream started at `seed`; the
/// reference lowering computes the same arithmetic with arith ops.
uint64_t splitmix64(uint64_t seed, uint64_t j) {
  uint64_t z = seed + (j + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The int32 view with the f32 view's checks: the two structs have the same
/// layout and the checks look only at rank, sizes and the data pointer.
attn_view_f32 asF32(const attn_view_i32 &v) {
  attn_view_f32 out{};
  out.data = reinterpret_cast<float *>(v.data);
  out.rank = v.rank;
  for (int32_t d = 0; d < ATTN_MAX_RANK; ++d) {
    out.sizes[d] = v.sizes[d];
    out.strides[d] = v.strides[d];
  }
  return out;
}

/// Element offsets of a per-token view (the leading dims of x), token t in
/// row-major order: the view as the rows of a [..., 1] matrix.
RowMatrix perToken(const attn_view_f32 &v) {
  attn_view_f32 w = v;
  w.sizes[w.rank] = 1;
  w.strides[w.rank] = 1;
  w.rank += 1;
  return asRows(w);
}

/// Checks that `v` (named `name`) has exactly the leading dims of `x`.
int checkPerToken(const char *op, const char *name, const attn_view_f32 *v,
                  const attn_view_f32 &x, const char *xName) {
  if (int rc = checkView(op, name, v, x.rank - 1, 0))
    return rc;
  for (int32_t d = 0; d + 1 < x.rank; ++d)
    if (v->sizes[d] != x.sizes[d]) {
      attn_view_f32 lead = x;
      lead.rank -= 1;
      return fail(ATTN_ERR_SHAPE, std::string(op) + ": " + name + " " +
                                      describe(*v) + " must be " +
                                      sizesOf(lead) + " (the tokens of " +
                                      xName + " " + describe(x) + ")");
    }
  return ATTN_OK;
}

/// Rows of `m` as one contiguous [rows, cols] block.
std::vector<float> packed(const RowMatrix &m) {
  std::vector<float> out(m.rows * m.cols);
  gatherRows(m, 0, m.rows, out.data());
  return out;
}

int compress(const attn_view_f32 *x, double ratio, uint64_t seed,
             double epsilon, const attn_view_f32 *c, const attn_view_i32 *f,
             const attn_view_f32 *alpha) {
  if (int rc = checkView(kCompress, "x", x, -1))
    return rc;
  if (!f)
    return fail(ATTN_ERR_NULL,
                std::string(kCompress) + ": f is a null view pointer");
  attn_view_f32 fv = asF32(*f);
  if (int rc = checkPerToken(kCompress, "f", &fv, *x, "x"))
    return rc;
  if (int rc = checkPerToken(kCompress, "alpha", alpha, *x, "x"))
    return rc;
  if (int rc = checkView(kCompress, "c", c, 2))
    return rc;
  if (!(ratio > 0.0 && ratio <= 1.0))
    return fail(ATTN_ERR_SHAPE, std::string(kCompress) +
                                    ": ratio must be in (0, 1], got " +
                                    std::to_string(ratio));
  if (!(epsilon >= 0.0))
    return fail(ATTN_ERR_SHAPE, std::string(kCompress) +
                                    ": epsilon must be >= 0, got " +
                                    std::to_string(epsilon));
  RowMatrix xm = asRows(*x), fm = perToken(fv), am = perToken(*alpha);
  int64_t b = xm.rows, n = xm.cols;
  int64_t k = attn_pamm_num_generators(b, ratio);
  if (c->sizes[0] != k || c->sizes[1] != n)
    return fail(ATTN_ERR_SHAPE,
                std::string(kCompress) + ": c " + describe(*c) + " must be [" +
                    std::to_string(k) + ", " + std::to_string(n) +
                    "]: ceil(ratio " + std::to_string(ratio) + " x " +
                    std::to_string(b) + " tokens) generators of x " +
                    describe(*x));
  if (k > INT32_MAX || n > kBlasMaxDim)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(kCompress) + ": " + std::to_string(k) +
                    " generators of width " + std::to_string(n) +
                    " exceed the int32 assignment or BLAS' int range");
  if (b == 0)
    return ATTN_OK;

  // Partial Fisher-Yates: positions [0, k) end up a uniform sample without
  // replacement, in random order.
  std::vector<int64_t> perm(b);
  std::iota(perm.begin(), perm.end(), int64_t(0));
  for (int64_t j = 0; j < k; ++j) {
    uint64_t span = static_cast<uint64_t>(b - j);
    int64_t r = j + static_cast<int64_t>(splitmix64(seed, j) % span);
    std::swap(perm[j], perm[r]);
  }
  std::vector<int32_t> generatorOf(b, -1);
  RowMatrix cm = asRows(*c);
  for (int64_t j = 0; j < k; ++j) {
    generatorOf[perm[j]] = static_cast<int32_t>(j);
    const float *src = xm.data + xm.rowOffset(perm[j]);
    float *dst = cm.data + cm.rowOffset(j);
    for (int64_t col = 0; col < n; ++col)
      dst[col * cm.colStride] = src[col * xm.colStride];
  }
  std::vector<float> g = packed(cm);
  std::vector<double> norm2(k, 0.0);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t col = 0; col < n; ++col)
      norm2[j] += double(g[j * n + col]) * g[j * n + col];

  bool gate = epsilon < 1.0;
  int slots = numThreads();
  int64_t perTask = std::max<int64_t>(
      1, std::min(kTokensPerTask, kMaxScoreFloats / std::max<int64_t>(k, 1)));
  int64_t tasks = (b + perTask - 1) / perTask;
  std::vector<std::vector<float>> scores(slots), rowsScratch(slots);
  std::vector<int64_t> dropped(slots, 0);
  int32_t *fData = f->data;
  BlasSerialScope serial;
  parallelFor(tasks, slots, [&](int64_t task, int slot) {
    int64_t t0 = task * perTask, m = std::min(perTask, b - t0);
    auto write = [&](int64_t t, int32_t j, float a) {
      fData[fm.rowOffset(t)] = j;
      am.data[am.rowOffset(t)] = a;
    };
    bool anyOther = false;
    for (int64_t i = 0; i < m; ++i) {
      int32_t j = generatorOf[t0 + i];
      if (j >= 0)
        write(t0 + i, j, 1.0f);
      else
        anyOther = true;
    }
    // At ratio 1 every token is a generator: no scores at all.
    if (!anyOther || n == 0) {
      for (int64_t i = 0; i < m && n == 0; ++i)
        if (generatorOf[t0 + i] < 0)
          write(t0 + i, 0, 0.0f);
      return;
    }
    int lda;
    const float *a;
    if (xm.blasRows(m, lda)) {
      a = xm.data + xm.rowOffset(t0);
    } else {
      rowsScratch[slot].resize(m * n);
      gatherRows(xm, t0, m, rowsScratch[slot].data());
      a = rowsScratch[slot].data();
      lda = static_cast<int>(n);
    }
    std::vector<float> &s = scores[slot];
    s.resize(m * k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                static_cast<int>(k), static_cast<int>(n), 1.0f, a, lda,
                g.data(), static_cast<int>(n), 0.0f, s.data(),
                static_cast<int>(k));
    for (int64_t i = 0; i < m; ++i) {
      if (generatorOf[t0 + i] >= 0)
        continue;
      // argmax_j |cos(x, C_j)| = argmax_j <x, C_j>² / ‖C_j‖²; a zero
      // generator spans no line and is skipped; ties keep the lowest j.
      const float *row = s.data() + i * k;
      double best = -1.0;
      int64_t bj = 0;
      for (int64_t j = 0; j < k; ++j) {
        if (!(norm2[j] > 0.0))
          continue;
        double score = double(row[j]) * row[j] / norm2[j];
        if (score > best) {
          best = score;
          bj = j;
        }
      }
      float scale = best < 0.0 ? 0.0f : float(row[bj] / norm2[bj]);
      if (gate) {
        const float *xr = a + i * lda;
        double xx = 0.0;
        for (int64_t col = 0; col < n; ++col)
          xx += double(xr[col]) * xr[col];
        // ‖x − αC‖² = ‖x‖² − <x, C>²/‖C‖² for the best line.
        double err = xx - std::max(best, 0.0);
        if (!(err <= epsilon * xx)) {
          scale = 0.0f;
          ++dropped[slot];
        }
      }
      write(t0 + i, static_cast<int32_t>(bj), scale);
    }
  });
  int64_t eta = std::accumulate(dropped.begin(), dropped.end(), int64_t(0));
  if (eta > 0) {
    // Generators are always kept, so b − η >= k >= 1.
    float beta = static_cast<float>(double(b) / double(b - eta));
    for (int64_t t = 0; t < b; ++t)
      am.data[am.rowOffset(t)] *= beta;
  }
  return ATTN_OK;
}

int gradWeight(const attn_view_f32 *dz, const attn_view_f32 *c,
               const attn_view_i32 *f, const attn_view_f32 *alpha,
               const attn_view_f32 *dw) {
  if (int rc = checkView(kGrad, "dz", dz, -1))
    return rc;
  if (int rc = checkView(kGrad, "c", c, 2))
    return rc;
  if (!f)
    return fail(ATTN_ERR_NULL,
                std::string(kGrad) + ": f is a null view pointer");
  attn_view_f32 fv = asF32(*f);
  if (int rc = checkPerToken(kGrad, "f", &fv, *dz, "dz"))
    return rc;
  if (int rc = checkPerToken(kGrad, "alpha", alpha, *dz, "dz"))
    return rc;
  if (int rc = checkView(kGrad, "dw", dw, 2))
    return rc;
  int64_t out = dz->sizes[dz->rank - 1], k = c->sizes[0], in = c->sizes[1];
  if (dw->sizes[0] != out || dw->sizes[1] != in)
    return fail(ATTN_ERR_SHAPE,
                std::string(kGrad) + ": dw " + describe(*dw) +
                    " must be [out, in] = [" + std::to_string(out) + ", " +
                    std::to_string(in) + "] for dz " + describe(*dz) +
                    " and c " + describe(*c));
  if (out > kBlasMaxDim || in > kBlasMaxDim || k > kBlasMaxDim)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(kGrad) + ": dw " + describe(*dw) + " or c " +
                    describe(*c) + " has a dimension beyond BLAS' int range");
  RowMatrix zm = asRows(*dz), fm = perToken(fv), am = perToken(*alpha);
  int64_t b = zm.rows;
  for (int64_t t = 0; t < b; ++t) {
    int32_t j = f->data[fm.rowOffset(t)];
    if (j < 0 || j >= k)
      return fail(ATTN_ERR_SHAPE, std::string(kGrad) + ": f[" +
                                      std::to_string(t) + "] = " +
                                      std::to_string(j) + " is outside [0, " +
                                      std::to_string(k) + ") for c " +
                                      describe(*c));
  }
  if (out == 0 || in == 0)
    return ATTN_OK;
  if (b == 0 || k == 0) {
    fillZero(*dw);
    return ATTN_OK;
  }

  std::vector<float> seg(k * out, 0.0f);
  int64_t tasks = (out + kColumnsPerTask - 1) / kColumnsPerTask;
  parallelFor(tasks, numThreads(), [&](int64_t task, int) {
    int64_t c0 = task * kColumnsPerTask;
    int64_t c1 = std::min(out, c0 + kColumnsPerTask);
    for (int64_t t = 0; t < b; ++t) {
      float a = am.data[am.rowOffset(t)];
      if (a == 0.0f)
        continue;
      const float *row = zm.data + zm.rowOffset(t);
      float *dst = seg.data() + int64_t(f->data[fm.rowOffset(t)]) * out;
      if (zm.colStride == 1)
        for (int64_t col = c0; col < c1; ++col)
          dst[col] += a * row[col];
      else
        for (int64_t col = c0; col < c1; ++col)
          dst[col] += a * row[col * zm.colStride];
    }
  });

  RowMatrix cm = asRows(*c), wm = asRows(*dw);
  int ldg, ldc;
  std::vector<float> gScratch, wScratch;
  const float *g;
  if (cm.blasRows(k, ldg)) {
    g = cm.data;
  } else {
    gScratch = packed(cm);
    g = gScratch.data();
    ldg = static_cast<int>(in);
  }
  bool wInPlace = wm.blasRows(out, ldc);
  float *w;
  if (wInPlace) {
    w = wm.data;
  } else {
    wScratch.resize(out * in);
    w = wScratch.data();
    ldc = static_cast<int>(in);
  }
  // dw [out, in] = segᵀ [out, k] · C [k, in].
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(out),
              static_cast<int>(in), static_cast<int>(k), 1.0f, seg.data(),
              static_cast<int>(out), g, ldg, 0.0f, w, ldc);
  if (!wInPlace)
    scatterRows(w, wm, 0, out);
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::runtime::detail

extern "C" int64_t attn_pamm_num_generators(int64_t tokens, double ratio) {
  if (tokens < 0 || !(ratio > 0.0 && ratio <= 1.0))
    return -1;
  if (tokens == 0)
    return 0;
  double want = std::ceil(ratio * static_cast<double>(tokens));
  if (want >= static_cast<double>(tokens))
    return tokens;
  return std::max<int64_t>(1, static_cast<int64_t>(want));
}

extern "C" int attn_pamm_compress_f32(const attn_view_f32 *x, double ratio,
                                      uint64_t seed, double epsilon,
                                      const attn_view_f32 *c,
                                      const attn_view_i32 *f,
                                      const attn_view_f32 *alpha) {
  using namespace attenuate::runtime::detail;
  return guarded(kCompress, [&] {
    return compress(x, ratio, seed, epsilon, c, f, alpha);
  });
}

extern "C" int attn_pamm_grad_weight_f32(const attn_view_f32 *dz,
                                         const attn_view_f32 *c,
                                         const attn_view_i32 *f,
                                         const attn_view_f32 *alpha,
                                         const attn_view_f32 *dw) {
  using namespace attenuate::runtime::detail;
  return guarded(kGrad, [&] { return gradWeight(dz, c, f, alpha, dw); });
}

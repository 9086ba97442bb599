//===- LinearGrad.cpp - gradients of y = x·Wᵀ ------------------------------===//
//
// The exact backward of a projection: dW = dYᵀ·X (the product PAMM
// approximates, and the baseline its benchmark compares against) and
// dX = dY·W. Both are single sgemm calls over all tokens when the operands
// are addressable by BLAS in place, so OpenBLAS does the threading; other
// layouts go through contiguous scratch in bounded chunks of rows.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <cblas.h>

namespace attenuate::runtime::detail {

namespace {

constexpr const char *kGradWeight = "attn_linear_grad_weight_f32";
constexpr const char *kGradInput = "attn_linear_grad_input_f32";
/// Rows per sgemm when an operand has to be copied: bounds the scratch.
constexpr int64_t kCopiedRowsPerChunk = 1024;

/// "[a, b, ..., n]" with the last size replaced, for messages.
std::string withLast(const attn_view_f32 &v, int64_t last) {
  attn_view_f32 w = v;
  w.sizes[w.rank - 1] = last;
  return sizesOf(w);
}

bool sameLeading(const attn_view_f32 &a, const attn_view_f32 &b) {
  if (a.rank != b.rank)
    return false;
  for (int32_t d = 0; d + 1 < a.rank; ++d)
    if (a.sizes[d] != b.sizes[d])
      return false;
  return true;
}

int gradWeight(const attn_view_f32 *dy, const attn_view_f32 *x,
               const attn_view_f32 *dw) {
  if (int rc = checkView(kGradWeight, "dy", dy, -1))
    return rc;
  if (int rc = checkView(kGradWeight, "x", x, dy->rank))
    return rc;
  if (int rc = checkView(kGradWeight, "dw", dw, 2))
    return rc;
  if (!sameLeading(*dy, *x))
    return fail(ATTN_ERR_SHAPE, std::string(kGradWeight) + ": x " +
                                    describe(*x) + " must be " +
                                    withLast(*dy, x->sizes[x->rank - 1]) +
                                    " (the tokens of dy " + describe(*dy) +
                                    ")");
  int64_t out = dy->sizes[dy->rank - 1], in = x->sizes[x->rank - 1];
  if (dw->sizes[0] != out || dw->sizes[1] != in)
    return fail(ATTN_ERR_SHAPE,
                std::string(kGradWeight) + ": dw " + describe(*dw) +
                    " must be [out, in] = [" + std::to_string(out) + ", " +
                    std::to_string(in) + "] for dy " + describe(*dy) +
                    " and x " + describe(*x));
  if (in > kBlasMaxDim || out > kBlasMaxDim)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(kGradWeight) + ": dw " + describe(*dw) +
                    " has a dimension beyond BLAS' int range");

  RowMatrix ym = asRows(*dy), xm = asRows(*x), wm = asRows(*dw);
  int64_t rows = ym.rows;
  if (out == 0 || in == 0)
    return ATTN_OK;
  if (rows == 0) {
    fillZero(*dw);
    return ATTN_OK;
  }
  int ldc;
  bool cInPlace = wm.blasRows(out, ldc);
  std::vector<float> cScratch;
  float *c;
  if (cInPlace) {
    c = wm.data;
  } else {
    cScratch.resize(out * in);
    c = cScratch.data();
    ldc = static_cast<int>(in);
  }
  int lda, ldb;
  bool inPlace = ym.blasRows(rows, lda) && xm.blasRows(rows, ldb);
  int64_t chunk = inPlace ? std::min(rows, kBlasMaxDim)
                          : std::min(rows, kCopiedRowsPerChunk);
  std::vector<float> aScratch, bScratch;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    int64_t n = std::min(chunk, rows - r0);
    const float *a, *b;
    if (ym.blasRows(n, lda)) {
      a = ym.data + ym.rowOffset(r0);
    } else {
      aScratch.resize(n * out);
      gatherRows(ym, r0, n, aScratch.data());
      a = aScratch.data();
      lda = static_cast<int>(out);
    }
    if (xm.blasRows(n, ldb)) {
      b = xm.data + xm.rowOffset(r0);
    } else {
      bScratch.resize(n * in);
      gatherRows(xm, r0, n, bScratch.data());
      b = bScratch.data();
      ldb = static_cast<int>(in);
    }
    // dw[o, i] (+)= Σ_t dy[t, o] x[t, i]: the chunks accumulate.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(out),
                static_cast<int>(in), static_cast<int>(n), 1.0f, a, lda, b,
                ldb, r0 == 0 ? 0.0f : 1.0f, c, ldc);
  }
  if (!cInPlace)
    scatterRows(c, wm, 0, out);
  return ATTN_OK;
}

int gradInput(const attn_view_f32 *dy, const attn_view_f32 *w,
              const attn_view_f32 *dx) {
  if (int rc = checkView(kGradInput, "dy", dy, -1))
    return rc;
  if (int rc = checkView(kGradInput, "w", w, 2))
    return rc;
  if (int rc = checkView(kGradInput, "dx", dx, dy->rank))
    return rc;
  int64_t out = dy->sizes[dy->rank - 1], in = w->sizes[1];
  if (w->sizes[0] != out)
    return fail(ATTN_ERR_SHAPE, std::string(kGradInput) + ": w " +
                                    describe(*w) + " must have " +
                                    std::to_string(out) +
                                    " rows ([out, in]) for dy " +
                                    describe(*dy));
  if (!sameLeading(*dy, *dx) || dx->sizes[dx->rank - 1] != in)
    return fail(ATTN_ERR_SHAPE, std::string(kGradInput) + ": dx " +
                                    describe(*dx) + " must be " +
                                    withLast(*dy, in) + " for dy " +
                                    describe(*dy) + " and w " + describe(*w));
  // dx = dy·w is the projection y = x·Wᵀ with W = wᵀ: a transposed view of
  // w, which the linear kernel reads in place.
  attn_view_f32 wt = *w;
  std::swap(wt.sizes[0], wt.sizes[1]);
  std::swap(wt.strides[0], wt.strides[1]);
  int rc = attn_linear_f32(dy, &wt, nullptr, dx);
  if (rc != ATTN_OK)
    return fail(rc, std::string(kGradInput) + ": " + attn_last_error());
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::runtime::detail

extern "C" int attn_linear_grad_weight_f32(const attn_view_f32 *dy,
                                           const attn_view_f32 *x,
                                           const attn_view_f32 *dw) {
  using namespace attenuate::runtime::detail;
  return guarded(kGradWeight, [&] { return gradWeight(dy, x, dw); });
}

extern "C" int attn_linear_grad_input_f32(const attn_view_f32 *dy,
                                          const attn_view_f32 *w,
                                          const attn_view_f32 *dx) {
  using namespace attenuate::runtime::detail;
  return guarded(kGradInput, [&] { return gradInput(dy, w, dx); });
}

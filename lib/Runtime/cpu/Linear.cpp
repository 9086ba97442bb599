//===- Linear.cpp - y = x·Wᵀ (+ b) ----------------------------------------===//
//
// One sgemm over all rows of x when x and y are addressable by BLAS in place
// (the usual case, including row slices of a larger buffer); otherwise the
// rows go through contiguous scratch in bounded chunks. OpenBLAS does the
// threading here: a single large GEMM is what it is best at.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>

namespace attenuate::runtime::detail {

namespace {

constexpr const char *kOp = "attn_linear_f32";
/// Rows per sgemm when x or y has to be copied: bounds the scratch.
constexpr int64_t kCopiedRowsPerChunk = 1024;

/// Sets rows [r0, r0 + n) of y to b, or to 0 without b.
void fillRows(const RowMatrix &y, int64_t r0, int64_t n,
              const attn_view_f32 *b) {
  for (int64_t r = r0; r < r0 + n; ++r) {
    float *row = y.data + y.rowOffset(r);
    for (int64_t c = 0; c < y.cols; ++c)
      row[c * y.colStride] = b ? b->data[c * b->strides[0]] : 0.0f;
  }
}

int linear(const attn_view_f32 *x, const attn_view_f32 *w,
           const attn_view_f32 *b, const attn_view_f32 *y) {
  if (int rc = checkView(kOp, "x", x, -1))
    return rc;
  if (int rc = checkView(kOp, "w", w, 2))
    return rc;
  if (b)
    if (int rc = checkView(kOp, "b", b, 1))
      return rc;
  if (int rc = checkView(kOp, "y", y, x->rank))
    return rc;
  int32_t last = x->rank - 1;
  int64_t in = x->sizes[last], out = w->sizes[0];
  if (w->sizes[1] != in)
    return fail(ATTN_ERR_SHAPE, std::string(kOp) + ": x " + describe(*x) +
                                    " has in = " + std::to_string(in) +
                                    " but w [out, in] is " + describe(*w));
  if (b && b->sizes[0] != out)
    return fail(ATTN_ERR_SHAPE, std::string(kOp) + ": b " + describe(*b) +
                                    " must be [" + std::to_string(out) +
                                    "] to match w " + describe(*w));
  bool yMatches = y->sizes[last] == out;
  for (int32_t d = 0; d < last; ++d)
    yMatches = yMatches && y->sizes[d] == x->sizes[d];
  if (!yMatches) {
    attn_view_f32 expected = *x;
    expected.sizes[last] = out;
    return fail(ATTN_ERR_SHAPE, std::string(kOp) + ": y " + describe(*y) +
                                    " must be " + sizesOf(expected) +
                                    " for x " + describe(*x) + " and w " +
                                    describe(*w));
  }
  if (in > kBlasMaxDim || out > kBlasMaxDim)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(kOp) + ": w " + describe(*w) +
                    " has a dimension beyond BLAS' int range");

  RowMatrix xm = asRows(*x), ym = asRows(*y);
  int64_t rows = xm.rows;
  if (rows == 0 || out == 0)
    return ATTN_OK;
  if (in == 0) {
    fillRows(ym, 0, rows, b);
    return ATTN_OK;
  }

  WeightOperand wop(*w);
  int lda, ldc;
  bool inPlace = xm.blasRows(rows, lda) && ym.blasRows(rows, ldc);
  int64_t chunk = inPlace ? std::min(rows, kBlasMaxDim)
                          : std::min(rows, kCopiedRowsPerChunk);
  std::vector<float> xScratch, yScratch;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    int64_t n = std::min(chunk, rows - r0);
    const float *a;
    if (xm.blasRows(n, lda)) {
      a = xm.data + xm.rowOffset(r0);
    } else {
      xScratch.resize(n * in);
      gatherRows(xm, r0, n, xScratch.data());
      a = xScratch.data();
      lda = static_cast<int>(in);
    }
    bool yInPlace = ym.blasRows(n, ldc);
    float *c;
    if (yInPlace) {
      c = ym.data + ym.rowOffset(r0);
    } else {
      yScratch.resize(n * out);
      c = yScratch.data();
      ldc = static_cast<int>(out);
    }
    if (b) {
      for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < out; ++o)
          c[i * ldc + o] = b->data[o * b->strides[0]];
    }
    wop.multiply(n, a, lda, b ? 1.0f : 0.0f, c, ldc);
    if (!yInPlace)
      scatterRows(c, ym, r0, n);
  }
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::runtime::detail

extern "C" int attn_linear_f32(const attn_view_f32 *x, const attn_view_f32 *w,
                               const attn_view_f32 *b, const attn_view_f32 *y) {
  using namespace attenuate::runtime::detail;
  return guarded(kOp, [&] { return linear(x, w, b, y); });
}

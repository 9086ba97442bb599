//===- Mlp.cpp - gated SiLU MLP: (silu(x·gateᵀ) ⊙ (x·upᵀ))·downᵀ ----------===//
//
// The intermediate activations are [rows, i] twice, and i is several times d:
// for a long prefill they would dwarf everything else the kernel touches.
// Rows are therefore processed in chunks, so the scratch is
// 2 · kRowsPerChunk · i floats whatever the sequence length, while each chunk
// is still large enough for OpenBLAS to thread its three GEMMs well.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <cmath>

namespace attenuate::runtime::detail {

namespace {

constexpr const char *kOp = "attn_mlp_f32";
constexpr int64_t kRowsPerChunk = 256;

/// g ← silu(g) · u. For very negative g, exp(-g) overflows to inf and the
/// quotient is -0, the correct limit, so no clamp is needed.
void gate(float *g, const float *u, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

int checkWeight(const attn_view_f32 *w, const char *name, int64_t rows,
                int64_t cols, const char *layout, const attn_view_f32 &x) {
  if (w->sizes[0] == rows && w->sizes[1] == cols)
    return ATTN_OK;
  return fail(ATTN_ERR_SHAPE,
              std::string(kOp) + ": " + name + " " + describe(*w) +
                  " must be " + layout + " = [" + std::to_string(rows) + ", " +
                  std::to_string(cols) + "] for x " + describe(x));
}

int mlp(const attn_view_f32 *x, const attn_view_f32 *gateW,
        const attn_view_f32 *upW, const attn_view_f32 *downW,
        const attn_view_f32 *y) {
  if (int rc = checkView(kOp, "x", x, -1))
    return rc;
  if (int rc = checkView(kOp, "gate", gateW, 2))
    return rc;
  if (int rc = checkView(kOp, "up", upW, 2))
    return rc;
  if (int rc = checkView(kOp, "down", downW, 2))
    return rc;
  if (int rc = checkView(kOp, "y", y, x->rank))
    return rc;
  int64_t d = x->sizes[x->rank - 1], inter = gateW->sizes[0];
  if (int rc = checkWeight(gateW, "gate", inter, d, "[i, d]", *x))
    return rc;
  if (int rc = checkWeight(upW, "up", inter, d, "[i, d]", *x))
    return rc;
  if (int rc = checkWeight(downW, "down", d, inter, "[d, i]", *x))
    return rc;
  for (int32_t k = 0; k < x->rank; ++k)
    if (y->sizes[k] != x->sizes[k])
      return fail(ATTN_ERR_SHAPE, std::string(kOp) + ": y " + describe(*y) +
                                      " must have the shape of x " +
                                      describe(*x));
  if (d > kBlasMaxDim || inter > kBlasMaxDim)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(kOp) + ": gate " + describe(*gateW) +
                    " has a dimension beyond BLAS' int range");

  RowMatrix xm = asRows(*x), ym = asRows(*y);
  if (xm.rows == 0 || d == 0)
    return ATTN_OK;
  if (inter == 0) {
    fillZero(*y);
    return ATTN_OK;
  }

  WeightOperand gateOp(*gateW), upOp(*upW), downOp(*downW);
  int64_t chunk = std::min(xm.rows, kRowsPerChunk);
  std::vector<float> g(chunk * inter), u(chunk * inter), xScratch, yScratch;
  for (int64_t r0 = 0; r0 < xm.rows; r0 += chunk) {
    int64_t n = std::min(chunk, xm.rows - r0);
    int lda, ldc;
    const float *a;
    if (xm.blasRows(n, lda)) {
      a = xm.data + xm.rowOffset(r0);
    } else {
      xScratch.resize(n * d);
      gatherRows(xm, r0, n, xScratch.data());
      a = xScratch.data();
      lda = static_cast<int>(d);
    }
    int ldh = static_cast<int>(inter);
    gateOp.multiply(n, a, lda, 0.0f, g.data(), ldh);
    upOp.multiply(n, a, lda, 0.0f, u.data(), ldh);
    gate(g.data(), u.data(), n * inter);

    bool yInPlace = ym.blasRows(n, ldc);
    float *c;
    if (yInPlace) {
      c = ym.data + ym.rowOffset(r0);
    } else {
      yScratch.resize(n * d);
      c = yScratch.data();
      ldc = static_cast<int>(d);
    }
    downOp.multiply(n, g.data(), ldh, 0.0f, c, ldc);
    if (!yInPlace)
      scatterRows(c, ym, r0, n);
  }
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::runtime::detail

extern "C" int attn_mlp_f32(const attn_view_f32 *x, const attn_view_f32 *gate,
                            const attn_view_f32 *up, const attn_view_f32 *down,
                            const attn_view_f32 *y) {
  using namespace attenuate::runtime::detail;
  return guarded(kOp, [&] { return mlp(x, gate, up, down, y); });
}

//===- ElementwisePlan.cpp - checks and parameters of the row-wise kernels ===//
//
// Host-only (no CUDA runtime), so the emulation tests run the library's own
// checks and parameter setup in front of the kernel bodies.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <cmath>

namespace attenuate::cuda::host {

namespace {

/// Blocks of 256 threads over `items` must fit the grid's x limit.
int checkItems(const char *op, int64_t items) {
  if (items / 256 >= INT32_MAX)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": " + std::to_string(items) +
                    " elements exceed one launch");
  return ATTN_OK;
}

int checkRope(const char *op, const attn_rope_config *rope, int64_t dim,
              RopeParams &p) {
  const std::string prefix = std::string(op) + ": ";
  if (!rope)
    return fail(ATTN_ERR_NULL, prefix + "the rope config is null");
  const int64_t rot = rope->rotary_dim;
  if (rot < 2 || rot % 2 != 0 || rot > dim ||
      rot / 2 > RopeParams::kMaxPairs)
    return fail(ATTN_ERR_UNSUPPORTED,
                prefix + "rotary_dim " + std::to_string(rot) +
                    " must be even, at least 2, at most the head dim (" +
                    std::to_string(dim) + ") and at most " +
                    std::to_string(2 * RopeParams::kMaxPairs));
  if (!(rope->theta > 0) || !std::isfinite(rope->theta))
    return fail(ATTN_ERR_SHAPE, prefix + "theta " +
                                    std::to_string(rope->theta) +
                                    " is not a positive finite number");
  const int64_t base = rope->base_dim == 0 ? rot : rope->base_dim;
  if (base <= 0 || base % 2 != 0)
    return fail(ATTN_ERR_SHAPE, prefix + "base_dim " + std::to_string(base) +
                                    " is not a positive even number");
  if (rope->interleaved != 0 && rope->interleaved != 1)
    return fail(ATTN_ERR_SHAPE, prefix + "interleaved must be 0 or 1");
  p.rotaryDim = static_cast<int>(rot);
  p.interleaved = rope->interleaved;
  for (int64_t j = 0; j < rot / 2; ++j) {
    int64_t f = j;
    if (rope->frequencies) {
      f = rope->frequencies[j];
      if (f < 0 || f >= base / 2)
        return fail(ATTN_ERR_SHAPE,
                    prefix + "frequencies[" + std::to_string(j) + "] = " +
                        std::to_string(f) + " is outside [0, base_dim/2 = " +
                        std::to_string(base / 2) + ")");
    }
    p.invFreq[j] = std::pow(rope->theta, -2.0 * static_cast<double>(f) /
                                             static_cast<double>(base));
  }
  return ATTN_OK;
}

/// Checks a [B, S, H, D] (or [B, S, D], H = 1) operand and returns its
/// strides over (b, s, h).
int checkRows4(const char *op, const char *name, const attn_cuda_tensor *t,
               bool allowRank3, int64_t sizes[4], int64_t strides[3]) {
  TensorRule rule;
  rule.rank = allowRank3 ? -1 : 4;
  rule.minRank = 3;
  if (int rc = checkTensor(op, name, t, rule))
    return rc;
  if (t->rank > 4)
    return fail(ATTN_ERR_SHAPE, std::string(op) + ": " + name + " " +
                                    describe(*t) + " has rank above 4");
  if (t->rank == 4) {
    for (int i = 0; i < 4; ++i)
      sizes[i] = t->sizes[i];
    for (int i = 0; i < 3; ++i)
      strides[i] = t->strides[i];
  } else {
    sizes[0] = t->sizes[0];
    sizes[1] = t->sizes[1];
    sizes[2] = 1;
    sizes[3] = t->sizes[2];
    strides[0] = t->strides[0];
    strides[1] = t->strides[1];
    strides[2] = 0;
  }
  return ATTN_OK;
}

/// The shared part of rope_cache_append and cache_append: x [B,S,H,D] into
/// cache [B,C,H,D] at cache_pos.
int appendParams(const char *op, const attn_cuda_tensor *x,
                 const attn_cuda_tensor *cache, int64_t cachePos,
                 bool allowRank3, RopeParams &p) {
  int64_t xs[4], cs[4];
  if (int rc = checkRows4(op, "x", x, allowRank3, xs, p.xStride))
    return rc;
  if (int rc = checkRows4(op, "cache", cache, allowRank3, cs, p.yStride))
    return rc;
  if (int rc = checkSameDtype(op, "cache", *cache, "x", *x))
    return rc;
  if (x->rank != cache->rank || xs[0] != cs[0] || xs[2] != cs[2] ||
      xs[3] != cs[3])
    return fail(ATTN_ERR_SHAPE, std::string(op) + ": x " + describe(*x) +
                                    " and cache " + describe(*cache) +
                                    " differ in batch, heads or head dim");
  if (cachePos < 0 || cachePos > cs[1] || xs[1] > cs[1] - cachePos)
    return fail(ATTN_ERR_SHAPE,
                std::string(op) + ": writing " + std::to_string(xs[1]) +
                    " tokens at position " + std::to_string(cachePos) +
                    " overflows the cache capacity " + std::to_string(cs[1]) +
                    "; the cache was left unchanged");
  p.x = x->data;
  p.y = cache->data
            ? static_cast<char *>(cache->data) +
                  cachePos * cache->strides[1] *
                      static_cast<int64_t>(dtypeBytes(cache->dtype))
            : nullptr;
  p.batch = xs[0];
  p.seq = xs[1];
  p.heads = xs[2];
  p.dim = xs[3];
  return checkItems(op, p.batch * p.seq * p.heads * p.dim);
}

} // namespace


int planRope(const char *op, const attn_cuda_tensor *x,
             const int64_t *positions, int64_t positionOffset,
             const attn_rope_config *rope, const attn_cuda_tensor *y,
             RopeParams &p) {
  p = RopeParams{};
  int64_t xs[4], ys[4];
  if (int rc = checkRows4(op, "x", x, false, xs, p.xStride))
    return rc;
  if (int rc = checkRows4(op, "y", y, false, ys, p.yStride))
    return rc;
  if (int rc = checkSameDtype(op, "y", *y, "x", *x))
    return rc;
  for (int i = 0; i < 4; ++i)
    if (xs[i] != ys[i])
      return fail(ATTN_ERR_SHAPE, std::string(op) + ": x " + describe(*x) +
                                      " and y " + describe(*y) +
                                      " differ in shape");
  if (int rc = checkRope(op, rope, xs[3], p))
    return rc;
  p.x = x->data;
  p.y = y->data;
  p.batch = xs[0];
  p.seq = xs[1];
  p.heads = xs[2];
  p.dim = xs[3];
  p.positions = positions;
  p.positionOffset = positionOffset;
  return checkItems(op, p.batch * p.seq * p.heads * p.dim);
}

int planRopeCacheAppend(const char *op, const attn_cuda_tensor *x,
                        const int64_t *positions, int64_t positionOffset,
                        const attn_rope_config *rope,
                        const attn_cuda_tensor *cache, int64_t cachePos,
                        RopeParams &p) {
  p = RopeParams{};
  if (int rc = appendParams(op, x, cache, cachePos, false, p))
    return rc;
  if (int rc = checkRope(op, rope, p.dim, p))
    return rc;
  p.positions = positions;
  p.positionOffset = positionOffset;
  return ATTN_OK;
}

int planCacheAppend(const char *op, const attn_cuda_tensor *x,
                    const attn_cuda_tensor *cache, int64_t cachePos,
                    RopeParams &p) {
  p = RopeParams{};
  if (int rc = appendParams(op, x, cache, cachePos, true, p))
    return rc;
  p.rotaryDim = 0; // a plain copy
  return ATTN_OK;
}

int planRmsNorm(const char *op, const attn_cuda_tensor *x,
                const attn_cuda_tensor *w, double eps,
                const attn_cuda_tensor *y, RmsNormParams &p) {
  p = RmsNormParams{};
  TensorRule any;
  TensorRule vector;
  vector.rank = 1;
  if (int rc = checkTensor(op, "x", x, any))
    return rc;
  if (int rc = checkTensor(op, "w", w, vector))
    return rc;
  if (int rc = checkTensor(op, "y", y, any))
    return rc;
  if (int rc = checkSameDtype(op, "w", *w, "x", *x))
    return rc;
  if (int rc = checkSameDtype(op, "y", *y, "x", *x))
    return rc;
  bool same = x->rank == y->rank;
  for (int i = 0; same && i < x->rank; ++i)
    same = x->sizes[i] == y->sizes[i];
  if (!same || w->sizes[0] != x->sizes[x->rank - 1])
    return fail(ATTN_ERR_SHAPE, std::string(op) + ": x " + describe(*x) +
                                    ", w " + describe(*w) + ", y " +
                                    describe(*y) +
                                    ": expected x, y [..., D] and w [D]");
  if (!(eps >= 0) || !std::isfinite(eps))
    return fail(ATTN_ERR_SHAPE, std::string(op) + ": epsilon " +
                                    std::to_string(eps) +
                                    " is not a non-negative finite number");
  Rows xr, yr;
  if (!asRows(*x, xr) || !asRows(*y, yr))
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": the leading dims of x " + describe(*x) +
                    " and y " + describe(*y) +
                    " must flatten to rows of one stride");
  if (xr.rows > INT32_MAX)
    return fail(ATTN_ERR_UNSUPPORTED, std::string(op) + ": too many rows");
  p.x = x->data;
  p.w = w->data;
  p.y = y->data;
  p.xStride = xr.stride;
  p.yStride = yr.stride;
  p.rows = xr.cols == 0 ? 0 : xr.rows;
  p.cols = xr.cols;
  p.eps = static_cast<float>(eps);
  return ATTN_OK;
}

int planSiluMul(const char *op, const attn_cuda_tensor *gate,
                const attn_cuda_tensor *up, const attn_cuda_tensor *y,
                SiluMulParams &p) {
  p = SiluMulParams{};
  TensorRule any;
  if (int rc = checkTensor(op, "gate", gate, any))
    return rc;
  if (int rc = checkTensor(op, "up", up, any))
    return rc;
  if (int rc = checkTensor(op, "y", y, any))
    return rc;
  if (int rc = checkSameDtype(op, "up", *up, "gate", *gate))
    return rc;
  if (int rc = checkSameDtype(op, "y", *y, "gate", *gate))
    return rc;
  bool same = gate->rank == up->rank && gate->rank == y->rank;
  for (int i = 0; same && i < gate->rank; ++i)
    same = gate->sizes[i] == up->sizes[i] && gate->sizes[i] == y->sizes[i];
  if (!same)
    return fail(ATTN_ERR_SHAPE, std::string(op) + ": gate " +
                                    describe(*gate) + ", up " +
                                    describe(*up) + " and y " + describe(*y) +
                                    " differ in shape");
  Rows g, u, yr;
  if (!asRows(*gate, g) || !asRows(*up, u) || !asRows(*y, yr))
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) +
                    ": the leading dims must flatten to rows of one stride");
  p.gate = gate->data;
  p.up = up->data;
  p.y = y->data;
  p.gateStride = g.stride;
  p.upStride = u.stride;
  p.yStride = yr.stride;
  p.rows = g.rows;
  p.cols = g.cols;
  return checkItems(op, g.rows * g.cols);
}

} // namespace attenuate::cuda::host

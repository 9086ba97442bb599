//===- View.cpp - strided views: checks, row access, memref conversion ----===//
//
// Every kernel sees its operands through attn_view_f32, whose strides may be
// anything MLIR produces: slices of a larger cache, permuted (transposed)
// layouts, unit dimensions with arbitrary strides. The helpers here let the
// kernels use such views in place when BLAS can address them and copy them
// otherwise, so no kernel needs a contiguity precondition.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <cstring>

namespace attenuate::runtime::detail {

namespace {

std::string joinDims(const int64_t *dims, int32_t rank) {
  std::string s = "[";
  for (int32_t i = 0; i < rank; ++i) {
    if (i)
      s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

bool isContiguous(const attn_view_f32 &v) {
  int64_t expected = 1;
  for (int32_t i = v.rank - 1; i >= 0; --i) {
    if (v.sizes[i] == 1)
      continue;
    if (v.strides[i] != expected)
      return false;
    expected *= v.sizes[i];
  }
  return true;
}

bool hasNegativeSize(const attn_view_f32 &v) {
  for (int32_t i = 0; i < v.rank; ++i)
    if (v.sizes[i] < 0)
      return true;
  return false;
}

bool isEmpty(const attn_view_f32 &v) {
  for (int32_t i = 0; i < v.rank; ++i)
    if (v.sizes[i] == 0)
      return true;
  return false;
}

} // namespace

std::string sizesOf(const attn_view_f32 &v) {
  return joinDims(v.sizes, v.rank);
}

std::string describe(const attn_view_f32 &v) {
  if (v.rank < 0 || v.rank > ATTN_MAX_RANK)
    return "<rank " + std::to_string(v.rank) + ">";
  std::string s = sizesOf(v);
  if (!hasNegativeSize(v) && !isContiguous(v))
    s += " (strides " + joinDims(v.strides, v.rank) + ")";
  return s;
}

int checkView(const char *op, const char *name, const attn_view_f32 *v,
              int rank, int minRank) {
  std::string prefix = std::string(op) + ": " + name;
  if (!v)
    return fail(ATTN_ERR_NULL, prefix + " is a null view pointer");
  if (v->rank < 0 || v->rank > ATTN_MAX_RANK)
    return fail(ATTN_ERR_SHAPE, prefix + " has rank " +
                                    std::to_string(v->rank) +
                                    ", outside [0, ATTN_MAX_RANK = " +
                                    std::to_string(ATTN_MAX_RANK) + "]");
  if (rank >= 0 ? v->rank != rank : v->rank < minRank)
    return fail(ATTN_ERR_SHAPE,
                prefix + " must have rank " +
                    (rank >= 0 ? std::to_string(rank)
                               : ">= " + std::to_string(minRank)) +
                    ", got rank " + std::to_string(v->rank) + " " +
                    sizesOf(*v));
  if (hasNegativeSize(*v))
    return fail(ATTN_ERR_SHAPE,
                prefix + " has a negative size in " + sizesOf(*v));
  int64_t count = 1;
  for (int32_t i = 0; i < v->rank; ++i)
    if (__builtin_mul_overflow(count, v->sizes[i], &count))
      return fail(ATTN_ERR_SHAPE, prefix + " " + sizesOf(*v) +
                                      " has more elements than int64 holds");
  if (!v->data && count > 0)
    return fail(ATTN_ERR_NULL,
                prefix + " " + sizesOf(*v) + " has a null data pointer");
  return ATTN_OK;
}

void fillZero(const attn_view_f32 &v) noexcept {
  if (!v.data || v.rank < 0 || v.rank > ATTN_MAX_RANK || hasNegativeSize(v) ||
      isEmpty(v))
    return;
  if (v.rank == 0) {
    *v.data = 0.0f;
    return;
  }
  int32_t last = v.rank - 1;
  int64_t index[ATTN_MAX_RANK] = {};
  for (;;) {
    float *row = v.data;
    for (int32_t d = 0; d < last; ++d)
      row += index[d] * v.strides[d];
    for (int64_t i = 0; i < v.sizes[last]; ++i)
      row[i * v.strides[last]] = 0.0f;
    int32_t d = last - 1;
    while (d >= 0 && ++index[d] == v.sizes[d])
      index[d--] = 0;
    if (d < 0)
      return;
  }
}

int viewFromMemref(const char *op, const char *name,
                   const attn_unranked_memref *m, attn_view_f32 &out) {
  std::string prefix = std::string(op) + ": " + name;
  if (!m)
    return fail(ATTN_ERR_NULL, prefix + " is a null memref pointer");
  if (!m->descriptor)
    return fail(ATTN_ERR_NULL, prefix + " has a null descriptor");
  if (m->rank < 0 || m->rank > ATTN_MAX_RANK)
    return fail(ATTN_ERR_UNSUPPORTED, prefix + " has rank " +
                                          std::to_string(m->rank) +
                                          ", outside [0, ATTN_MAX_RANK = " +
                                          std::to_string(ATTN_MAX_RANK) + "]");
  // MLIR's StridedMemRefType<T, N>: {T *allocated; T *aligned; int64_t
  // offset; int64_t sizes[N]; int64_t strides[N];}. Read field by field with
  // memcpy: the descriptor is a JIT-built byte blob, not one of our types.
  const char *base = static_cast<const char *>(m->descriptor);
  float *aligned;
  int64_t offset;
  std::memcpy(&aligned, base + sizeof(float *), sizeof(float *));
  std::memcpy(&offset, base + 2 * sizeof(float *), sizeof(int64_t));
  const char *sizes = base + 2 * sizeof(float *) + sizeof(int64_t);
  const char *strides = sizes + m->rank * sizeof(int64_t);
  out = attn_view_f32{};
  out.rank = static_cast<int32_t>(m->rank);
  std::memcpy(out.sizes, sizes, m->rank * sizeof(int64_t));
  std::memcpy(out.strides, strides, m->rank * sizeof(int64_t));
  out.data = aligned ? aligned + offset : nullptr;
  return ATTN_OK;
}

int64_t RowMatrix::rowOffset(int64_t r) const {
  if (uniform)
    return r * rowStride;
  int64_t offset = 0;
  for (int32_t d = leadRank - 1; d >= 0; --d) {
    offset += (r % leadSizes[d]) * leadStrides[d];
    r /= leadSizes[d];
  }
  return offset;
}

bool RowMatrix::blasRows(int64_t n, int &ld) const {
  if (colStride != 1 && cols > 1)
    return false;
  if (n <= 1) {
    ld = static_cast<int>(std::max<int64_t>(cols, 1));
    return true;
  }
  if (!uniform || rowStride < std::max<int64_t>(cols, 1) ||
      rowStride > kBlasMaxDim)
    return false;
  ld = static_cast<int>(rowStride);
  return true;
}

RowMatrix asRows(const attn_view_f32 &v) {
  RowMatrix m;
  m.data = v.data;
  m.leadRank = v.rank - 1;
  m.cols = v.sizes[m.leadRank];
  m.colStride = v.strides[m.leadRank];
  m.rows = 1;
  for (int32_t d = 0; d < m.leadRank; ++d) {
    m.leadSizes[d] = v.sizes[d];
    m.leadStrides[d] = v.strides[d];
    m.rows *= v.sizes[d];
  }
  // Unit dimensions never move the address, whatever their stride; the rest
  // must nest exactly for one row stride to describe them all.
  m.uniform = true;
  m.rowStride = m.cols;
  bool seen = false;
  int64_t expected = 0;
  for (int32_t d = m.leadRank - 1; d >= 0 && m.rows > 1; --d) {
    if (v.sizes[d] == 1)
      continue;
    if (!seen) {
      seen = true;
      m.rowStride = v.strides[d];
    } else if (v.strides[d] != expected) {
      m.uniform = false;
      break;
    }
    if (__builtin_mul_overflow(v.strides[d], v.sizes[d], &expected)) {
      m.uniform = false;
      break;
    }
  }
  return m;
}

void gatherRows(const RowMatrix &m, int64_t r0, int64_t n, float *dst) {
  for (int64_t i = 0; i < n; ++i) {
    const float *src = m.data + m.rowOffset(r0 + i);
    float *out = dst + i * m.cols;
    if (m.colStride == 1)
      std::memcpy(out, src, m.cols * sizeof(float));
    else
      for (int64_t c = 0; c < m.cols; ++c)
        out[c] = src[c * m.colStride];
  }
}

void scatterRows(const float *src, const RowMatrix &m, int64_t r0, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float *out = m.data + m.rowOffset(r0 + i);
    const float *in = src + i * m.cols;
    if (m.colStride == 1)
      std::memcpy(out, in, m.cols * sizeof(float));
    else
      for (int64_t c = 0; c < m.cols; ++c)
        out[c * m.colStride] = in[c];
  }
}

} // namespace attenuate::runtime::detail

using namespace attenuate::runtime::detail;

extern "C" int attn_view_from_memref(const attn_unranked_memref *m,
                                     attn_view_f32 *out) {
  return guarded("attn_view_from_memref", [&] {
    if (!out)
      return fail(ATTN_ERR_NULL,
                  "attn_view_from_memref: out is a null view pointer");
    return viewFromMemref("attn_view_from_memref", "memref", m, *out);
  });
}

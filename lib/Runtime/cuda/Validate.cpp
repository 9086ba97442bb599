//===- Validate.cpp - operand checks shared by every CUDA entry point -----===//
//
// A device kernel cannot report a bad shape back; it reads out of bounds or
// writes a plausible wrong answer. So every entry checks its operands on the
// host, completely, before anything is enqueued, and names the operand and
// the rule it breaks.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <cstdint>

namespace attenuate::cuda::host {

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

bool isContiguous(const attn_cuda_tensor &t) {
  int64_t expected = 1;
  for (int32_t i = t.rank - 1; i >= 0; --i) {
    if (t.sizes[i] == 1)
      continue;
    if (t.strides[i] != expected)
      return false;
    expected *= t.sizes[i];
  }
  return true;
}

} // namespace

const char *dtypeName(int32_t dtype) {
  switch (dtype) {
  case ATTN_DTYPE_F32:
    return "f32";
  case ATTN_DTYPE_F16:
    return "f16";
  case ATTN_DTYPE_BF16:
    return "bf16";
  default:
    return "an unknown dtype";
  }
}

size_t dtypeBytes(int32_t dtype) {
  switch (dtype) {
  case ATTN_DTYPE_F32:
    return 4;
  case ATTN_DTYPE_F16:
  case ATTN_DTYPE_BF16:
    return 2;
  default:
    return 0;
  }
}

std::string describe(const attn_cuda_tensor &t) {
  if (t.rank < 0 || t.rank > ATTN_MAX_RANK)
    return "<rank " + std::to_string(t.rank) + ">";
  std::string s = joinDims(t.sizes, t.rank) + " " + dtypeName(t.dtype);
  if (!isContiguous(t))
    s += " (strides " + joinDims(t.strides, t.rank) + ")";
  return s;
}

int64_t numel(const attn_cuda_tensor &t) {
  int64_t n = 1;
  for (int32_t i = 0; i < t.rank; ++i)
    n *= t.sizes[i];
  return n;
}

int checkTensor(const char *op, const char *name, const attn_cuda_tensor *t,
                const TensorRule &rule) {
  const std::string prefix = std::string(op) + ": " + name;
  if (!t)
    return fail(ATTN_ERR_NULL, prefix + " is a null tensor pointer");
  if (t->rank < 0 || t->rank > ATTN_MAX_RANK)
    return fail(ATTN_ERR_SHAPE, prefix + " has rank " +
                                    std::to_string(t->rank) +
                                    ", outside [0, " +
                                    std::to_string(ATTN_MAX_RANK) + "]");
  if (rule.rank >= 0 && t->rank != rule.rank)
    return fail(ATTN_ERR_SHAPE, prefix + " has rank " +
                                    std::to_string(t->rank) + ", expected " +
                                    std::to_string(rule.rank));
  if (rule.rank < 0 && t->rank < rule.minRank)
    return fail(ATTN_ERR_SHAPE, prefix + " has rank " +
                                    std::to_string(t->rank) +
                                    ", expected at least " +
                                    std::to_string(rule.minRank));
  if (dtypeBytes(t->dtype) == 0)
    return fail(ATTN_ERR_UNSUPPORTED,
                prefix + " has dtype code " + std::to_string(t->dtype) +
                    ", not one of attn_dtype");
  if (rule.lowPrecision && t->dtype != ATTN_DTYPE_BF16 &&
      t->dtype != ATTN_DTYPE_F16)
    return fail(ATTN_ERR_UNSUPPORTED,
                prefix + " is " + dtypeName(t->dtype) +
                    "; the CUDA kernels take bf16 or f16 (fp32 inputs run "
                    "on the CPU runtime)");
  int64_t count = 1;
  bool empty = false;
  for (int32_t i = 0; i < t->rank; ++i) {
    if (t->sizes[i] < 0)
      return fail(ATTN_ERR_SHAPE, prefix + " has a negative size: " +
                                      joinDims(t->sizes, t->rank));
    if (t->sizes[i] == 0)
      empty = true;
    else if (count > INT64_MAX / t->sizes[i])
      return fail(ATTN_ERR_SHAPE, prefix + " has more elements than int64 "
                                           "holds: " +
                                      joinDims(t->sizes, t->rank));
    else
      count *= t->sizes[i];
  }
  if (empty)
    return ATTN_OK;
  if (!t->data)
    return fail(ATTN_ERR_NULL,
                prefix + " " + describe(*t) + " has a null data pointer");
  if (t->rank > 0 && t->sizes[t->rank - 1] > 1 &&
      t->strides[t->rank - 1] != 1)
    return fail(ATTN_ERR_UNSUPPORTED,
                prefix + " " + describe(*t) +
                    ": the innermost dimension must be contiguous (stride 1)");
  for (int32_t i = 0; i < t->rank; ++i)
    if (t->strides[i] < 0)
      return fail(ATTN_ERR_UNSUPPORTED,
                  prefix + " " + describe(*t) + ": negative strides");
  if (rule.vectorRows) {
    if (reinterpret_cast<uintptr_t>(t->data) % 16 != 0)
      return fail(ATTN_ERR_UNSUPPORTED,
                  prefix + " " + describe(*t) +
                      ": the data pointer must be 16-byte aligned (rows are "
                      "loaded 16 bytes at a time)");
    for (int32_t i = 0; i + 1 < t->rank; ++i)
      if (t->sizes[i] > 1 && t->strides[i] % 8 != 0)
        return fail(ATTN_ERR_UNSUPPORTED,
                    prefix + " " + describe(*t) + ": stride " +
                        std::to_string(t->strides[i]) + " of dim " +
                        std::to_string(i) +
                        " is not a multiple of 8 elements (16 bytes)");
  }
  return ATTN_OK;
}

int checkSameDtype(const char *op, const char *name,
                   const attn_cuda_tensor &t, const char *refName,
                   const attn_cuda_tensor &ref) {
  if (t.dtype == ref.dtype)
    return ATTN_OK;
  return fail(ATTN_ERR_UNSUPPORTED, std::string(op) + ": " + name + " is " +
                                        dtypeName(t.dtype) + " but " +
                                        refName + " is " +
                                        dtypeName(ref.dtype) +
                                        "; mixed dtypes are not supported");
}

bool asRows(const attn_cuda_tensor &t, Rows &out) {
  if (t.rank < 1)
    return false;
  out.cols = t.sizes[t.rank - 1];
  out.rows = 1;
  int64_t stride = -1; // stride of one step of the flattened row index
  for (int32_t i = t.rank - 2; i >= 0; --i) {
    if (t.sizes[i] == 1)
      continue;
    if (stride < 0)
      stride = t.strides[i];
    else if (t.strides[i] != stride * out.rows)
      return false;
    out.rows *= t.sizes[i];
  }
  out.stride = stride < 0 ? out.cols : stride;
  return true;
}

} // namespace attenuate::cuda::host

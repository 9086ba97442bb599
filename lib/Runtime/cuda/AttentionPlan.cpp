//===- AttentionPlan.cpp - attention operand checks and launch planning ---===//
//
// Host-only: which kernel variant, how many blocks, how many key splits.
// The emulation tests run this same code, so what they cover is what the
// library launches.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"
#include "FlashConfigs.h"

#include <algorithm>
#include <climits>
#include <cmath>

namespace attenuate::cuda::host {

namespace {

std::string dims4(const attn_cuda_tensor &t) {
  return "[" + std::to_string(t.sizes[0]) + ", " + std::to_string(t.sizes[1]) +
         ", " + std::to_string(t.sizes[2]) + ", " +
         std::to_string(t.sizes[3]) + "]";
}

/// Shapes and sizes the kernels index with 32-bit ints stay well inside.
constexpr int64_t kIndexLimit = int64_t{1} << 30;

} // namespace

const char *flashKernelName(FlashKernel k) {
  switch (k) {
#define ATTN_NAME(name)                                                      \
  case FlashKernel::name:                                                    \
    return #name;
    ATTN_FLASH_KERNELS(ATTN_NAME)
#undef ATTN_NAME
  }
  return "?";
}

FlashShape flashShape(FlashKernel k) {
  switch (k) {
#define ATTN_SHAPE(name)                                                     \
  case FlashKernel::name:                                                    \
    return {Flash##name::kBlockM, Flash##name::kBlockN,                      \
            Flash##name::kThreads, Flash##name::kSmemBytes};
    ATTN_FLASH_KERNELS(ATTN_SHAPE)
#undef ATTN_SHAPE
  }
  return {0, 0, 0, 0};
}

int checkAttention(const char *op, const attn_cuda_tensor *q,
                   const attn_cuda_tensor *k, const attn_cuda_tensor *v,
                   double scale, int causal, const attn_cuda_tensor *o,
                   AttentionProblem &out) {
  TensorRule rule;
  rule.rank = 4;
  rule.vectorRows = true;
  if (int rc = checkTensor(op, "q", q, rule))
    return rc;
  if (int rc = checkTensor(op, "k", k, rule))
    return rc;
  if (int rc = checkTensor(op, "v", v, rule))
    return rc;
  if (int rc = checkTensor(op, "o", o, rule))
    return rc;
  if (int rc = checkSameDtype(op, "k", *k, "q", *q))
    return rc;
  if (int rc = checkSameDtype(op, "v", *v, "q", *q))
    return rc;
  if (int rc = checkSameDtype(op, "o", *o, "q", *q))
    return rc;

  const std::string shapes = std::string(" (q ") + dims4(*q) + ", k " +
                             dims4(*k) + ", v " + dims4(*v) + ", o " +
                             dims4(*o) + ")";
  const std::string prefix = std::string(op) + ": ";
  if (k->sizes[0] != q->sizes[0] || v->sizes[0] != q->sizes[0] ||
      o->sizes[0] != q->sizes[0])
    return fail(ATTN_ERR_SHAPE, prefix + "batch sizes differ" + shapes);
  if (k->sizes[3] != q->sizes[3])
    return fail(ATTN_ERR_SHAPE,
                prefix + "q and k head dims differ" + shapes);
  if (v->sizes[1] != k->sizes[1] || v->sizes[2] != k->sizes[2])
    return fail(ATTN_ERR_SHAPE,
                prefix + "k and v differ in length or heads" + shapes);
  if (o->sizes[1] != q->sizes[1] || o->sizes[2] != q->sizes[2] ||
      o->sizes[3] != v->sizes[3])
    return fail(ATTN_ERR_SHAPE,
                prefix + "o is not [B, Sq, Hq, Dv]" + shapes);
  const int64_t hq = q->sizes[2], hkv = k->sizes[2];
  if (hq > 0 && (hkv == 0 || hq % hkv != 0))
    return fail(ATTN_ERR_SHAPE,
                prefix + "query heads (" + std::to_string(hq) +
                    ") are not a multiple of kv heads (" +
                    std::to_string(hkv) + ")" + shapes);
  if (!std::isfinite(scale))
    return fail(ATTN_ERR_SHAPE,
                prefix + "scale " + std::to_string(scale) + " is not finite");

  out = AttentionProblem{};
  out.q = q->data;
  out.k = k->data;
  out.v = v->data;
  out.o = o->data;
  out.dtype = q->dtype;
  out.batch = q->sizes[0];
  out.sq = q->sizes[1];
  out.hq = hq;
  out.dqk = q->sizes[3];
  out.skv = k->sizes[1];
  out.hkv = hkv;
  out.dv = v->sizes[3];
  for (int i = 0; i < 3; ++i) {
    out.qStride[i] = q->strides[i];
    out.kStride[i] = k->strides[i];
    out.vStride[i] = v->strides[i];
    out.oStride[i] = o->strides[i];
  }
  out.causal = causal != 0;
  out.scale = scale;
  out.vPrefixOfK = v->data == k->data && out.dv <= out.dqk &&
                   v->strides[0] == k->strides[0] &&
                   v->strides[1] == k->strides[1] &&
                   v->strides[2] == k->strides[2];

  if (out.batch == 0 || out.sq == 0 || out.hq == 0)
    return ATTN_OK; // nothing to compute; the head-dim rules do not matter
  for (auto [name, d] : {std::pair<const char *, int64_t>{"Dqk", out.dqk},
                         {"Dv", out.dv}})
    if (d <= 0 || d % 8 != 0)
      return fail(ATTN_ERR_UNSUPPORTED,
                  prefix + "head dim " + name + " = " + std::to_string(d) +
                      " is not a positive multiple of 8" + shapes);
  if (out.dqk > 256 || out.dv > 256) {
    if (out.dqk > 576 || out.dv > 512)
      return fail(ATTN_ERR_UNSUPPORTED,
                  prefix + "head dims Dqk = " + std::to_string(out.dqk) +
                      ", Dv = " + std::to_string(out.dv) +
                      " exceed the largest kernel (Dqk 576, Dv 512)" +
                      shapes);
    if (!out.vPrefixOfK)
      return fail(ATTN_ERR_UNSUPPORTED,
                  prefix + "head dims above 256 (Dqk = " +
                      std::to_string(out.dqk) + ", Dv = " +
                      std::to_string(out.dv) +
                      ") are supported only in MLA's absorbed form, with v "
                      "a prefix of k (same data pointer and strides)" +
                      shapes);
  }
  if (out.batch >= kIndexLimit || out.sq >= kIndexLimit ||
      out.skv >= kIndexLimit || out.hq >= kIndexLimit ||
      out.sq * out.hq >= kIndexLimit)
    return fail(ATTN_ERR_UNSUPPORTED,
                prefix + "sizes past 2^30 rows are not supported" + shapes);
  return ATTN_OK;
}

int planAttention(const char *op, const AttentionProblem &p,
                  AttentionMode mode, int numSplits, int smCount,
                  AttentionPlan &out) {
  out = AttentionPlan{};
  const int64_t group = p.hq / p.hkv;
  const int64_t d = std::max(p.dqk, p.dv);
  bool packHeads = mode == AttentionMode::Decode;
  if (d > 256) {
    // Only the MLA kernel reaches these dims; it always packs the query
    // heads of its single kv head into rows.
    packHeads = true;
    out.kernel =
        group * p.sq <= FlashMla16::kBlockM ? FlashKernel::Mla16
                                            : FlashKernel::Mla32;
  } else if (mode == AttentionMode::Decode) {
    out.kernel = d <= 64    ? FlashKernel::Decode64
                 : d <= 128 ? FlashKernel::Decode128
                            : FlashKernel::Decode256;
  } else {
    out.kernel = d <= 32    ? FlashKernel::Prefill32
                 : d <= 64  ? FlashKernel::Prefill64
                 : d <= 96  ? FlashKernel::Prefill96
                 : d <= 128 ? FlashKernel::Prefill128
                 : d <= 192 ? FlashKernel::Prefill192
                            : FlashKernel::Prefill256;
  }
  out.shape = flashShape(out.kernel);
  out.group = static_cast<int>(group);
  out.pack = packHeads ? out.group : 1;
  out.headGroups = out.group / out.pack;
  out.rowsPerHeadGroup = static_cast<int>(p.sq * out.pack);
  out.rowBlocks =
      (out.rowsPerHeadGroup + out.shape.blockM - 1) / out.shape.blockM;
  const int64_t blocks =
      int64_t{out.rowBlocks} * p.batch * p.hkv * out.headGroups;
  if (blocks > INT_MAX)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": " + std::to_string(blocks) +
                    " thread blocks exceed the grid limit");
  out.gridX = static_cast<int>(blocks);

  const int64_t tiles = (p.skv + out.shape.blockN - 1) / out.shape.blockN;
  int64_t splits = 1;
  if (mode == AttentionMode::Decode) {
    if (numSplits > 0) {
      splits = numSplits;
    } else {
      // Enough blocks for two waves over the SMs; each split keeps at
      // least four tiles so that its prologue and the combine stay small
      // next to its streaming.
      const int64_t resident = std::clamp<int64_t>(
          static_cast<int64_t>(227 * 1024 / (out.shape.smemBytes + 1024)), 1,
          4);
      const int64_t wanted = 2 * std::max(smCount, 1) * resident;
      splits = (wanted + blocks - 1) / std::max<int64_t>(blocks, 1);
      splits = std::min<int64_t>(splits, std::max<int64_t>(tiles / 4, 1));
      splits = std::min<int64_t>(splits, 64);
    }
  }
  splits = std::clamp<int64_t>(splits, 1, std::max<int64_t>(tiles, 1));
  int64_t perSplit = tiles == 0 ? 0 : (tiles + splits - 1) / splits;
  if (perSplit > 0)
    splits = (tiles + perSplit - 1) / perSplit; // no empty splits
  if (splits > 65535)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": " + std::to_string(splits) +
                    " key splits exceed the grid limit");
  out.splits = static_cast<int>(splits);
  out.tilesPerSplit = static_cast<int>(perSplit);
  out.scaleLog2 = static_cast<float>(p.scale * 1.4426950408889634);
  if (out.splits > 1) {
    const int64_t rows = p.batch * p.hq * p.sq;
    const size_t partialBytes =
        static_cast<size_t>(splits * rows * p.dv) * sizeof(float);
    out.statsOffset = (partialBytes + 255) / 256 * 256;
    out.workspaceBytes =
        out.statsOffset + static_cast<size_t>(splits * rows * 2) * sizeof(float);
  }
  return ATTN_OK;
}

FlashParams makeFlashParams(const AttentionProblem &p, const AttentionPlan &plan,
                       void *workspace) {
  FlashParams f{};
  f.q = p.q;
  f.k = p.k;
  f.v = p.v;
  f.o = p.o;
  for (int i = 0; i < 3; ++i) {
    f.qStride[i] = p.qStride[i];
    f.kStride[i] = p.kStride[i];
    f.vStride[i] = p.vStride[i];
    f.oStride[i] = p.oStride[i];
  }
  f.batch = static_cast<int>(p.batch);
  f.sq = static_cast<int>(p.sq);
  f.skv = static_cast<int>(p.skv);
  f.hq = static_cast<int>(p.hq);
  f.hkv = static_cast<int>(p.hkv);
  f.dqk = static_cast<int>(p.dqk);
  f.dv = static_cast<int>(p.dv);
  f.group = plan.group;
  f.pack = plan.pack;
  f.headGroups = plan.headGroups;
  f.rowsPerHeadGroup = plan.rowsPerHeadGroup;
  f.rowBlocks = plan.rowBlocks;
  f.causal = p.causal ? 1 : 0;
  f.scaleLog2 = plan.scaleLog2;
  f.splits = plan.splits;
  f.tilesPerSplit = plan.tilesPerSplit;
  if (plan.splits > 1) {
    f.partialO = static_cast<float *>(workspace);
    f.partialStats = reinterpret_cast<float *>(static_cast<char *>(workspace) +
                                               plan.statsOffset);
  }
  return f;
}

CombineParams makeCombineParams(const AttentionProblem &p,
                                const AttentionPlan &plan,
                                const FlashParams &f) {
  CombineParams c{};
  c.partialO = f.partialO;
  c.partialStats = f.partialStats;
  c.o = p.o;
  for (int i = 0; i < 3; ++i)
    c.oStride[i] = p.oStride[i];
  c.batch = f.batch;
  c.sq = f.sq;
  c.hq = f.hq;
  c.dv = f.dv;
  c.splits = plan.splits;
  return c;
}

} // namespace attenuate::cuda::host

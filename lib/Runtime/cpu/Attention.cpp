//===- Attention.cpp - softmax(scale · q·kᵀ + mask)·v with GQA ------------===//
//
// Flash-style: a task owns a block of query rows, the query heads of one
// group that share a KV head times a few positions, stacked so that each key
// block is read once for the whole group. For every key block it computes the
// scores with one sgemm, folds them into a running (max, sum) per row, and
// accumulates P·V with a second sgemm. The scratch is therefore
// rows × (Dqk + key block + Dv) per thread, independent of the sequence
// lengths, and no Sq × Skv matrix ever exists.
//
// Tasks are (batch, KV head, head chunk, query block); the causal key range
// shrinks towards the first query block, so tasks are handed out starting
// from the last block to even out the tail. Each output row is computed by
// exactly one task with a fixed sequence of operations, so results do not
// depend on the number of threads or on scheduling.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <cstring>
#include <limits>

namespace attenuate::runtime::detail {

namespace {

constexpr const char *kOp = "attn_attention_f32";
/// Query rows (heads × positions) per task: enough to make the score sgemm
/// efficient, small enough for its scratch to stay in L2.
constexpr int64_t kRowsPerTask = 64;
constexpr int64_t kKeysPerBlock = 256;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// Four floats in an SSE register. GCC/Clang vector extensions rather than
/// auto-vectorisation: without -ffast-math the compilers keep the max and sum
/// reductions and the selects below scalar, and the lane structure, hence
/// the rounding, is then fixed by the source and not by compiler flags.
typedef float Floats4 __attribute__((vector_size(16)));
typedef int32_t Ints4 __attribute__((vector_size(16)));

inline Floats4 load4(const float *p) {
  Floats4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store4(float *p, Floats4 v) { std::memcpy(p, &v, sizeof v); }

inline Floats4 splat4(float x) { return Floats4{x, x, x, x}; }

/// e^r for |r| <= ln2/2 by its degree-7 Taylor polynomial: truncation error
/// below 2^-24 on that range.
template <typename T> inline T expReduced(T r) {
  T p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

/// e^x for x <= 0 (including -inf), within 2 ulp. The softmax spends one exp
/// per score, as much time as the two GEMMs at head dim 64, and std::exp
/// does not vectorise. Cody–Waite reduction x = n·ln2 + r, the polynomial,
/// then 2^n built in the exponent bits; below -87 the result would be
/// subnormal and is returned as 0, which a softmax cannot tell apart. The
/// scalar and vector versions perform the same operations, so a score gets
/// the same probability whichever lane it lands in.
constexpr float kExpLowest = -87.0f;
constexpr float kLog2e = 1.44269504089f;
constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;
/// Adding and subtracting 1.5 · 2^23 rounds to the nearest integer.
constexpr float kRoundMagic = 12582912.0f;

inline float expNonPositive(float x) {
  float xc = x < kExpLowest ? kExpLowest : x;
  float n = (xc * kLog2e + kRoundMagic) - kRoundMagic;
  float r = (xc - n * kLn2High) - n * kLn2Low;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float twoToN;
  std::memcpy(&twoToN, &bits, sizeof(float));
  return x < kExpLowest ? 0.0f : expReduced(r) * twoToN;
}

inline Floats4 expNonPositive(Floats4 x) {
  Floats4 lowest = splat4(kExpLowest);
  Floats4 xc = x < lowest ? lowest : x;
  Floats4 n = (xc * kLog2e + kRoundMagic) - kRoundMagic;
  Floats4 r = (xc - n * kLn2High) - n * kLn2Low;
  Ints4 bits = (__builtin_convertvector(n, Ints4) + 127) << 23;
  return x < lowest ? splat4(0.0f) : expReduced(r) * (Floats4)bits;
}

/// Scales one row of raw scores, masks keys at and after `valid`, and folds
/// the row into its running maximum `m` and sum `l`. On return `s` holds the
/// probabilities relative to the new maximum; the result is the factor that
/// rescales what was accumulated under the old maximum.
float foldScores(float *s, int64_t valid, int64_t n, float scale, float &m,
                 float &l) {
  valid = std::max<int64_t>(valid, 0);
  Floats4 max4 = splat4(kNegInf);
  int64_t j = 0;
  for (; j + 4 <= valid; j += 4) {
    Floats4 v = load4(s + j) * scale;
    store4(s + j, v);
    max4 = v > max4 ? v : max4;
  }
  float blockMax = kNegInf;
  for (; j < valid; ++j) {
    s[j] *= scale;
    blockMax = s[j] > blockMax ? s[j] : blockMax;
  }
  for (int u = 0; u < 4; ++u)
    blockMax = max4[u] > blockMax ? max4[u] : blockMax;
  float newMax = blockMax > m ? blockMax : m;
  // No key seen yet (fully masked so far): nothing to fold, and newMax = -inf
  // would turn every exponent into NaN.
  if (newMax == kNegInf) {
    std::fill(s, s + n, 0.0f);
    return 1.0f;
  }
  Floats4 sum4 = splat4(0.0f);
  j = 0;
  for (; j + 4 <= valid; j += 4) {
    Floats4 p = expNonPositive(load4(s + j) - newMax);
    store4(s + j, p);
    sum4 += p;
  }
  float sum = (sum4[0] + sum4[1]) + (sum4[2] + sum4[3]);
  for (; j < valid; ++j) {
    s[j] = expNonPositive(s[j] - newMax);
    sum += s[j];
  }
  std::fill(s + valid, s + n, 0.0f);
  float alpha = expNonPositive(m - newMax);
  l = l * alpha + sum;
  m = newMax;
  return alpha;
}

/// A K or V operand, [B, S, H, D], in a form sgemm can read one head's rows
/// from: D unit-stride and the S stride a valid leading dimension. Views
/// that are not (a strided last dim, say) are packed as [B, H, S, D].
struct KvOperand {
  const float *data = nullptr;
  int64_t batchStride = 0, seqStride = 0, headStride = 0;
  int ld = 1;
  std::vector<float> packed;

  explicit KvOperand(const attn_view_f32 &v) {
    int64_t s = v.sizes[1], h = v.sizes[2], d = v.sizes[3];
    int64_t dMin = std::max<int64_t>(d, 1);
    bool inPlace =
        (v.strides[3] == 1 || d <= 1) &&
        (s <= 1 || (v.strides[1] >= dMin && v.strides[1] <= kBlasMaxDim));
    if (inPlace) {
      data = v.data;
      batchStride = v.strides[0];
      seqStride = v.strides[1];
      headStride = v.strides[2];
      ld = static_cast<int>(s <= 1 ? dMin : v.strides[1]);
      return;
    }
    packed.resize(v.sizes[0] * h * s * d);
    float *out = packed.data();
    for (int64_t b = 0; b < v.sizes[0]; ++b)
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t i = 0; i < s; ++i) {
          const float *in =
              v.data + b * v.strides[0] + i * v.strides[1] + hh * v.strides[2];
          for (int64_t e = 0; e < d; ++e)
            *out++ = in[e * v.strides[3]];
        }
    data = packed.data();
    batchStride = h * s * d;
    headStride = s * d;
    seqStride = d;
    ld = static_cast<int>(dMin);
  }

  const float *rows(int64_t b, int64_t head, int64_t first) const {
    return data + b * batchStride + head * headStride + first * seqStride;
  }
};

struct Problem {
  const attn_view_f32 *q, *o;
  const KvOperand *k, *v;
  int64_t batch, queries, keys, qHeads, kvHeads, group, dqk, dv;
  float scale;
  bool causal;
  int64_t headsPerTask, headChunks, queriesPerTask, queryBlocks;

  int64_t tasks() const { return batch * kvHeads * headChunks * queryBlocks; }
  int64_t maxRows() const { return headsPerTask * queriesPerTask; }
  int64_t scratchFloats() const {
    return maxRows() * (dqk + kKeysPerBlock + dv + 2);
  }
};

/// Chooses the task shape: whole GQA groups of kRowsPerTask rows when there
/// is enough work for every thread, smaller head chunks and then shorter
/// query blocks when there is not (decode with one KV head, for instance).
void chooseTasks(Problem &p, int threads) {
  p.headsPerTask = std::min(p.group, kRowsPerTask);
  p.queriesPerTask = std::clamp<int64_t>(kRowsPerTask / p.headsPerTask, 1,
                                         std::max<int64_t>(p.queries, 1));
  auto update = [&] {
    p.headChunks = (p.group + p.headsPerTask - 1) / p.headsPerTask;
    p.queryBlocks = (p.queries + p.queriesPerTask - 1) / p.queriesPerTask;
  };
  update();
  int64_t wanted = 2 * static_cast<int64_t>(threads);
  while (p.headsPerTask > 1 && p.tasks() < wanted) {
    p.headsPerTask = (p.headsPerTask + 1) / 2;
    update();
  }
  while (p.queriesPerTask > 16 && p.tasks() < wanted) {
    p.queriesPerTask = (p.queriesPerTask + 1) / 2;
    update();
  }
}

void runTask(const Problem &p, int64_t task, float *scratch) {
  int64_t block = p.queryBlocks - 1 - task % p.queryBlocks;
  int64_t rest = task / p.queryBlocks;
  int64_t chunk = rest % p.headChunks;
  rest /= p.headChunks;
  int64_t kvHead = rest % p.kvHeads;
  int64_t b = rest / p.kvHeads;

  int64_t h0 = kvHead * p.group + chunk * p.headsPerTask;
  int64_t heads = std::min(p.headsPerTask, p.group - chunk * p.headsPerTask);
  int64_t i0 = block * p.queriesPerTask;
  int64_t nq = std::min(p.queriesPerTask, p.queries - i0);
  int64_t rows = heads * nq;
  int64_t maxRows = p.maxRows();
  float *qs = scratch;
  float *scores = qs + maxRows * p.dqk;
  float *acc = scores + maxRows * kKeysPerBlock;
  float *rowMax = acc + maxRows * p.dv;
  float *rowSum = rowMax + maxRows;

  // Row r is head h0 + r / nq at query position i0 + r % nq.
  const attn_view_f32 &q = *p.q;
  for (int64_t r = 0; r < rows; ++r) {
    const float *in = q.data + b * q.strides[0] + (i0 + r % nq) * q.strides[1] +
                      (h0 + r / nq) * q.strides[2];
    for (int64_t e = 0; e < p.dqk; ++e)
      qs[r * p.dqk + e] = in[e * q.strides[3]];
  }
  std::fill(acc, acc + rows * p.dv, 0.0f);
  std::fill(rowMax, rowMax + rows, kNegInf);
  std::fill(rowSum, rowSum + rows, 0.0f);

  // Bottom-right alignment: query i sees keys j <= i + offset.
  int64_t offset = p.keys - p.queries;
  int64_t keyEnd =
      p.causal ? std::clamp<int64_t>(i0 + nq + offset, 0, p.keys) : p.keys;
  for (int64_t j0 = 0; j0 < keyEnd; j0 += kKeysPerBlock) {
    int64_t nk = std::min(kKeysPerBlock, keyEnd - j0);
    if (p.dqk > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                  static_cast<int>(rows), static_cast<int>(nk),
                  static_cast<int>(p.dqk), 1.0f, qs, static_cast<int>(p.dqk),
                  p.k->rows(b, kvHead, j0), p.k->ld, 0.0f, scores,
                  static_cast<int>(kKeysPerBlock));
    else
      for (int64_t r = 0; r < rows; ++r)
        std::fill(scores + r * kKeysPerBlock, scores + r * kKeysPerBlock + nk,
                  0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t valid =
          p.causal ? std::clamp<int64_t>(i0 + r % nq + offset + 1 - j0, 0, nk)
                   : nk;
      float alpha = foldScores(scores + r * kKeysPerBlock, valid, nk, p.scale,
                               rowMax[r], rowSum[r]);
      if (alpha != 1.0f)
        for (int64_t e = 0; e < p.dv; ++e)
          acc[r * p.dv + e] *= alpha;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(p.dv),
                static_cast<int>(nk), 1.0f, scores,
                static_cast<int>(kKeysPerBlock), p.v->rows(b, kvHead, j0),
                p.v->ld, 1.0f, acc, static_cast<int>(p.dv));
  }

  const attn_view_f32 &o = *p.o;
  for (int64_t r = 0; r < rows; ++r) {
    // A row that saw no key has rowSum 0: its output is 0, not 0/0.
    float inv = rowSum[r] > 0.0f ? 1.0f / rowSum[r] : 0.0f;
    float *out = o.data + b * o.strides[0] + (i0 + r % nq) * o.strides[1] +
                 (h0 + r / nq) * o.strides[2];
    for (int64_t e = 0; e < p.dv; ++e)
      out[e * o.strides[3]] = acc[r * p.dv + e] * inv;
  }
}

int attention(const attn_view_f32 *q, const attn_view_f32 *k,
              const attn_view_f32 *v, double scale, int causal,
              const attn_view_f32 *o) {
  if (int rc = checkView(kOp, "q", q, 4))
    return rc;
  if (int rc = checkView(kOp, "k", k, 4))
    return rc;
  if (int rc = checkView(kOp, "v", v, 4))
    return rc;
  if (int rc = checkView(kOp, "o", o, 4))
    return rc;
  auto shapes = [&] {
    return std::string(kOp) + ": q " + describe(*q) + ", k " + describe(*k) +
           ", v " + describe(*v) + ", o " + describe(*o) + ": ";
  };
  int64_t batch = q->sizes[0], queries = q->sizes[1], qHeads = q->sizes[2],
          dqk = q->sizes[3];
  int64_t keys = k->sizes[1], kvHeads = k->sizes[2], dv = v->sizes[3];
  if (k->sizes[0] != batch || v->sizes[0] != batch)
    return fail(ATTN_ERR_SHAPE, shapes() + "batch sizes differ");
  if (k->sizes[3] != dqk)
    return fail(ATTN_ERR_SHAPE, shapes() + "q and k head dims differ");
  if (v->sizes[1] != keys || v->sizes[2] != kvHeads)
    return fail(ATTN_ERR_SHAPE,
                shapes() + "k and v differ in sequence length or heads");
  if (kvHeads == 0 ? qHeads != 0 : qHeads % kvHeads != 0)
    return fail(ATTN_ERR_SHAPE,
                shapes() + "Hq = " + std::to_string(qHeads) +
                    " is not a multiple of Hkv = " + std::to_string(kvHeads));
  if (o->sizes[0] != batch || o->sizes[1] != queries || o->sizes[2] != qHeads ||
      o->sizes[3] != dv)
    return fail(ATTN_ERR_SHAPE,
                shapes() + "o must be [" + std::to_string(batch) + ", " +
                    std::to_string(queries) + ", " + std::to_string(qHeads) +
                    ", " + std::to_string(dv) + "]");
  if (!std::isfinite(static_cast<float>(scale)))
    return fail(ATTN_ERR_SHAPE, std::string(kOp) + ": scale " +
                                    std::to_string(scale) +
                                    " is not a finite f32");
  if (dqk > kBlasMaxDim || dv > kBlasMaxDim)
    return fail(ATTN_ERR_UNSUPPORTED,
                shapes() + "head dim beyond BLAS' int range");
  if (batch == 0 || queries == 0 || qHeads == 0 || dv == 0)
    return ATTN_OK;

  KvOperand kOperand(*k), vOperand(*v);
  Problem p{q,
            o,
            &kOperand,
            &vOperand,
            batch,
            queries,
            keys,
            qHeads,
            kvHeads,
            qHeads / kvHeads,
            dqk,
            dv,
            static_cast<float>(scale),
            causal != 0};
  int threads = numThreads();
  chooseTasks(p, threads);
  int slots = static_cast<int>(std::min<int64_t>(threads, p.tasks()));
  std::vector<std::vector<float>> scratch(slots);
  for (auto &s : scratch)
    s.resize(p.scratchFloats());
  BlasSerialScope serialBlas;
  parallelFor(p.tasks(), slots, [&](int64_t task, int slot) {
    runTask(p, task, scratch[slot].data());
  });
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::runtime::detail

extern "C" int attn_attention_f32(const attn_view_f32 *q,
                                  const attn_view_f32 *k,
                                  const attn_view_f32 *v, double scale,
                                  int causal, const attn_view_f32 *o) {
  using namespace attenuate::runtime::detail;
  return guarded(kOp, [&] { return attention(q, k, v, scale, causal, o); });
}

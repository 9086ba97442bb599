//===- Mla.cpp - X-EcoMLA factorisation -----------------------------------===//

#include "attenuate/Numerics/Mla.h"

#include "Detail.h"
#include "attenuate/Numerics/Decompositions.h"
#include "attenuate/Numerics/Rank.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace attenuate::numerics {

using detail::fail;
using detail::shapeOf;

namespace {

std::string str(int64_t v) { return std::to_string(v); }

bool hasBias(const Matrix &b) { return b.rows != 0 || b.cols != 0; }

/// A bias must be a finite [n × 1] column.
bool checkBias(const Matrix &b, int64_t n, const char *fn, const char *name,
               std::string &error) {
  if (!detail::checkOperand(b, fn, name, error))
    return false;
  if (b.rows != n || b.cols != 1)
    return fail(error, fn,
                std::string(name) + " is " + shapeOf(b) + ", expected " +
                    str(n) + "x1");
  return true;
}

/// M must have `rows` rows (cols unconstrained unless `cols` >= 0).
bool checkRows(const Matrix &M, int64_t rows, int64_t cols, const char *fn,
               const char *name, std::string &error) {
  if (!detail::checkOperand(M, fn, name, error))
    return false;
  if (M.rows != rows || (cols >= 0 && M.cols != cols))
    return fail(error, fn,
                std::string(name) + " is " + shapeOf(M) + ", expected " +
                    str(rows) + "x" + (cols >= 0 ? str(cols) : "n"));
  return true;
}

/// The factors of `kv` must belong to `layout`.
bool checkKV(const MlaKV &kv, const MlaLayout &layout, const char *fn,
             std::string &error) {
  const int64_t r = kv.rank;
  if (r < 1 || kv.upValue.rows != layout.numKVHeads * layout.headDim ||
      kv.upValue.cols != r ||
      kv.upKey.rows != layout.numKVHeads * layout.nopeDim() ||
      kv.upKey.cols != r || !kv.upKey.isConsistent() ||
      !kv.upValue.isConsistent())
    return fail(error, fn,
                "the KV factors (rank " + str(r) + ", W_UK " +
                    shapeOf(kv.upKey) + ", W_UV " + shapeOf(kv.upValue) +
                    ") do not belong to the layout");
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

std::vector<int64_t> MlaLayout::channelOrder() const {
  const int64_t m = static_cast<int64_t>(ropePairs.size());
  std::vector<int64_t> order(2 * m);
  std::vector<bool> used(headDim > 0 ? headDim : 0, false);
  for (int64_t t = 0; t < m; ++t) {
    auto [a, b] = ropePairChannels(ropePairs[t], rotaryDim, pairing);
    if (pairing == RopePairing::RotateHalf) {
      order[t] = a;
      order[t + m] = b;
    } else {
      order[2 * t] = a;
      order[2 * t + 1] = b;
    }
  }
  for (int64_t c : order)
    if (c >= 0 && c < headDim)
      used[c] = true;
  for (int64_t c = 0; c < headDim; ++c)
    if (!used[c])
      order.push_back(c);
  return order;
}

bool MlaLayout::check(const char *fn, std::string &error) const {
  if (numQueryHeads <= 0 || numKVHeads <= 0 ||
      numQueryHeads % numKVHeads != 0)
    return fail(error, fn,
                "head counts " + str(numQueryHeads) + "/" + str(numKVHeads) +
                    " are not positive with the KV heads dividing the query "
                    "heads");
  if (headDim <= 0)
    return fail(error, fn, "head dim " + str(headDim) + " is not positive");
  if (rotaryDim < 0 || rotaryDim > headDim || rotaryDim % 2 != 0)
    return fail(error, fn,
                "rotary dim " + str(rotaryDim) +
                    " is not even and within the head dim " + str(headDim));
  int64_t prev = -1;
  for (int64_t j : ropePairs) {
    if (j <= prev || j >= rotaryDim / 2)
      return fail(error, fn,
                  "RoPE pairs must be strictly ascending in [0, " +
                      str(rotaryDim / 2) + "), got " + str(j) +
                      (prev >= 0 ? " after " + str(prev) : ""));
    prev = j;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// RoPE pairs
//===----------------------------------------------------------------------===//

bool mlaRopePairScores(const Matrix &wq, const Matrix &wk,
                       int64_t numQueryHeads, int64_t numKVHeads,
                       int64_t rotaryDim, RopePairing pairing,
                       std::vector<double> &scores, std::string &error) {
  const char *fn = "mlaRopePairScores";
  if (!detail::checkOperand(wq, fn, "W_Q", error) ||
      !detail::checkOperand(wk, fn, "W_K", error))
    return false;
  if (numQueryHeads <= 0 || numKVHeads <= 0 ||
      numQueryHeads % numKVHeads != 0 || wq.rows % numQueryHeads != 0)
    return fail(error, fn,
                "W_Q " + shapeOf(wq) + " does not hold " + str(numQueryHeads) +
                    " heads with " + str(numKVHeads) +
                    " KV heads dividing them");
  const int64_t dh = wq.rows / numQueryHeads;
  if (wk.rows != numKVHeads * dh || wk.cols != wq.cols)
    return fail(error, fn,
                "W_K " + shapeOf(wk) + " does not hold " + str(numKVHeads) +
                    " heads of dim " + str(dh) + " over " + str(wq.cols) +
                    " inputs");
  if (rotaryDim < 2 || rotaryDim % 2 != 0 || rotaryDim > dh)
    return fail(error, fn,
                "rotary dim " + str(rotaryDim) +
                    " is not even and within the head dim " + str(dh));
  auto rowSq = [](const Matrix &w, int64_t r) {
    double s = 0;
    for (int64_t c = 0; c < w.cols; ++c)
      s += w(r, c) * w(r, c);
    return s;
  };
  const int64_t group = numQueryHeads / numKVHeads;
  scores.assign(rotaryDim / 2, 0.0);
  for (int64_t i = 0; i < numQueryHeads; ++i) {
    int64_t g = i / group;
    for (int64_t j = 0; j < rotaryDim / 2; ++j) {
      auto [a, b] = ropePairChannels(j, rotaryDim, pairing);
      double q = rowSq(wq, i * dh + a) + rowSq(wq, i * dh + b);
      double k = rowSq(wk, g * dh + a) + rowSq(wk, g * dh + b);
      scores[j] += std::sqrt(q) * std::sqrt(k);
    }
  }
  return true;
}

std::vector<int64_t> mlaSelectRopePairs(const std::vector<double> &scores,
                                        const std::vector<int64_t> &frequencies,
                                        int64_t numPairs, MlaRopeSelect how) {
  if (how == MlaRopeSelect::Norm)
    return topIndicesAscending(scores, numPairs);
  const int64_t n = static_cast<int64_t>(scores.size());
  numPairs = std::clamp<int64_t>(numPairs, 0, n);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto freq = [&](int64_t j) {
    return j < static_cast<int64_t>(frequencies.size()) ? frequencies[j] : j;
  };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return freq(a) < freq(b);
  });
  order.resize(numPairs);
  std::sort(order.begin(), order.end());
  return order;
}

//===----------------------------------------------------------------------===//
// Joint KV
//===----------------------------------------------------------------------===//

int64_t mlaMaxKVRank(const MlaLayout &layout, int64_t modelDim, bool bias) {
  int64_t rows = layout.numKVHeads * (layout.nopeDim() + layout.headDim);
  return std::min(rows, modelDim + (bias ? 1 : 0));
}

bool mlaJointKV(const Matrix &wk, const Matrix &wv, const Matrix &bk,
                const Matrix &bv, const MlaLayout &layout,
                const MlaRankRule &rule, MlaKV &out, std::string &error) {
  const char *fn = "mlaJointKV";
  if (!layout.check(fn, error) || !detail::checkOperand(wk, fn, "W_K", error))
    return false;
  const int64_t dm = wk.cols, dh = layout.headDim, hkv = layout.numKVHeads;
  const int64_t dr = layout.ropeDim(), dn = layout.nopeDim();
  if (!checkRows(wk, hkv * dh, dm, fn, "W_K", error) ||
      !checkRows(wv, hkv * dh, dm, fn, "W_V", error))
    return false;
  const bool bias = hasBias(bk) || hasBias(bv);
  if (bias && (!checkBias(bk, hkv * dh, fn, "the key bias", error) ||
               !checkBias(bv, hkv * dh, fn, "the value bias", error)))
    return false;
  const int64_t cols = dm + (bias ? 1 : 0);
  const int64_t maxRank = mlaMaxKVRank(layout, dm, bias);
  if (rule.fixedRank > maxRank)
    return fail(error, fn,
                "rank " + str(rule.fixedRank) + " exceeds the largest possible " +
                    str(maxRank) + " (min of " + str(hkv * (dn + dh)) +
                    " stacked K/V rows and " + str(cols) + " inputs)");
  if (rule.fixedRank <= 0 && !(rule.energy > 0 && rule.energy <= 1))
    return fail(error, fn,
                "no rank: give a fixed rank or an energy in (0, 1], got " +
                    std::to_string(rule.energy));

  const std::vector<int64_t> order = layout.channelOrder();
  // A = [W_K,N (per KV head, NoPE channels ascending) ; W_V], with the bias
  // as the last column when there is one.
  Matrix A(hkv * (dn + dh), cols);
  auto copyRow = [&](const Matrix &w, const Matrix &b, int64_t src,
                     int64_t dst) {
    for (int64_t c = 0; c < dm; ++c)
      A(dst, c) = w(src, c);
    if (bias)
      A(dst, dm) = b(src, 0);
  };
  for (int64_t g = 0; g < hkv; ++g)
    for (int64_t t = 0; t < dn; ++t)
      copyRow(wk, bk, g * dh + order[dr + t], g * dn + t);
  for (int64_t r = 0; r < hkv * dh; ++r)
    copyRow(wv, bv, r, hkv * dn + r);

  Matrix U, Vt;
  std::string inner;
  if (!svd(A, U, out.spectrum, Vt, inner))
    return fail(error, fn, inner);
  int64_t r = rule.fixedRank;
  if (r <= 0)
    r = std::max<int64_t>(
        1, roundUp(energyRank(out.spectrum, rule.energy), rule.roundTo,
                   maxRank));
  out.rank = r;

  // Latent rows: the head-averaged rope key, then W_DKV = Σ_r V_rᵀ.
  out.latent = Matrix(dr + r, dm);
  out.latentBias = bias ? Matrix(dr + r, 1) : Matrix();
  for (int64_t t = 0; t < dr; ++t)
    for (int64_t g = 0; g < hkv; ++g) {
      int64_t src = g * dh + order[t];
      for (int64_t c = 0; c < dm; ++c)
        out.latent(t, c) += wk(src, c) / static_cast<double>(hkv);
      if (bias)
        out.latentBias(t, 0) += bk(src, 0) / static_cast<double>(hkv);
    }
  for (int64_t s = 0; s < r; ++s) {
    for (int64_t c = 0; c < dm; ++c)
      out.latent(dr + s, c) = out.spectrum[s] * Vt(s, c);
    if (bias)
      out.latentBias(dr + s, 0) = out.spectrum[s] * Vt(s, dm);
  }
  // W_UK is empty when every channel is in the rope block (d_nope = 0).
  out.upKey = Matrix(hkv * dn, r);
  for (int64_t row = 0; row < hkv * dn; ++row)
    for (int64_t s = 0; s < r; ++s)
      out.upKey(row, s) = U(row, s);
  out.upValue = U.block(hkv * dn, 0, hkv * dh, r);
  return true;
}

//===----------------------------------------------------------------------===//
// Forms
//===----------------------------------------------------------------------===//

bool mlaAbsorbQuery(const Matrix &m, const MlaLayout &layout, const MlaKV &kv,
                    Matrix &out, std::string &error) {
  const char *fn = "mlaAbsorbQuery";
  if (!layout.check(fn, error) || !checkKV(kv, layout, fn, error) ||
      !checkRows(m, layout.numQueryHeads * layout.headDim, -1, fn, "M", error))
    return false;
  const int64_t dh = layout.headDim, dr = layout.ropeDim(),
                dn = layout.nopeDim(), r = kv.rank, n = m.cols;
  const int64_t group = layout.numQueryHeads / layout.numKVHeads;
  const std::vector<int64_t> order = layout.channelOrder();
  Matrix result(layout.numQueryHeads * (dr + r), n);
  for (int64_t i = 0; i < layout.numQueryHeads; ++i) {
    const int64_t g = i / group, base = i * (dr + r);
    for (int64_t t = 0; t < dr; ++t)
      for (int64_t c = 0; c < n; ++c)
        result(base + t, c) = m(i * dh + order[t], c);
    // W_UK,gᵀ M_i,N, summed in a fixed order (deterministic).
    for (int64_t t = 0; t < dn; ++t) {
      const double *src = m.row(i * dh + order[dr + t]);
      for (int64_t s = 0; s < r; ++s) {
        double u = kv.upKey(g * dn + t, s);
        double *dst = result.row(base + dr + s);
        for (int64_t c = 0; c < n; ++c)
          dst[c] += u * src[c];
      }
    }
  }
  out = std::move(result);
  return true;
}

bool mlaPermuteQuery(const Matrix &m, const MlaLayout &layout, Matrix &out,
                     std::string &error) {
  const char *fn = "mlaPermuteQuery";
  if (!layout.check(fn, error) ||
      !checkRows(m, layout.numQueryHeads * layout.headDim, -1, fn, "M", error))
    return false;
  const int64_t dh = layout.headDim;
  const std::vector<int64_t> order = layout.channelOrder();
  Matrix result(m.rows, m.cols);
  for (int64_t i = 0; i < layout.numQueryHeads; ++i)
    for (int64_t t = 0; t < dh; ++t)
      for (int64_t c = 0; c < m.cols; ++c)
        result(i * dh + t, c) = m(i * dh + order[t], c);
  out = std::move(result);
  return true;
}

bool mlaAbsorbOutput(const Matrix &wo, const MlaLayout &layout,
                     const MlaKV &kv, Matrix &out, std::string &error) {
  const char *fn = "mlaAbsorbOutput";
  if (!layout.check(fn, error) || !checkKV(kv, layout, fn, error) ||
      !detail::checkOperand(wo, fn, "W_O", error))
    return false;
  const int64_t dh = layout.headDim, r = kv.rank, hq = layout.numQueryHeads;
  if (wo.cols != hq * dh)
    return fail(error, fn,
                "W_O is " + shapeOf(wo) + ", expected [d_m, " + str(hq * dh) +
                    "]");
  const int64_t group = hq / layout.numKVHeads;
  Matrix result(wo.rows, hq * r);
  for (int64_t i = 0; i < hq; ++i) {
    Matrix woi = wo.block(0, i * dh, wo.rows, dh);
    Matrix uv = kv.upValue.block((i / group) * dh, 0, dh, r);
    Matrix prod;
    std::string inner;
    if (!matmul(woi, uv, prod, inner))
      return fail(error, fn, inner);
    for (int64_t row = 0; row < wo.rows; ++row)
      for (int64_t s = 0; s < r; ++s)
        result(row, i * r + s) = prod(row, s);
  }
  out = std::move(result);
  return true;
}

bool mlaExplicitUp(const MlaLayout &layout, const MlaKV &kv, Matrix &keyUp,
                   Matrix &valueUp, std::string &error) {
  const char *fn = "mlaExplicitUp";
  if (!layout.check(fn, error) || !checkKV(kv, layout, fn, error))
    return false;
  const int64_t dh = layout.headDim, dr = layout.ropeDim(),
                dn = layout.nopeDim(), r = kv.rank, hkv = layout.numKVHeads;
  keyUp = Matrix(hkv * dh, dr + r);
  valueUp = Matrix(hkv * dh, dr + r);
  for (int64_t g = 0; g < hkv; ++g) {
    for (int64_t t = 0; t < dr; ++t)
      keyUp(g * dh + t, t) = 1.0;
    for (int64_t t = 0; t < dn; ++t)
      for (int64_t s = 0; s < r; ++s)
        keyUp(g * dh + dr + t, dr + s) = kv.upKey(g * dn + t, s);
    for (int64_t c = 0; c < dh; ++c)
      for (int64_t s = 0; s < r; ++s)
        valueUp(g * dh + c, dr + s) = kv.upValue(g * dh + c, s);
  }
  return true;
}

bool mlaQueryFactor(const Matrix &wq, int64_t rank, Matrix &down, Matrix &up,
                    std::string &error) {
  const char *fn = "mlaQueryFactor";
  if (!detail::checkOperand(wq, fn, "W_Q", error))
    return false;
  const int64_t maxRank = std::min(wq.rows, wq.cols);
  if (rank < 1 || rank > maxRank)
    return fail(error, fn,
                "rank " + str(rank) + " is outside [1, " + str(maxRank) +
                    "] (min of W_Q's " + shapeOf(wq) + ")");
  Matrix U, Vt;
  std::vector<double> S;
  std::string inner;
  if (!svd(wq, U, S, Vt, inner))
    return fail(error, fn, inner);
  up = U.block(0, 0, wq.rows, rank);
  down = Vt.block(0, 0, rank, wq.cols);
  if (!scaleRows(down, std::vector<double>(S.begin(), S.begin() + rank),
                 inner))
    return fail(error, fn, inner);
  return true;
}

} // namespace attenuate::numerics

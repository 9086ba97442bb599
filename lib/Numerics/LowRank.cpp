//===- LowRank.cpp - A3 low-rank attention and the SVD baselines ----------===//

#include "attenuate/Numerics/LowRank.h"

#include "Detail.h"
#include "attenuate/Numerics/Decompositions.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace attenuate::numerics {

using detail::fail;
using detail::shapeOf;

namespace {

/// Prefixes a callee's error ("svd: ...") with the caller's name, keeping
/// one line.
bool nested(std::string &error, const char *fn, const std::string &inner) {
  return fail(error, fn, inner);
}

/// GQA needs positive head counts with Hkv dividing Hq.
bool checkHeads(const char *fn, int64_t numQueryHeads, int64_t numKVHeads,
                std::string &error) {
  if (numQueryHeads <= 0 || numKVHeads <= 0 || numQueryHeads % numKVHeads != 0)
    return fail(error, fn,
                "head counts " + std::to_string(numQueryHeads) + "/" +
                    std::to_string(numKVHeads) +
                    " are not positive with the KV heads dividing the query "
                    "heads");
  return true;
}

bool checkSquare(const Matrix &M, int64_t n, const char *fn, const char *name,
                 std::string &error) {
  if (!detail::checkOperand(M, fn, name, error))
    return false;
  if (M.rows != n || M.cols != n)
    return fail(error, fn,
                std::string(name) + " is " + shapeOf(M) + ", expected " +
                    std::to_string(n) + "x" + std::to_string(n));
  return true;
}

bool checkRank(int64_t rank, int64_t max, const char *fn, const char *what,
               std::string &error) {
  if (rank < 1 || rank > max)
    return fail(error, fn,
                "rank " + std::to_string(rank) + " is outside [1, " +
                    std::to_string(max) + "] (" + what + ")");
  return true;
}

/// Row-wise quadratic forms q[i] = w_iᵀ R w_i for the rows w_i of W
/// [rows × d], through one GEMM W·R.
bool rowQuadraticForms(const Matrix &W, const Matrix &R, std::vector<double> &q,
                       std::string &error) {
  Matrix WR;
  if (!matmul(W, R, WR, error))
    return false;
  q.assign(W.rows, 0.0);
  for (int64_t i = 0; i < W.rows; ++i) {
    double s = 0;
    for (int64_t c = 0; c < W.cols; ++c)
      s += WR(i, c) * W(i, c);
    q[i] = s;
  }
  return true;
}

} // namespace

std::vector<int64_t> topIndicesAscending(const std::vector<double> &scores,
                                         int64_t k) {
  const int64_t n = static_cast<int64_t>(scores.size());
  k = std::clamp<int64_t>(k, 0, n);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Stable: equal scores keep index order, so ties go to the lower index and
  // the selection is deterministic.
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

bool productSvd(const Matrix &A, const Matrix &B, Matrix &U,
                std::vector<double> &S, Matrix &V, std::string &error) {
  const char *fn = "productSvd";
  if (!detail::checkOperand(A, fn, "A", error) ||
      !detail::checkOperand(B, fn, "B", error))
    return false;
  if (A.cols != B.cols)
    return fail(error, fn,
                "A " + shapeOf(A) + " and B " + shapeOf(B) +
                    " differ in their inner dimension (A·Bᵀ)");
  Matrix Qa, Ra, Qb, Rb, core, Uc, Vct;
  std::string inner;
  // A·Bᵀ = Qa (Ra Rbᵀ) Qbᵀ with orthonormal Qa, Qb: the singular values are
  // those of the small core, the vectors its vectors mapped through Q.
  if (!qr(A, Qa, Ra, inner) || !qr(B, Qb, Rb, inner) ||
      !matmul(Ra, Rb, core, inner, false, true) ||
      !svd(core, Uc, S, Vct, inner) || !matmul(Qa, Uc, U, inner) ||
      !matmul(Qb, Vct, V, inner, false, true))
    return nested(error, fn, inner);
  return true;
}

bool a3QueryKey(const Matrix &wq, const Matrix &wk, int64_t numQueryHeads,
                int64_t numKVHeads, const SqrtResult &rq, const SqrtResult &rkv,
                int64_t rank, QueryKeyFactors &out, std::string &error) {
  const char *fn = "a3QueryKey";
  if (!checkHeads(fn, numQueryHeads, numKVHeads, error) ||
      !detail::checkOperand(wq, fn, "W_q", error) ||
      !detail::checkOperand(wk, fn, "W_k", error))
    return false;
  const int64_t dm = wq.cols, dh = wq.rows / numQueryHeads;
  if (wq.rows % numQueryHeads != 0 || wk.rows != numKVHeads * dh ||
      wk.cols != dm)
    return fail(error, fn,
                "W_q " + shapeOf(wq) + " and W_k " + shapeOf(wk) +
                    " do not hold " + std::to_string(numQueryHeads) + " and " +
                    std::to_string(numKVHeads) + " heads of one head dim");
  if (!checkSquare(rq.sqrt, dm, fn, "R_q^{1/2}", error) ||
      !checkSquare(rq.invSqrt, dm, fn, "R_q^{-1/2}", error) ||
      !checkSquare(rkv.sqrt, dm, fn, "R_kv^{1/2}", error) ||
      !checkSquare(rkv.invSqrt, dm, fn, "R_kv^{-1/2}", error) ||
      !checkRank(rank, dh, fn, "the head dim", error))
    return false;
  const int64_t group = numQueryHeads / numKVHeads, r = rank;
  out.query = Matrix(numQueryHeads * r, dm);
  out.key = Matrix(numKVHeads * r, dm);
  std::string inner;
  for (int64_t g = 0; g < numKVHeads; ++g) {
    // Stacked R_q^{1/2} W_q,h of the group's heads, and R_kv^{1/2} W_k,g.
    Matrix A(group * dm, dh), B, Wqh;
    for (int64_t i = 0; i < group; ++i) {
      int64_t h = g * group + i;
      if (!matmul(rq.sqrt, wq.block(h * dh, 0, dh, dm), Wqh, inner, false,
                  true))
        return nested(error, fn, inner);
      std::copy(Wqh.data.begin(), Wqh.data.end(), A.row(i * dm));
    }
    if (!matmul(rkv.sqrt, wk.block(g * dh, 0, dh, dm), B, inner, false, true))
      return nested(error, fn, inner);
    Matrix U, V;
    std::vector<double> S;
    if (!productSvd(A, B, U, S, V, inner))
      return nested(error, fn, inner);
    if (static_cast<int64_t>(S.size()) < r)
      return fail(error, fn,
                  "rank " + std::to_string(r) + " exceeds the " +
                      std::to_string(S.size()) +
                      " singular values of the QK circuit");
    for (int64_t i = 0; i < group; ++i) {
      int64_t h = g * group + i;
      Matrix Wq;
      if (!matmul(rq.invSqrt, U.block(i * dm, 0, dm, r), Wq, inner))
        return nested(error, fn, inner);
      for (int64_t j = 0; j < r; ++j)
        for (int64_t c = 0; c < dm; ++c)
          out.query(h * r + j, c) = Wq(c, j);
    }
    Matrix VS = V.block(0, 0, dm, r), Wk;
    std::vector<double> Sr(S.begin(), S.begin() + r);
    if (!scaleColumns(VS, Sr, inner) || !matmul(rkv.invSqrt, VS, Wk, inner))
      return nested(error, fn, inner);
    for (int64_t j = 0; j < r; ++j)
      for (int64_t c = 0; c < dm; ++c)
        out.key(g * r + j, c) = Wk(c, j);
  }
  return true;
}

bool a3RopePairs(const Matrix &wq, const Matrix &wk, int64_t numQueryHeads,
                 int64_t numKVHeads, const Matrix &rq, const Matrix &rkv,
                 RopePairing pairing, int64_t numPairs,
                 std::vector<int64_t> &kept, std::vector<double> &scores,
                 std::string &error) {
  const char *fn = "a3RopePairs";
  if (!checkHeads(fn, numQueryHeads, numKVHeads, error) ||
      !detail::checkOperand(wq, fn, "W_q", error) ||
      !detail::checkOperand(wk, fn, "W_k", error))
    return false;
  const int64_t dm = wq.cols, dh = wq.rows / numQueryHeads;
  if (wq.rows % numQueryHeads != 0 || wk.rows != numKVHeads * dh ||
      wk.cols != dm)
    return fail(error, fn,
                "W_q " + shapeOf(wq) + " and W_k " + shapeOf(wk) +
                    " do not hold " + std::to_string(numQueryHeads) + " and " +
                    std::to_string(numKVHeads) + " heads of one head dim");
  if (dh % 2 != 0)
    return fail(error, fn,
                "head dim " + std::to_string(dh) + " is odd: no RoPE pairs");
  if (!checkSquare(rq, dm, fn, "R_q", error) ||
      !checkSquare(rkv, dm, fn, "R_kv", error) ||
      !checkRank(numPairs, dh / 2, fn, "frequency pairs of the head", error))
    return false;
  // ‖L_{:,a}‖² = ‖R_q^{1/2} w_a‖² = w_aᵀ R_q w_a: no square root needed.
  std::vector<double> qn, kn;
  std::string inner;
  if (!rowQuadraticForms(wq, rq, qn, inner) ||
      !rowQuadraticForms(wk, rkv, kn, inner))
    return nested(error, fn, inner);
  const int64_t group = numQueryHeads / numKVHeads;
  scores.assign(dh / 2, 0.0);
  for (int64_t h = 0; h < numQueryHeads; ++h) {
    int64_t g = h / group;
    for (int64_t j = 0; j < dh / 2; ++j) {
      auto [a, b] = ropePairChannels(j, dh, pairing);
      scores[j] +=
          qn[h * dh + a] * kn[g * dh + a] + qn[h * dh + b] * kn[g * dh + b];
    }
  }
  kept = topIndicesAscending(scores, numPairs);
  return true;
}

bool a3ValueOutput(const Matrix &wv, const Matrix &wo, const Matrix &vBias,
                   int64_t numQueryHeads, int64_t numKVHeads,
                   const std::vector<SqrtResult> &roots, int64_t rank,
                   ValueOutputFactors &out, std::string &error) {
  const char *fn = "a3ValueOutput";
  if (!checkHeads(fn, numQueryHeads, numKVHeads, error) ||
      !detail::checkOperand(wv, fn, "W_v", error) ||
      !detail::checkOperand(wo, fn, "W_o", error))
    return false;
  const int64_t dm = wv.cols, dh = wv.rows / numKVHeads;
  if (wv.rows % numKVHeads != 0 || wo.rows != dm ||
      wo.cols != numQueryHeads * dh)
    return fail(error, fn,
                "W_v " + shapeOf(wv) + " and W_o " + shapeOf(wo) +
                    " do not hold " + std::to_string(numKVHeads) + " and " +
                    std::to_string(numQueryHeads) +
                    " heads of one head dim (W_o is [d_m, Hq·d_h])");
  const bool hasBias = vBias.rows != 0 || vBias.cols != 0;
  if (hasBias) {
    if (!detail::checkOperand(vBias, fn, "the value bias", error))
      return false;
    if (vBias.rows != 1 || vBias.cols != wv.rows)
      return fail(error, fn,
                  "the value bias is " + shapeOf(vBias) + ", expected 1x" +
                      std::to_string(wv.rows));
  }
  if (roots.size() != 1 && static_cast<int64_t>(roots.size()) != numKVHeads)
    return fail(error, fn,
                "got " + std::to_string(roots.size()) +
                    " whitenings, expected 1 or one per KV head (" +
                    std::to_string(numKVHeads) + ")");
  for (const SqrtResult &root : roots)
    if (!checkSquare(root.sqrt, dm, fn, "R^{1/2}", error) ||
        !checkSquare(root.invSqrt, dm, fn, "R^{-1/2}", error))
      return false;
  if (!checkRank(rank, dh, fn, "the head dim", error))
    return false;
  const int64_t group = numQueryHeads / numKVHeads, r = rank;
  out.value = Matrix(numKVHeads * r, dm);
  out.output = Matrix(dm, numQueryHeads * r);
  out.valueBias = hasBias ? Matrix(1, numKVHeads * r) : Matrix();
  std::string inner;
  for (int64_t g = 0; g < numKVHeads; ++g) {
    const SqrtResult &root = roots.size() == 1 ? roots[0] : roots[g];
    // A = R^{1/2} W_v,g (d_m × d_h); B = [W_o,h]_hᵀ (|G|·d_m × d_h), so that
    // A·Bᵀ is the concatenation [R^{1/2} W_v,g W_o,h]_h.
    Matrix A;
    if (!matmul(root.sqrt, wv.block(g * dh, 0, dh, dm), A, inner, false, true))
      return nested(error, fn, inner);
    Matrix B(group * dm, dh);
    for (int64_t i = 0; i < group; ++i) {
      int64_t h = g * group + i;
      for (int64_t c = 0; c < dm; ++c)
        for (int64_t a = 0; a < dh; ++a)
          B(i * dm + c, a) = wo(c, h * dh + a);
    }
    Matrix U, V;
    std::vector<double> S;
    if (!productSvd(A, B, U, S, V, inner))
      return nested(error, fn, inner);
    if (static_cast<int64_t>(S.size()) < r)
      return fail(error, fn,
                  "rank " + std::to_string(r) + " exceeds the " +
                      std::to_string(S.size()) +
                      " singular values of the OV circuit");
    Matrix US = U.block(0, 0, dm, r), Wv;
    std::vector<double> Sr(S.begin(), S.begin() + r);
    if (!scaleColumns(US, Sr, inner) || !matmul(root.invSqrt, US, Wv, inner))
      return nested(error, fn, inner);
    for (int64_t j = 0; j < r; ++j)
      for (int64_t c = 0; c < dm; ++c)
        out.value(g * r + j, c) = Wv(c, j);
    for (int64_t i = 0; i < group; ++i) {
      int64_t h = g * group + i;
      for (int64_t c = 0; c < dm; ++c)
        for (int64_t j = 0; j < r; ++j)
          out.output(c, h * r + j) = V(i * dm + c, j);
    }
    if (hasBias) {
      // b̃_g = b_g Bᵀ V_r: the bias's contribution projected onto the kept
      // output directions.
      std::vector<double> t(group * dm, 0.0);
      for (int64_t p = 0; p < group * dm; ++p)
        for (int64_t a = 0; a < dh; ++a)
          t[p] += B(p, a) * vBias(0, g * dh + a);
      for (int64_t j = 0; j < r; ++j) {
        double s = 0;
        for (int64_t p = 0; p < group * dm; ++p)
          s += t[p] * V(p, j);
        out.valueBias(0, g * r + j) = s;
      }
    }
  }
  return true;
}

bool a3MlpChannels(const Matrix &rd, const Matrix &wDown, int64_t rank,
                   std::vector<int64_t> &kept, std::vector<double> &scores,
                   std::string &error) {
  const char *fn = "a3MlpChannels";
  if (!detail::checkOperand(wDown, fn, "W_down", error) ||
      !checkSquare(rd, wDown.cols, fn, "R_d", error))
    return false;
  std::vector<double> diagonal(wDown.cols);
  for (int64_t i = 0; i < wDown.cols; ++i)
    diagonal[i] = rd(i, i);
  return a3MlpChannels(diagonal, wDown, rank, kept, scores, error);
}

bool a3MlpChannels(const std::vector<double> &rdDiagonal, const Matrix &wDown,
                   int64_t rank, std::vector<int64_t> &kept,
                   std::vector<double> &scores, std::string &error) {
  const char *fn = "a3MlpChannels";
  if (!detail::checkOperand(wDown, fn, "W_down", error))
    return false;
  if (static_cast<int64_t>(rdDiagonal.size()) != wDown.cols)
    return fail(error, fn,
                "diag(R_d) has " + std::to_string(rdDiagonal.size()) +
                    " values, expected " + std::to_string(wDown.cols));
  for (double v : rdDiagonal)
    if (!std::isfinite(v))
      return fail(error, fn, "diag(R_d) has a non-finite value");
  if (!checkRank(rank, wDown.cols, fn, "the intermediate size", error))
    return false;
  scores.assign(wDown.cols, 0.0);
  for (int64_t c = 0; c < wDown.rows; ++c)
    for (int64_t i = 0; i < wDown.cols; ++i)
      scores[i] += wDown(c, i) * wDown(c, i);
  for (int64_t i = 0; i < wDown.cols; ++i)
    scores[i] *= rdDiagonal[i];
  kept = topIndicesAscending(scores, rank);
  return true;
}

bool truncatedSvd(const Matrix &w, int64_t rank, Matrix &a, Matrix &b,
                  std::string &error) {
  const char *fn = "truncatedSvd";
  if (!detail::checkOperand(w, fn, "W", error) ||
      !checkRank(rank, std::min(w.rows, w.cols), fn, "min(out, in)", error))
    return false;
  Matrix U, Vt;
  std::vector<double> S;
  std::string inner;
  if (!svd(w, U, S, Vt, inner))
    return nested(error, fn, inner);
  a = U.block(0, 0, w.rows, rank);
  b = Vt.block(0, 0, rank, w.cols);
  if (!scaleColumns(a, std::vector<double>(S.begin(), S.begin() + rank), inner))
    return nested(error, fn, inner);
  return true;
}

bool whitenedSvd(const Matrix &w, const Matrix &r, int64_t rank, Matrix &a,
                 Matrix &b, std::string &error, double *dampingUsed) {
  const char *fn = "whitenedSvd";
  if (dampingUsed)
    *dampingUsed = 0;
  if (!detail::checkOperand(w, fn, "W", error) ||
      !checkSquare(r, w.cols, fn, "R", error) ||
      !checkRank(rank, std::min(w.rows, w.cols), fn, "min(out, in)", error))
    return false;
  Matrix L, WL, U, Vt;
  std::vector<double> S;
  std::string inner;
  if (!cholesky(r, L, inner, kDefaultRelDamping, dampingUsed) ||
      !matmul(w, L, WL, inner) || !svd(WL, U, S, Vt, inner))
    return nested(error, fn, inner);
  a = U.block(0, 0, w.rows, rank);
  b = Vt.block(0, 0, rank, w.cols);
  if (!scaleColumns(a, std::vector<double>(S.begin(), S.begin() + rank),
                    inner) ||
      !solveLowerTriangular(L, b, inner, Side::Right))
    return nested(error, fn, inner);
  return true;
}

} // namespace attenuate::numerics

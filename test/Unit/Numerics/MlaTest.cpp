//===- MlaTest.cpp - X-EcoMLA factorisation -------------------------------===//
//
// Every check runs attention itself: a plain-loop causal attention (with
// RoPE, GQA and biases) of the original weights on random tokens, against
// the same loops over the MLA weights in the absorbed form (one KV head,
// k = [k_rope ; c], v = c, W_O') and in the explicit form (per-head K/V
// rebuilt from the latent). Projections use naiveMul, never the BLAS the
// code under test calls.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Numerics/Mla.h"

#include "attenuate/Numerics/Decompositions.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

constexpr double kTheta = 10000.0;

/// X Wᵀ (+ b): [T × out].
Matrix project(const Matrix &X, const Matrix &W, const Matrix &b = Matrix()) {
  Matrix Y = naiveMul(X, W, false, true);
  if (b.rows != 0)
    for (int64_t t = 0; t < Y.rows; ++t)
      for (int64_t o = 0; o < Y.cols; ++o)
        Y(t, o) += b(o, 0);
  return Y;
}

/// RoPE at position t on the first `rotaryDim` channels of each of the
/// `heads` heads of row t of Y [T × heads·D]; pair j turns at
/// θ^(−2 f_j / baseDim) with f_j = freqs[j].
void rope(Matrix &Y, int64_t heads, int64_t rotaryDim, RopePairing pairing,
          const std::vector<int64_t> &freqs, int64_t baseDim) {
  const int64_t D = Y.cols / heads;
  for (int64_t t = 0; t < Y.rows; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < rotaryDim / 2; ++j) {
        auto [a, b] = ropePairChannels(j, rotaryDim, pairing);
        double w = std::pow(kTheta, -2.0 * static_cast<double>(freqs[j]) /
                                        static_cast<double>(baseDim));
        double c = std::cos(t * w), s = std::sin(t * w);
        double x = Y(t, h * D + a), y = Y(t, h * D + b);
        Y(t, h * D + a) = x * c - y * s;
        Y(t, h * D + b) = y * c + x * s;
      }
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = i;
  return v;
}

/// Causal GQA attention: Q [T × Hq·Dqk], K [T × Hk·Dqk], V [T × Hk·Dv].
Matrix attend(const Matrix &Q, const Matrix &K, const Matrix &V, int64_t hq,
              int64_t hk, double scale) {
  const int64_t T = Q.rows, dqk = Q.cols / hq, dv = V.cols / hk;
  Matrix O(T, hq * dv);
  for (int64_t h = 0; h < hq; ++h) {
    const int64_t g = h / (hq / hk);
    for (int64_t i = 0; i < T; ++i) {
      std::vector<double> s(i + 1);
      double mx = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        double d = 0;
        for (int64_t c = 0; c < dqk; ++c)
          d += Q(i, h * dqk + c) * K(j, g * dqk + c);
        s[j] = scale * d;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (double &v : s)
        sum += (v = std::exp(v - mx));
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t c = 0; c < dv; ++c)
          O(i, h * dv + c) += s[j] / sum * V(j, g * dv + c);
    }
  }
  return O;
}

/// A random attention layer (weights scaled so scores stay O(1)).
struct Layer {
  int64_t hq, hkv, dh, dm, rotary;
  RopePairing pairing = RopePairing::RotateHalf;
  Matrix wq, wk, wv, wo, bq, bk, bv;

  Layer(int64_t hq_, int64_t hkv_, int64_t dh_, int64_t dm_, int64_t rotary_,
        bool bias, uint64_t seed)
      : hq(hq_), hkv(hkv_), dh(dh_), dm(dm_), rotary(rotary_) {
    auto scaled = [](Matrix m, double s) {
      for (double &v : m.data)
        v *= s;
      return m;
    };
    double s = 1.0 / std::sqrt(static_cast<double>(dm));
    wq = scaled(randomMatrix(hq * dh, dm, seed), 2 * s);
    wk = scaled(randomMatrix(hkv * dh, dm, seed + 1), 2 * s);
    wv = scaled(randomMatrix(hkv * dh, dm, seed + 2), s);
    wo = scaled(randomMatrix(dm, hq * dh, seed + 3), s);
    if (bias) {
      bq = scaled(randomMatrix(hq * dh, 1, seed + 4), 0.3);
      bk = scaled(randomMatrix(hkv * dh, 1, seed + 5), 0.3);
      bv = scaled(randomMatrix(hkv * dh, 1, seed + 6), 0.3);
    }
  }

  MlaLayout layout(std::vector<int64_t> pairs) const {
    MlaLayout l;
    l.numQueryHeads = hq;
    l.numKVHeads = hkv;
    l.headDim = dh;
    l.rotaryDim = rotary;
    l.pairing = pairing;
    l.ropePairs = std::move(pairs);
    return l;
  }

  double scale() const { return 1.0 / std::sqrt(static_cast<double>(dh)); }

  /// The original layer's attention output [T × d_m].
  Matrix forward(const Matrix &X) const {
    Matrix Q = project(X, wq, bq), K = project(X, wk, bk),
           V = project(X, wv, bv);
    if (rotary > 0) {
      rope(Q, hq, rotary, pairing, iota(rotary / 2), rotary);
      rope(K, hkv, rotary, pairing, iota(rotary / 2), rotary);
    }
    return project(attend(Q, K, V, hq, hkv, scale()), wo);
  }
};

/// The MLA weights of both forms, built through the API under test.
struct Mla {
  MlaLayout layout;
  MlaKV kv;
  Matrix qAbs, qAbsBias, qPerm, qPermBias, qDown, oAbs, keyUp, valueUp;

  Mla(const Layer &L, std::vector<int64_t> pairs, MlaRankRule rule,
      int64_t qRank = 0)
      : layout(L.layout(std::move(pairs))) {
    std::string e;
    EXPECT_TRUE(mlaJointKV(L.wk, L.wv, L.bk, L.bv, layout, rule, kv, e)) << e;
    Matrix qUp = L.wq;
    if (qRank > 0)
      EXPECT_TRUE(mlaQueryFactor(L.wq, qRank, qDown, qUp, e)) << e;
    EXPECT_TRUE(mlaAbsorbQuery(qUp, layout, kv, qAbs, e)) << e;
    EXPECT_TRUE(mlaPermuteQuery(qUp, layout, qPerm, e)) << e;
    if (L.bq.rows != 0) {
      EXPECT_TRUE(mlaAbsorbQuery(L.bq, layout, kv, qAbsBias, e)) << e;
      EXPECT_TRUE(mlaPermuteQuery(L.bq, layout, qPermBias, e)) << e;
    }
    EXPECT_TRUE(mlaAbsorbOutput(L.wo, layout, kv, oAbs, e)) << e;
    EXPECT_TRUE(mlaExplicitUp(layout, kv, keyUp, valueUp, e)) << e;
  }

  Matrix queryInput(const Matrix &X) const {
    return qDown.rows != 0 ? project(X, qDown) : X;
  }
  std::vector<int64_t> ropeFreqs() const { return layout.ropePairs; }

  /// The rotated latent rows [k_rope ; c] (what the cache holds).
  Matrix latentRows(const Matrix &X) const {
    Matrix Lr = project(X, kv.latent, kv.latentBias);
    rope(Lr, 1, layout.ropeDim(), layout.pairing, ropeFreqs(),
         layout.rotaryDim);
    return Lr;
  }

  Matrix absorbed(const Matrix &X, double scale) const {
    const int64_t dr = layout.ropeDim(), r = kv.rank;
    Matrix Q = project(queryInput(X), qAbs, qAbsBias);
    rope(Q, layout.numQueryHeads, dr, layout.pairing, ropeFreqs(),
         layout.rotaryDim);
    Matrix K = latentRows(X);
    Matrix V = K.block(0, dr, K.rows, r);
    return project(attend(Q, K, V, layout.numQueryHeads, 1, scale), oAbs);
  }

  Matrix explicitForm(const Matrix &X, const Matrix &wo, double scale) const {
    Matrix Q = project(queryInput(X), qPerm, qPermBias);
    rope(Q, layout.numQueryHeads, layout.ropeDim(), layout.pairing,
         ropeFreqs(), layout.rotaryDim);
    Matrix Lr = latentRows(X);
    Matrix K = project(Lr, keyUp), V = project(Lr, valueUp);
    return project(
        attend(Q, K, V, layout.numQueryHeads, layout.numKVHeads, scale), wo);
  }
};

MlaRankRule fixedRank(int64_t r) {
  MlaRankRule rule;
  rule.fixedRank = r;
  return rule;
}

Matrix tokens(int64_t T, int64_t dm, uint64_t seed) {
  return randomMatrix(T, dm, seed);
}

//===----------------------------------------------------------------------===//
// Exactness
//===----------------------------------------------------------------------===//

// Without RoPE the latent factorisation at full rank reproduces the layer,
// in both forms, for GQA and MHA, with and without biases.
TEST(MlaTest, NoPEFullRankIsExact) {
  for (auto [hq, hkv, bias] : {std::tuple<int64_t, int64_t, bool>{6, 2, false},
                               {6, 2, true},
                               {4, 4, false},
                               {4, 1, true}}) {
    Layer L(hq, hkv, 8, 40, /*rotary=*/0, bias, 11 + hq + hkv);
    int64_t full = mlaMaxKVRank(L.layout({}), L.dm, bias);
    EXPECT_EQ(full, std::min<int64_t>(hkv * 16, 40 + (bias ? 1 : 0)));
    Mla m(L, {}, fixedRank(full));
    Matrix X = tokens(9, L.dm, 5), ref = L.forward(X);
    EXPECT_LT(relativeError(m.absorbed(X, L.scale()), ref), 1e-10)
        << hq << "/" << hkv << " bias " << bias;
    EXPECT_LT(relativeError(m.explicitForm(X, L.wo, L.scale()), ref), 1e-10)
        << hq << "/" << hkv << " bias " << bias;
  }
}

// With one KV head and every rotated pair kept, the head-averaged RoPE key
// is the key itself, so MLA is exact with RoPE: this pins the channel order
// of the rope block for both pairings and for partial rotary (the channels
// past the rotary dim are NoPE).
TEST(MlaTest, MqaWithEveryPairKeptIsExactWithRope) {
  for (RopePairing pairing :
       {RopePairing::RotateHalf, RopePairing::Interleaved})
    for (int64_t rotary : {8, 4}) {
      Layer L(4, 1, 8, 24, rotary, /*bias=*/false, 21 + rotary);
      L.pairing = pairing;
      std::vector<int64_t> pairs = iota(rotary / 2);
      int64_t full = mlaMaxKVRank(L.layout(pairs), L.dm, false);
      Mla m(L, pairs, fixedRank(full));
      Matrix X = tokens(11, L.dm, 6), ref = L.forward(X);
      EXPECT_LT(relativeError(m.absorbed(X, L.scale()), ref), 1e-10)
          << "rotary " << rotary;
      EXPECT_LT(relativeError(m.explicitForm(X, L.wo, L.scale()), ref), 1e-10)
          << "rotary " << rotary;
    }
}

// At any rank, with dropped RoPE pairs, GQA and a low-rank query, the two
// forms compute the same function; and that function is not the original
// one (the RoPE move is an approximation the tests must not hide).
TEST(MlaTest, AbsorbedEqualsExplicitAtAnyRank) {
  for (RopePairing pairing :
       {RopePairing::RotateHalf, RopePairing::Interleaved})
    for (int64_t rank : {1, 5, 13}) {
      Layer L(6, 2, 8, 32, 8, /*bias=*/true, 31 + rank);
      L.pairing = pairing;
      Mla m(L, {1, 3}, fixedRank(rank), /*qRank=*/rank + 2);
      Matrix X = tokens(10, L.dm, 7);
      Matrix a = m.absorbed(X, L.scale()),
             e = m.explicitForm(X, L.wo, L.scale());
      EXPECT_LT(relativeError(a, e), 1e-10) << "rank " << rank;
      EXPECT_GT(relativeError(a, L.forward(X)), 1e-3) << "rank " << rank;
    }
}

// GQA with RoPE: even at full rank the averaged RoPE key is not exact.
TEST(MlaTest, GqaRopeInitIsApproximate) {
  Layer L(6, 2, 8, 32, 8, false, 41);
  std::vector<int64_t> pairs = iota(4);
  Mla m(L, pairs, fixedRank(mlaMaxKVRank(L.layout(pairs), L.dm, false)));
  Matrix X = tokens(10, L.dm, 8);
  double err = relativeError(m.absorbed(X, L.scale()), L.forward(X));
  EXPECT_GT(err, 1e-3);
  EXPECT_LT(err, 1.0);
}

//===----------------------------------------------------------------------===//
// The SVD
//===----------------------------------------------------------------------===//

// Factoring the stack with each KV head repeated Hq/Hkv times (the paper's
// recipe) gives the same reconstructions W_UK W_DKV and W_UV W_DKV, the same
// energy fractions, and singular values √(Hq/Hkv) times ours.
TEST(MlaTest, RepeatingGqaHeadsChangesNothing) {
  Layer L(6, 2, 8, 40, 8, false, 51);
  MlaLayout layout = L.layout({0, 2});
  const int64_t dh = 8, dr = 4, dn = 4, rank = 6, group = 3;
  MlaKV kv;
  std::string e;
  ASSERT_TRUE(mlaJointKV(L.wk, L.wv, Matrix(), Matrix(), layout,
                         fixedRank(rank), kv, e))
      << e;
  // The repeated stack, built by hand: K NoPE rows of head i/group for every
  // query head i, then V rows likewise.
  std::vector<int64_t> order = layout.channelOrder();
  Matrix A(6 * (dn + dh), L.dm);
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t t = 0; t < dn; ++t)
      for (int64_t c = 0; c < L.dm; ++c)
        A(i * dn + t, c) = L.wk((i / group) * dh + order[dr + t], c);
    for (int64_t t = 0; t < dh; ++t)
      for (int64_t c = 0; c < L.dm; ++c)
        A(6 * dn + i * dh + t, c) = L.wv((i / group) * dh + t, c);
  }
  Matrix U, Vt;
  std::vector<double> S;
  ASSERT_TRUE(svd(A, U, S, Vt, e)) << e;
  ASSERT_GE(S.size(), kv.spectrum.size());
  for (size_t k = 0; k < kv.spectrum.size(); ++k)
    EXPECT_NEAR(S[k], std::sqrt(3.0) * kv.spectrum[k], 1e-10 * S[0]);
  // Reconstructions of head i's rows from both factorisations.
  Matrix down = kv.latent.block(dr, 0, rank, L.dm);
  Matrix Ur = U.block(0, 0, A.rows, rank), Vr = Vt.block(0, 0, rank, L.dm);
  for (int64_t p = 0; p < rank; ++p)
    for (int64_t c = 0; c < L.dm; ++c)
      Vr(p, c) *= S[p];
  Matrix repeated = naiveMul(Ur, Vr);
  Matrix ours = naiveMul(kv.upKey, down), oursV = naiveMul(kv.upValue, down);
  double worst = 0;
  for (int64_t i = 0; i < 6; ++i) {
    int64_t g = i / group;
    for (int64_t c = 0; c < L.dm; ++c) {
      for (int64_t t = 0; t < dn; ++t)
        worst = std::max(worst, std::abs(repeated(i * dn + t, c) -
                                         ours(g * dn + t, c)));
      for (int64_t t = 0; t < dh; ++t)
        worst = std::max(worst, std::abs(repeated(6 * dn + i * dh + t, c) -
                                         oursV(g * dh + t, c)));
    }
  }
  EXPECT_LT(worst, 1e-10);
}

// The energy rule keeps the smallest rank with Σσ² ≥ δ, rounded up.
TEST(MlaTest, EnergyRankRoundsUp) {
  // Stack A = [W_K ; W_V] (no RoPE) with a known spectrum.
  std::vector<double> s = {8, 4, 2, 1, 0.5, 0.25, 0.1, 0.05};
  Matrix A = withSpectrum(16, 20, s, 61);
  Matrix wk = A.block(0, 0, 8, 20), wv = A.block(8, 0, 8, 20);
  MlaLayout layout;
  layout.numQueryHeads = 2;
  layout.numKVHeads = 1;
  layout.headDim = 8;
  std::string e;
  // Energies: 64, 80, 84, 85, ... of 85.33: δ = 0.9 needs 2 values.
  for (auto [delta, roundTo, expect] :
       {std::tuple<double, int64_t, int64_t>{0.9, 1, 2},
        {0.9, 4, 4},
        {0.99, 1, 4},
        {0.5, 1, 1},
        {0.9, 32, 16}}) {
    MlaRankRule rule;
    rule.energy = delta;
    rule.roundTo = roundTo;
    MlaKV kv;
    ASSERT_TRUE(mlaJointKV(wk, wv, Matrix(), Matrix(), layout, rule, kv, e))
        << e;
    EXPECT_EQ(kv.rank, expect) << "delta " << delta << " round " << roundTo;
  }
}

TEST(MlaTest, BadRanksAndLayoutsFail) {
  Layer L(6, 2, 8, 40, 8, false, 71);
  MlaKV kv;
  std::string e;
  MlaLayout layout = L.layout({0, 1});
  int64_t full = mlaMaxKVRank(layout, L.dm, false);
  EXPECT_EQ(full, 2 * (4 + 8));
  EXPECT_FALSE(mlaJointKV(L.wk, L.wv, Matrix(), Matrix(), layout,
                          fixedRank(full + 1), kv, e));
  EXPECT_NE(e.find("exceeds the largest possible 24"), std::string::npos)
      << e;
  MlaRankRule none;
  EXPECT_FALSE(
      mlaJointKV(L.wk, L.wv, Matrix(), Matrix(), layout, none, kv, e));
  EXPECT_NE(e.find("no rank"), std::string::npos) << e;
  for (std::vector<int64_t> pairs :
       {std::vector<int64_t>{1, 0}, {0, 0}, {4}, {-1}}) {
    EXPECT_FALSE(mlaJointKV(L.wk, L.wv, Matrix(), Matrix(), L.layout(pairs),
                            fixedRank(2), kv, e));
    EXPECT_NE(e.find("RoPE pairs"), std::string::npos) << e;
  }
  MlaLayout odd = L.layout({});
  odd.rotaryDim = 7;
  EXPECT_FALSE(mlaJointKV(L.wk, L.wv, Matrix(), Matrix(), odd, fixedRank(2),
                          kv, e));
  EXPECT_NE(e.find("rotary dim 7"), std::string::npos) << e;
  // W_V of the wrong height, and one bias without the other.
  EXPECT_FALSE(mlaJointKV(L.wk, L.wk.block(0, 0, 8, 40), Matrix(), Matrix(),
                          layout, fixedRank(2), kv, e));
  EXPECT_FALSE(mlaJointKV(L.wk, L.wv, randomMatrix(16, 1, 1), Matrix(),
                          layout, fixedRank(2), kv, e));
  EXPECT_NE(e.find("value bias"), std::string::npos) << e;
}

//===----------------------------------------------------------------------===//
// RoPE pairs and the query
//===----------------------------------------------------------------------===//

TEST(MlaTest, ChannelOrderKeepsPairsRotatable) {
  MlaLayout l;
  l.numQueryHeads = l.numKVHeads = 1;
  l.headDim = 10;
  l.rotaryDim = 8;
  l.ropePairs = {1, 3};
  // rotate_half pairs (1, 5), (3, 7): rope block [1, 3, 5, 7].
  EXPECT_EQ(l.channelOrder(),
            (std::vector<int64_t>{1, 3, 5, 7, 0, 2, 4, 6, 8, 9}));
  l.pairing = RopePairing::Interleaved;
  // interleaved pairs (2, 3), (6, 7).
  EXPECT_EQ(l.channelOrder(),
            (std::vector<int64_t>{2, 3, 6, 7, 0, 1, 4, 5, 8, 9}));
}

TEST(MlaTest, RopePairSelection) {
  Layer L(4, 2, 8, 16, 8, false, 81);
  // Make pair 2 = channels (2, 6) loud in every query and key head.
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t c = 0; c < 16; ++c) {
      L.wq(h * 8 + 2, c) *= 10;
      L.wq(h * 8 + 6, c) *= 10;
    }
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t c = 0; c < 16; ++c)
      L.wk(g * 8 + 6, c) *= 10;
  std::vector<double> scores;
  std::string e;
  ASSERT_TRUE(mlaRopePairScores(L.wq, L.wk, 4, 2, 8, RopePairing::RotateHalf,
                                scores, e))
      << e;
  ASSERT_EQ(scores.size(), 4u);
  // The score is Σ_i ‖W_Q,i pair‖·‖W_K,g pair‖, recomputed here.
  for (int64_t j = 0; j < 4; ++j) {
    double want = 0;
    for (int64_t i = 0; i < 4; ++i) {
      double q = 0, k = 0;
      for (int64_t ch : {j, j + 4})
        for (int64_t c = 0; c < 16; ++c) {
          q += L.wq(i * 8 + ch, c) * L.wq(i * 8 + ch, c);
          k += L.wk((i / 2) * 8 + ch, c) * L.wk((i / 2) * 8 + ch, c);
        }
      want += std::sqrt(q * k);
    }
    EXPECT_NEAR(scores[j], want, 1e-12 * want);
  }
  std::vector<int64_t> kept =
      mlaSelectRopePairs(scores, {0, 1, 2, 3}, 1, MlaRopeSelect::Norm);
  EXPECT_EQ(kept, std::vector<int64_t>{2});
  kept = mlaSelectRopePairs(scores, {0, 1, 2, 3}, 2,
                            MlaRopeSelect::HighFrequency);
  EXPECT_EQ(kept, (std::vector<int64_t>{0, 1}));
  // Frequencies from an earlier A3 pass: the highest frequency is the
  // smallest index, whatever the pair's position; output stays ascending.
  kept = mlaSelectRopePairs(scores, {5, 9, 1, 3}, 2,
                            MlaRopeSelect::HighFrequency);
  EXPECT_EQ(kept, (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(mlaRopePairScores(L.wq, L.wk, 4, 2, 10,
                                 RopePairing::RotateHalf, scores, e));
}

TEST(MlaTest, QueryFactor) {
  std::vector<double> s = {5, 3, 1, 0.5};
  Matrix wq = withSpectrum(12, 9, s, 91);
  Matrix down, up;
  std::string e;
  ASSERT_TRUE(mlaQueryFactor(wq, 4, down, up, e)) << e;
  EXPECT_LT(relativeError(naiveMul(up, down), wq), 1e-12);
  ASSERT_TRUE(mlaQueryFactor(wq, 2, down, up, e)) << e;
  EXPECT_EQ(down.rows, 2);
  EXPECT_EQ(up.cols, 2);
  // Eckart–Young: the residual is the dropped energy.
  Matrix diff = naiveMul(up, down);
  for (size_t p = 0; p < diff.data.size(); ++p)
    diff.data[p] -= wq.data[p];
  EXPECT_NEAR(frobeniusNorm(diff), std::sqrt(1.0 + 0.25), 1e-10);
  EXPECT_LT(orthonormalityError(up), 1e-12);
  EXPECT_FALSE(mlaQueryFactor(wq, 10, down, up, e));
  EXPECT_NE(e.find("outside [1, 9]"), std::string::npos) << e;
}

} // namespace

//===- LowRankTest.cpp - A3 closed forms, CUR, MLP selection, baselines ---===//
//
// The objectives are evaluated on the calibration data itself (X_q, X_kv,
// P), with plain-loop products, never through the Grams the code under test
// consumes; the baselines they are compared against are built from
// Decompositions' svd (tested on its own).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Numerics/LowRank.h"

#include "attenuate/Numerics/Decompositions.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

/// l tokens of d correlated channels: Z·M with Z random and M = I + 0.7·N,
/// so the Gram is far from a multiple of the identity and whitening matters.
Matrix calibrationData(int64_t l, int64_t d, uint64_t seed) {
  Matrix Z = randomMatrix(l, d, seed), M = randomMatrix(d, d, seed + 100);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j)
      M(i, j) = (i == j ? 1.0 : 0.0) + 0.7 * M(i, j);
  // A few loud channels, as in real activations.
  Matrix X = naiveMul(Z, M);
  for (int64_t t = 0; t < l; ++t)
    X(t, 0) *= 5.0;
  return X;
}

Matrix gramOf(const Matrix &X) {
  Matrix R = naiveMul(X, X, true, false);
  for (double &v : R.data)
    v /= static_cast<double>(X.rows);
  return R;
}

SqrtResult rootOf(const Matrix &R) {
  SqrtResult s;
  std::string error;
  EXPECT_TRUE(spdSqrt(R, s, error)) << error;
  return s;
}

/// Rows [h·d, (h+1)·d) of an HF projection, transposed: W_·,h (d_m × d).
Matrix headColumns(const Matrix &w, int64_t h, int64_t d) {
  return w.block(h * d, 0, d, w.cols).transpose();
}

/// W_o,h (d × d_m): columns [h·d, (h+1)·d) of o_proj, transposed.
Matrix outputHead(const Matrix &wo, int64_t h, int64_t d) {
  return wo.block(0, h * d, wo.rows, d).transpose();
}

Matrix minus(const Matrix &A, const Matrix &B) {
  Matrix D = A;
  for (size_t p = 0; p < D.data.size(); ++p)
    D.data[p] -= B.data[p];
  return D;
}

double sq(double x) { return x * x; }

/// The rank-r truncation of A by svd.
Matrix truncate(const Matrix &A, int64_t r) {
  Matrix U, Vt;
  std::vector<double> S;
  std::string error;
  EXPECT_TRUE(svd(A, U, S, Vt, error)) << error;
  Matrix US = U.block(0, 0, A.rows, r);
  for (int64_t i = 0; i < US.rows; ++i)
    for (int64_t j = 0; j < r; ++j)
      US(i, j) *= S[j];
  return naiveMul(US, Vt.block(0, 0, r, A.cols));
}

struct Shape {
  int64_t dm, hq, hkv, dh;
};

// MHA, GQA (2 and 4 query heads per KV head) and MQA.
const Shape kShapes[] = {
    {24, 4, 4, 6}, {24, 4, 2, 6}, {32, 8, 2, 4}, {16, 3, 1, 8}};

//===----------------------------------------------------------------------===//
// QK without RoPE
//===----------------------------------------------------------------------===//

/// Σ_h ‖X_q Δ_h X_kvᵀ‖² for Δ_h = W_q,h W_k,gᵀ − W̃_q,h W̃_k,gᵀ (squared).
double qkObjective(const Matrix &Xq, const Matrix &Xkv, const Shape &s,
                   const Matrix &wq, const Matrix &wk,
                   const std::vector<Matrix> &approx) {
  double e = 0;
  int64_t group = s.hq / s.hkv;
  for (int64_t h = 0; h < s.hq; ++h) {
    Matrix Wqk = naiveMul(headColumns(wq, h, s.dh),
                          headColumns(wk, h / group, s.dh), false, true);
    Matrix D = minus(Wqk, approx[h]);
    e += sq(frobeniusNorm(naiveMul(naiveMul(Xq, D), Xkv, false, true)));
  }
  return e;
}

std::vector<Matrix> a3QkProducts(const Shape &s, const QueryKeyFactors &f,
                                 int64_t r) {
  std::vector<Matrix> out;
  for (int64_t h = 0; h < s.hq; ++h)
    out.push_back(naiveMul(headColumns(f.query, h, r),
                           headColumns(f.key, h / (s.hq / s.hkv), r), false,
                           true));
  return out;
}

/// Plain SVD of the same product: the group's stacked W_qk,h truncated to
/// rank r (one shared key per group, as A3's), then split back by head.
std::vector<Matrix> plainQkProducts(const Shape &s, const Matrix &wq,
                                    const Matrix &wk, int64_t r) {
  int64_t group = s.hq / s.hkv;
  std::vector<Matrix> out(s.hq);
  for (int64_t g = 0; g < s.hkv; ++g) {
    Matrix stack(group * s.dm, s.dm);
    for (int64_t i = 0; i < group; ++i) {
      Matrix Wqk = naiveMul(headColumns(wq, g * group + i, s.dh),
                            headColumns(wk, g, s.dh), false, true);
      std::copy(Wqk.data.begin(), Wqk.data.end(), stack.row(i * s.dm));
    }
    Matrix T = truncate(stack, r);
    for (int64_t i = 0; i < group; ++i)
      out[g * group + i] = T.block(i * s.dm, 0, s.dm, s.dm);
  }
  return out;
}

TEST(LowRank, ProductSvdMatchesSvdOfTheProduct) {
  Matrix A = randomMatrix(20, 5, 1), B = randomMatrix(12, 5, 2);
  Matrix U, V;
  std::vector<double> S;
  std::string error;
  ASSERT_TRUE(productSvd(A, B, U, S, V, error)) << error;
  ASSERT_EQ(U.rows, 20);
  ASSERT_EQ(V.rows, 12);
  ASSERT_EQ(S.size(), 5u);
  Matrix P = naiveMul(A, B, false, true), U2, Vt2;
  std::vector<double> S2;
  ASSERT_TRUE(svd(P, U2, S2, Vt2, error)) << error;
  for (int i = 0; i < 5; ++i)
    EXPECT_NEAR(S[i], S2[i], 1e-12 * S2[0]);
  Matrix US = U;
  for (int64_t i = 0; i < US.rows; ++i)
    for (int64_t j = 0; j < US.cols; ++j)
      US(i, j) *= S[j];
  EXPECT_LT(relativeError(naiveMul(US, V, false, true), P), 1e-12);
  EXPECT_LT(orthonormalityError(U), 1e-12);
  EXPECT_LT(orthonormalityError(V), 1e-12);
  EXPECT_FALSE(productSvd(A, randomMatrix(12, 4, 3), U, S, V, error));
  EXPECT_NE(error.find("productSvd:"), std::string::npos) << error;
}

TEST(LowRank, QueryKeyFullRankIsExact) {
  for (const Shape &s : kShapes) {
    Matrix wq = randomMatrix(s.hq * s.dh, s.dm, 10 + s.dm),
           wk = randomMatrix(s.hkv * s.dh, s.dm, 11 + s.dm);
    Matrix Xq = calibrationData(6 * s.dm, s.dm, 12),
           Xkv = calibrationData(6 * s.dm, s.dm, 13);
    QueryKeyFactors f;
    std::string error;
    ASSERT_TRUE(a3QueryKey(wq, wk, s.hq, s.hkv, rootOf(gramOf(Xq)),
                           rootOf(gramOf(Xkv)), s.dh, f, error))
        << error;
    ASSERT_EQ(f.query.rows, s.hq * s.dh);
    ASSERT_EQ(f.key.rows, s.hkv * s.dh);
    std::vector<Matrix> got = a3QkProducts(s, f, s.dh);
    for (int64_t h = 0; h < s.hq; ++h) {
      Matrix Wqk =
          naiveMul(headColumns(wq, h, s.dh),
                   headColumns(wk, h / (s.hq / s.hkv), s.dh), false, true);
      EXPECT_LT(relativeError(got[h], Wqk), 1e-10)
          << "shape " << s.dm << "/" << s.hq << "/" << s.hkv << " head " << h;
    }
  }
}

TEST(LowRank, QueryKeyFullRankIsExactWhenDamped) {
  // 8 tokens of 24 channels: singular Grams, damped by spdSqrt. The
  // factors are optimal for the damped Gram; at full rank they still
  // reproduce W_qk, because R^{-1/2} R^{1/2} = I for the damped R too.
  Shape s{24, 4, 2, 6};
  Matrix wq = randomMatrix(s.hq * s.dh, s.dm, 20),
         wk = randomMatrix(s.hkv * s.dh, s.dm, 21);
  SqrtResult rq = rootOf(gramOf(calibrationData(8, s.dm, 22)));
  ASSERT_TRUE(rq.damped);
  QueryKeyFactors f;
  std::string error;
  ASSERT_TRUE(a3QueryKey(wq, wk, s.hq, s.hkv, rq, rq, s.dh, f, error)) << error;
  std::vector<Matrix> got = a3QkProducts(s, f, s.dh);
  for (int64_t h = 0; h < s.hq; ++h)
    EXPECT_LT(relativeError(got[h], naiveMul(headColumns(wq, h, s.dh),
                                             headColumns(wk, h / 2, s.dh),
                                             false, true)),
              1e-10);
}

TEST(LowRank, QueryKeyNeverWorseThanPlainSvd) {
  for (const Shape &s : kShapes) {
    Matrix wq = randomMatrix(s.hq * s.dh, s.dm, 30 + s.hq),
           wk = randomMatrix(s.hkv * s.dh, s.dm, 31 + s.hq);
    Matrix Xq = calibrationData(5 * s.dm, s.dm, 32 + s.dh),
           Xkv = calibrationData(5 * s.dm, s.dm, 33 + s.dh);
    SqrtResult rq = rootOf(gramOf(Xq)), rkv = rootOf(gramOf(Xkv));
    ASSERT_FALSE(rq.damped);
    ASSERT_FALSE(rkv.damped);
    double previous = HUGE_VAL;
    bool strictlyBetterSomewhere = false;
    for (int64_t r = 1; r <= s.dh; ++r) {
      QueryKeyFactors f;
      std::string error;
      ASSERT_TRUE(a3QueryKey(wq, wk, s.hq, s.hkv, rq, rkv, r, f, error))
          << error;
      double a3 =
          std::sqrt(qkObjective(Xq, Xkv, s, wq, wk, a3QkProducts(s, f, r)));
      double plain = std::sqrt(
          qkObjective(Xq, Xkv, s, wq, wk, plainQkProducts(s, wq, wk, r)));
      double scale = std::sqrt(qkObjective(
          Xq, Xkv, s, wq, wk,
          std::vector<Matrix>(s.hq, Matrix(s.dm, s.dm)))); // error of 0
      EXPECT_LE(a3, plain + 1e-9 * scale)
          << "shape " << s.dm << "/" << s.hq << "/" << s.hkv << " rank " << r;
      EXPECT_LE(a3, previous + 1e-9 * scale) << "rank " << r;
      previous = a3;
      if (r < s.dh && a3 < 0.999 * plain)
        strictlyBetterSomewhere = true;
    }
    EXPECT_TRUE(strictlyBetterSomewhere)
        << "whitening changed nothing for shape " << s.dm << "/" << s.hq;
  }
}

//===----------------------------------------------------------------------===//
// OV
//===----------------------------------------------------------------------===//

/// Σ_h ‖D_g Δ_h‖² with Δ_h = W_v,g W_o,h − W̃_v,g W̃_o,h; D_g the data that
/// weighs group g (X for A3-Xkv, the group's stacked P_h for R_P).
double ovObjective(const std::vector<Matrix> &data, const Shape &s,
                   const Matrix &wv, const Matrix &wo,
                   const std::vector<Matrix> &approx) {
  double e = 0;
  int64_t group = s.hq / s.hkv;
  for (int64_t h = 0; h < s.hq; ++h) {
    int64_t g = h / group;
    Matrix Wvo = naiveMul(headColumns(wv, g, s.dh), outputHead(wo, h, s.dh));
    const Matrix &D = data.size() == 1 ? data[0] : data[g];
    e += sq(frobeniusNorm(naiveMul(D, minus(Wvo, approx[h]))));
  }
  return e;
}

std::vector<Matrix> a3OvProducts(const Shape &s, const ValueOutputFactors &f,
                                 int64_t r) {
  std::vector<Matrix> out;
  for (int64_t h = 0; h < s.hq; ++h)
    out.push_back(naiveMul(headColumns(f.value, h / (s.hq / s.hkv), r),
                           outputHead(f.output, h, r)));
  return out;
}

/// Plain SVD of the group's concatenated [W_v,g W_o,h]_h, truncated.
std::vector<Matrix> plainOvProducts(const Shape &s, const Matrix &wv,
                                    const Matrix &wo, int64_t r) {
  int64_t group = s.hq / s.hkv;
  std::vector<Matrix> out(s.hq);
  for (int64_t g = 0; g < s.hkv; ++g) {
    Matrix cat(s.dm, group * s.dm);
    for (int64_t i = 0; i < group; ++i) {
      Matrix Wvo = naiveMul(headColumns(wv, g, s.dh),
                            outputHead(wo, g * group + i, s.dh));
      for (int64_t a = 0; a < s.dm; ++a)
        for (int64_t c = 0; c < s.dm; ++c)
          cat(a, i * s.dm + c) = Wvo(a, c);
    }
    Matrix T = truncate(cat, r);
    for (int64_t i = 0; i < group; ++i)
      out[g * group + i] = T.block(0, i * s.dm, s.dm, s.dm);
  }
  return out;
}

/// Per query head "attention-weighted" data P_h (random here: any P_h gives
/// a valid R_P), and per KV group the stack of its heads' P_h, whose Gram
/// (divided by the stacked row count) is the mean of the heads' R_P.
void probabilityData(const Shape &s, int64_t l, uint64_t seed,
                     std::vector<SqrtResult> &roots,
                     std::vector<Matrix> &stacks) {
  int64_t group = s.hq / s.hkv;
  roots.clear();
  stacks.clear();
  for (int64_t g = 0; g < s.hkv; ++g) {
    Matrix stack(group * l, s.dm), meanR(s.dm, s.dm);
    for (int64_t i = 0; i < group; ++i) {
      Matrix P = calibrationData(l, s.dm, seed + 7 * (g * group + i));
      std::copy(P.data.begin(), P.data.end(), stack.row(i * l));
      Matrix R = gramOf(P);
      for (size_t p = 0; p < R.data.size(); ++p)
        meanR.data[p] += R.data[p] / static_cast<double>(group);
    }
    roots.push_back(rootOf(meanR));
    stacks.push_back(stack);
  }
}

TEST(LowRank, ValueOutputFullRankIsExact) {
  for (const Shape &s : kShapes) {
    Matrix wv = randomMatrix(s.hkv * s.dh, s.dm, 40 + s.dm),
           wo = randomMatrix(s.dm, s.hq * s.dh, 41 + s.dm);
    Matrix bias = randomMatrix(1, s.hkv * s.dh, 42);
    ValueOutputFactors f;
    std::string error;
    ASSERT_TRUE(a3ValueOutput(
        wv, wo, bias, s.hq, s.hkv,
        {rootOf(gramOf(calibrationData(6 * s.dm, s.dm, 43)))}, s.dh, f, error))
        << error;
    ASSERT_EQ(f.value.rows, s.hkv * s.dh);
    ASSERT_EQ(f.output.cols, s.hq * s.dh);
    std::vector<Matrix> got = a3OvProducts(s, f, s.dh);
    int64_t group = s.hq / s.hkv;
    for (int64_t h = 0; h < s.hq; ++h) {
      int64_t g = h / group;
      EXPECT_LT(relativeError(got[h], naiveMul(headColumns(wv, g, s.dh),
                                               outputHead(wo, h, s.dh))),
                1e-10)
          << "shape " << s.dm << "/" << s.hq << "/" << s.hkv << " head " << h;
      // The bias's contribution to head h's output, b_g W_o,h.
      Matrix want =
          naiveMul(bias.block(0, g * s.dh, 1, s.dh), outputHead(wo, h, s.dh));
      Matrix have = naiveMul(f.valueBias.block(0, g * s.dh, 1, s.dh),
                             outputHead(f.output, h, s.dh));
      EXPECT_LT(relativeError(have, want), 1e-10) << "bias, head " << h;
    }
  }
}

TEST(LowRank, ValueOutputNeverWorseThanPlainSvd) {
  for (const Shape &s : kShapes) {
    Matrix wv = randomMatrix(s.hkv * s.dh, s.dm, 50 + s.hq),
           wo = randomMatrix(s.dm, s.hq * s.dh, 51 + s.hq);
    Matrix X = calibrationData(5 * s.dm, s.dm, 52 + s.dh);
    std::vector<SqrtResult> pRoots;
    std::vector<Matrix> pStacks;
    probabilityData(s, 4 * s.dm, 53 + s.dh, pRoots, pStacks);
    struct Variant {
      const char *name;
      std::vector<SqrtResult> roots;
      std::vector<Matrix> data;
    } variants[] = {{"R_kv", {rootOf(gramOf(X))}, {X}},
                    {"R_P", pRoots, pStacks}};
    for (const Variant &v : variants) {
      double previous = HUGE_VAL;
      double scale = std::sqrt(ovObjective(
          v.data, s, wv, wo, std::vector<Matrix>(s.hq, Matrix(s.dm, s.dm))));
      for (int64_t r = 1; r <= s.dh; ++r) {
        ValueOutputFactors f;
        std::string error;
        ASSERT_TRUE(
            a3ValueOutput(wv, wo, Matrix(), s.hq, s.hkv, v.roots, r, f, error))
            << error;
        EXPECT_TRUE(f.valueBias.empty());
        double a3 =
            std::sqrt(ovObjective(v.data, s, wv, wo, a3OvProducts(s, f, r)));
        double plain = std::sqrt(
            ovObjective(v.data, s, wv, wo, plainOvProducts(s, wv, wo, r)));
        EXPECT_LE(a3, plain + 1e-9 * scale)
            << v.name << " shape " << s.dm << "/" << s.hq << "/" << s.hkv
            << " rank " << r;
        EXPECT_LE(a3, previous + 1e-9 * scale) << v.name << " rank " << r;
        previous = a3;
      }
      EXPECT_LT(previous, 1e-9 * scale) << v.name << ": full rank not exact";
    }
  }
}

//===----------------------------------------------------------------------===//
// RoPE pairs (CUR)
//===----------------------------------------------------------------------===//

/// λ_j by definition: L = R_q^{1/2} W_q,h, M = W_k,gᵀ R_kv^{1/2}, column and
/// row norms by loops, summed over every head.
std::vector<double> referencePairScores(const Matrix &wq, const Matrix &wk,
                                        const Shape &s, const Matrix &rq,
                                        const Matrix &rkv,
                                        RopePairing pairing) {
  Matrix rootQ = rootOf(rq).sqrt, rootKv = rootOf(rkv).sqrt;
  std::vector<double> score(s.dh / 2, 0.0);
  for (int64_t h = 0; h < s.hq; ++h) {
    Matrix L = naiveMul(rootQ, headColumns(wq, h, s.dh));
    Matrix M = naiveMul(headColumns(wk, h / (s.hq / s.hkv), s.dh), rootKv, true,
                        false);
    for (int64_t j = 0; j < s.dh / 2; ++j) {
      auto [a, b] = ropePairChannels(j, s.dh, pairing);
      for (int64_t c : {a, b}) {
        double l2 = 0, m2 = 0;
        for (int64_t i = 0; i < s.dm; ++i) {
          l2 += sq(L(i, c));
          m2 += sq(M(c, i));
        }
        score[j] += l2 * m2;
      }
    }
  }
  return score;
}

TEST(LowRank, RopePairsKeepTheHighestScores) {
  Shape s{24, 4, 2, 8};
  for (RopePairing pairing :
       {RopePairing::RotateHalf, RopePairing::Interleaved}) {
    Matrix wq = randomMatrix(s.hq * s.dh, s.dm, 60),
           wk = randomMatrix(s.hkv * s.dh, s.dm, 61);
    // Pairs 1 and 3 carry loud query channels in one head, pair 2 a loud
    // key channel: these must be kept at 3 pairs.
    for (int64_t j : {1, 3}) {
      auto [a, b] = ropePairChannels(j, s.dh, pairing);
      for (int64_t c = 0; c < s.dm; ++c) {
        wq(2 * s.dh + a, c) *= 6;
        wq(2 * s.dh + b, c) *= 6;
      }
    }
    auto [a2, b2] = ropePairChannels(2, s.dh, pairing);
    for (int64_t c = 0; c < s.dm; ++c)
      wk(s.dh + b2, c) *= 8;
    (void)a2;
    Matrix rq = gramOf(calibrationData(100, s.dm, 62)),
           rkv = gramOf(calibrationData(100, s.dm, 63));
    std::vector<int64_t> kept;
    std::vector<double> scores;
    std::string error;
    ASSERT_TRUE(a3RopePairs(wq, wk, s.hq, s.hkv, rq, rkv, pairing, 3, kept,
                            scores, error))
        << error;
    std::vector<double> ref = referencePairScores(wq, wk, s, rq, rkv, pairing);
    ASSERT_EQ(scores.size(), ref.size());
    for (size_t j = 0; j < ref.size(); ++j)
      EXPECT_NEAR(scores[j], ref[j], 1e-10 * ref[j]) << "pair " << j;
    EXPECT_EQ(kept, (std::vector<int64_t>{1, 2, 3}));
    // Every kept pair outscores every dropped one.
    for (int64_t k : kept)
      for (int64_t j = 0; j < s.dh / 2; ++j)
        if (!std::count(kept.begin(), kept.end(), j))
          EXPECT_GE(scores[k], scores[j]);
    // All pairs: the identity selection.
    ASSERT_TRUE(a3RopePairs(wq, wk, s.hq, s.hkv, rq, rkv, pairing, 4, kept,
                            scores, error))
        << error;
    EXPECT_EQ(kept, (std::vector<int64_t>{0, 1, 2, 3}));
  }
}

TEST(LowRank, RopePairsRejectBadArguments) {
  Shape s{16, 2, 1, 8};
  Matrix wq = randomMatrix(16, 16, 70), wk = randomMatrix(8, 16, 71);
  Matrix R = gramOf(calibrationData(64, 16, 72));
  std::vector<int64_t> kept;
  std::vector<double> scores;
  std::string error;
  EXPECT_FALSE(a3RopePairs(wq, wk, s.hq, s.hkv, R, R, RopePairing::RotateHalf,
                           5, kept, scores, error));
  EXPECT_NE(error.find("rank 5 is outside [1, 4]"), std::string::npos) << error;
  EXPECT_FALSE(a3RopePairs(wq, wk, s.hq, s.hkv, R, R, RopePairing::RotateHalf,
                           0, kept, scores, error));
  EXPECT_FALSE(a3RopePairs(wq, wk, 3, 1, R, R, RopePairing::RotateHalf, 2, kept,
                           scores, error));
  EXPECT_FALSE(a3RopePairs(wq, wk, s.hq, s.hkv, Matrix::identity(15), R,
                           RopePairing::RotateHalf, 2, kept, scores, error));
  EXPECT_NE(error.find("R_q is 15x15, expected 16x16"), std::string::npos)
      << error;
}

//===----------------------------------------------------------------------===//
// MLP channels
//===----------------------------------------------------------------------===//

TEST(LowRank, MlpChannelsKeepTheHighestScores) {
  const int64_t dm = 12, inter = 20;
  Matrix H = calibrationData(200, inter, 80);
  // Channels 4 and 17 are loud in the data, channel 9 in W_down.
  for (int64_t t = 0; t < H.rows; ++t) {
    H(t, 4) *= 10;
    H(t, 17) *= 10;
  }
  Matrix rd = gramOf(H), down = randomMatrix(dm, inter, 81);
  for (int64_t c = 0; c < dm; ++c)
    down(c, 9) *= 30;
  std::vector<int64_t> kept;
  std::vector<double> scores;
  std::string error;
  ASSERT_TRUE(a3MlpChannels(rd, down, 3, kept, scores, error)) << error;
  EXPECT_EQ(kept, (std::vector<int64_t>{4, 9, 17}));
  // λ_i = ‖column i of R_d^{1/2}‖² · ‖W_down[:, i]‖², by definition.
  Matrix root = rootOf(rd).sqrt;
  for (int64_t i = 0; i < inter; ++i) {
    double col = 0, w = 0;
    for (int64_t k = 0; k < inter; ++k)
      col += sq(root(k, i));
    for (int64_t c = 0; c < dm; ++c)
      w += sq(down(c, i));
    EXPECT_NEAR(scores[i], col * w, 1e-10 * col * w) << "channel " << i;
  }
  ASSERT_TRUE(a3MlpChannels(rd, down, 10, kept, scores, error)) << error;
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_EQ(kept.size(), 10u);
  EXPECT_FALSE(a3MlpChannels(rd, down, 21, kept, scores, error));
  EXPECT_NE(error.find("a3MlpChannels: rank 21 is outside [1, 20]"),
            std::string::npos)
      << error;
  EXPECT_FALSE(
      a3MlpChannels(Matrix::identity(19), down, 3, kept, scores, error));
}

TEST(LowRank, MlpChannelsFromTheDiagonalAlone) {
  // What attn-lowrank uses (it reads only diag(R_d)): the same scores and
  // selection as from the whole Gram.
  const int64_t dm = 12, inter = 20;
  Matrix rd = gramOf(calibrationData(200, inter, 82)),
         down = randomMatrix(dm, inter, 83);
  std::vector<double> diagonal(inter);
  for (int64_t i = 0; i < inter; ++i)
    diagonal[i] = rd(i, i);
  std::vector<int64_t> kept, keptFull;
  std::vector<double> scores, scoresFull;
  std::string error;
  ASSERT_TRUE(a3MlpChannels(rd, down, 7, keptFull, scoresFull, error))
      << error;
  ASSERT_TRUE(a3MlpChannels(diagonal, down, 7, kept, scores, error)) << error;
  EXPECT_EQ(kept, keptFull);
  EXPECT_EQ(scores, scoresFull);
  diagonal.pop_back();
  EXPECT_FALSE(a3MlpChannels(diagonal, down, 7, kept, scores, error));
  EXPECT_NE(error.find("diag(R_d) has 19 values, expected 20"),
            std::string::npos)
      << error;
}

TEST(LowRank, TopIndicesTiesGoToTheLowerIndex) {
  EXPECT_EQ(topIndicesAscending({1, 3, 3, 2, 3}, 2),
            (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(topIndicesAscending({1, 3, 3, 2, 3}, 9),
            (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(topIndicesAscending({1, 2}, 0).empty());
}

//===----------------------------------------------------------------------===//
// Baselines
//===----------------------------------------------------------------------===//

TEST(LowRank, TruncatedSvdIsEckartYoung) {
  Matrix w = randomMatrix(18, 11, 90), U, Vt;
  std::vector<double> S;
  std::string error;
  ASSERT_TRUE(svd(w, U, S, Vt, error)) << error;
  for (int64_t r = 1; r <= 11; ++r) {
    Matrix a, b;
    ASSERT_TRUE(truncatedSvd(w, r, a, b, error)) << error;
    ASSERT_EQ(a.rows, 18);
    ASSERT_EQ(a.cols, r);
    ASSERT_EQ(b.rows, r);
    ASSERT_EQ(b.cols, 11);
    double tail = 0;
    for (int64_t i = r; i < 11; ++i)
      tail += sq(S[i]);
    EXPECT_NEAR(frobeniusNorm(minus(w, naiveMul(a, b))), std::sqrt(tail),
                1e-12 * S[0]);
  }
  Matrix a, b;
  ASSERT_TRUE(truncatedSvd(w, 11, a, b, error));
  EXPECT_LT(relativeError(naiveMul(a, b), w), 1e-12);
  EXPECT_FALSE(truncatedSvd(w, 12, a, b, error));
  EXPECT_NE(error.find("rank 12 is outside [1, 11]"), std::string::npos)
      << error;
}

TEST(LowRank, WhitenedSvdBeatsPlainOnTheData) {
  for (auto [out, in] : {std::pair<int64_t, int64_t>{18, 11}, {9, 16}}) {
    Matrix w = randomMatrix(out, in, 100 + out);
    Matrix X = calibrationData(8 * in, in, 101);
    Matrix R = gramOf(X);
    auto dataError = [&](const Matrix &a, const Matrix &b) {
      return frobeniusNorm(naiveMul(X, minus(w, naiveMul(a, b)), false, true));
    };
    double scale = frobeniusNorm(naiveMul(X, w, false, true));
    int64_t full = std::min(out, in);
    for (int64_t r = 1; r <= full; ++r) {
      Matrix a, b, pa, pb;
      std::string error;
      double damping = -1;
      ASSERT_TRUE(whitenedSvd(w, R, r, a, b, error, &damping)) << error;
      EXPECT_EQ(damping, 0.0);
      ASSERT_TRUE(truncatedSvd(w, r, pa, pb, error)) << error;
      EXPECT_LE(dataError(a, b), dataError(pa, pb) + 1e-9 * scale)
          << out << "x" << in << " rank " << r;
      if (r == full)
        EXPECT_LT(relativeError(naiveMul(a, b), w), 1e-10);
    }
  }
}

TEST(LowRank, WhitenedSvdDampsASingularGram) {
  Matrix w = randomMatrix(6, 10, 110);
  Matrix R = gramOf(calibrationData(4, 10, 111)); // rank 4 of 10
  Matrix a, b;
  std::string error;
  double damping = 0;
  ASSERT_TRUE(whitenedSvd(w, R, 6, a, b, error, &damping)) << error;
  EXPECT_GT(damping, 0.0);
  EXPECT_LT(relativeError(naiveMul(a, b), w), 1e-8);
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST(LowRank, ClosedFormsRejectBadArguments) {
  Shape s{16, 4, 2, 4};
  Matrix wq = randomMatrix(16, 16, 120), wk = randomMatrix(8, 16, 121);
  SqrtResult root = rootOf(gramOf(calibrationData(64, 16, 122)));
  QueryKeyFactors qk;
  std::string error;
  EXPECT_FALSE(a3QueryKey(wq, wk, s.hq, s.hkv, root, root, 5, qk, error));
  EXPECT_NE(error.find("a3QueryKey: rank 5 is outside [1, 4]"),
            std::string::npos)
      << error;
  EXPECT_FALSE(a3QueryKey(wq, wk, s.hq, s.hkv, root, root, 0, qk, error));
  EXPECT_FALSE(a3QueryKey(wq, wk, 4, 3, root, root, 2, qk, error));
  EXPECT_NE(error.find("head counts 4/3"), std::string::npos) << error;
  EXPECT_FALSE(
      a3QueryKey(wq, randomMatrix(12, 16, 1), 4, 2, root, root, 2, qk, error));
  Matrix bad = wq;
  bad(3, 3) = NAN;
  EXPECT_FALSE(a3QueryKey(bad, wk, s.hq, s.hkv, root, root, 2, qk, error));
  EXPECT_NE(error.find("W_q has non-finite value"), std::string::npos) << error;

  Matrix wo = randomMatrix(16, 16, 123);
  ValueOutputFactors ov;
  EXPECT_FALSE(
      a3ValueOutput(wk, wo, Matrix(), s.hq, s.hkv, {root}, 5, ov, error));
  EXPECT_NE(error.find("a3ValueOutput: rank 5"), std::string::npos) << error;
  EXPECT_FALSE(a3ValueOutput(wk, wo, Matrix(), s.hq, s.hkv, {root, root, root},
                             2, ov, error));
  EXPECT_NE(error.find("got 3 whitenings"), std::string::npos) << error;
  EXPECT_FALSE(
      a3ValueOutput(wk, wo, Matrix(1, 7), s.hq, s.hkv, {root}, 2, ov, error));
  EXPECT_NE(error.find("the value bias is 1x7, expected 1x8"),
            std::string::npos)
      << error;
  EXPECT_FALSE(a3ValueOutput(wk, randomMatrix(16, 12, 124), Matrix(), s.hq,
                             s.hkv, {root}, 2, ov, error));
  Matrix a, b;
  EXPECT_FALSE(whitenedSvd(wq, Matrix::identity(8), 2, a, b, error));
  EXPECT_NE(error.find("whitenedSvd: R is 8x8, expected 16x16"),
            std::string::npos)
      << error;
}

} // namespace

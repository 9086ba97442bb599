//===- LowRank.h - A3 low-rank attention and the SVD baselines --*- C++ -*-===//
//
// The math of `attn-lowrank`, free of MLIR so it is unit-testable:
//
// - A3 (Wong et al., arXiv 2505.12942): closed-form low-rank QK and OV
//   circuits that minimise the error of the attention scores / head outputs
//   on calibration data, CUR selection of RoPE frequency pairs, and MLP
//   channel selection;
// - the two baselines A3 is compared against: plain truncated SVD of a
//   weight and SVD-LLM's whitened SVD.
//
// Weights are in Hugging Face layout, as the IR holds them: a projection
// y = x·Wᵀ has W [out, in]; q_proj [Hq·d_h, d_m], k_proj/v_proj
// [Hkv·d_h, d_m], o_proj [d_m, Hq·d_h]. Query head h belongs to KV group
// g = h / (Hq / Hkv). In the formulas, W_q,h = (rows of head h of q_proj)ᵀ
// is d_m × d_h and W_o,h = (columns of head h of o_proj)ᵀ is d_h × d_m.
//
// Calibration Grams R = XᵀX / l come whitened through spdSqrt: its result
// holds R^{1/2} and R^{-1/2} of the (possibly damped) Gram, computed once per
// layer by the caller, which also reports the damping. With damping the
// closed forms are optimal for the damped Gram, and full rank still
// reproduces the weights, since R^{-1/2} R^{1/2} = I either way.
//
// Error convention as in Matrix.h: bool + one-line error naming the function.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_LOWRANK_H
#define ATTENUATE_NUMERICS_LOWRANK_H

#include "attenuate/Numerics/Matrix.h"
#include "attenuate/Numerics/SpdSqrt.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attenuate::numerics {

/// Thin SVD of the product A·Bᵀ (A m×k, B n×k) without forming it: QR of A
/// and of B, then an SVD of the small product of their triangular factors
/// (A3's "cheap route": a d_h×d_h SVD per head instead of a d_m×d_m one).
/// U is m×p, S has p values in descending order, V is n×p (not transposed),
/// p = min(m, n, k), and A·Bᵀ = U diag(S) Vᵀ.
bool productSvd(const Matrix &A, const Matrix &B, Matrix &U,
                std::vector<double> &S, Matrix &V, std::string &error);

/// A3 QK without RoPE. For KV group g with query heads h ∈ G_g, the stacked
/// whitened circuits [R_q^{1/2} W_q,h W_k,gᵀ R_kv^{1/2}]_{h ∈ G_g}
/// (|G_g|·d_m × d_m) have the SVD U Σ Vᵀ; with U_h the row block of head h,
///   W̃_q,h = R_q^{-1/2} U_h,r   and   W̃_k,g = R_kv^{-1/2} V_r Σ_r,
/// which minimises Σ_{h∈G_g} ‖X_q (W_q,h W_k,gᵀ − W̃_q,h W̃_k,gᵀ) X_kvᵀ‖_F
/// over rank-r factors with one key per group (Eckart–Young on the stack).
/// Computed by productSvd of the stacked R_q^{1/2} W_q,h and R_kv^{1/2}
/// W_k,g. The scores q̃·k̃ are a rotated and truncated version of q·k, so
/// the attention scale stays unchanged.
struct QueryKeyFactors {
  Matrix query; ///< new q_proj [Hq·r, d_m]
  Matrix key;   ///< new k_proj [Hkv·r, d_m]
};
/// `rank` r in [1, d_h] with d_h = wq.rows / numQueryHeads = wk.rows /
/// numKVHeads; numKVHeads must divide numQueryHeads.
bool a3QueryKey(const Matrix &wq, const Matrix &wk, int64_t numQueryHeads,
                int64_t numKVHeads, const SqrtResult &rq, const SqrtResult &rkv,
                int64_t rank, QueryKeyFactors &out, std::string &error);

/// How RoPE pairs channels of a head: `RotateHalf` (Hugging Face Llama,
/// pair j = (j, j + d/2)) or `Interleaved` (pair j = (2j, 2j + 1)).
enum class RopePairing { RotateHalf, Interleaved };

/// The two channels of pair j in a rotated block of `rotaryDim` channels.
inline std::pair<int64_t, int64_t>
ropePairChannels(int64_t j, int64_t rotaryDim, RopePairing pairing) {
  return pairing == RopePairing::RotateHalf
             ? std::pair<int64_t, int64_t>{j, j + rotaryDim / 2}
             : std::pair<int64_t, int64_t>{2 * j, 2 * j + 1};
}

/// A3 QK with RoPE: an SVD would mix channels that RoPE rotates at
/// different frequencies, so A3 keeps whole frequency pairs (CUR). With
/// L = R_q^{1/2} W_q,h and M = W_k,gᵀ R_kv^{1/2}, pair j = (a, b) scores
///   λ_j = Σ_h ‖L_{:,a}‖²‖M_{a,:}‖² + ‖L_{:,b}‖²‖M_{b,:}‖²,
/// where ‖L_{:,a}‖² = w_aᵀ R_q w_a for w_a column a of W_q,h (no square root
/// needed), and likewise for M with R_kv.
///
/// One attn.rope op rotates every head of a layer with one frequency list,
/// so all heads must keep the same pairs: the score is summed over ALL query
/// heads of the layer (each with its group's key head), not per group. The
/// whole head is rotated (rotary dim = d_h). `kept` receives the `numPairs`
/// highest-scoring pairs in ascending order (so the rope op's `frequencies`
/// stay increasing; ties go to the lower index), `scores` all d_h/2 scores.
bool a3RopePairs(const Matrix &wq, const Matrix &wk, int64_t numQueryHeads,
                 int64_t numKVHeads, const Matrix &rq, const Matrix &rkv,
                 RopePairing pairing, int64_t numPairs,
                 std::vector<int64_t> &kept, std::vector<double> &scores,
                 std::string &error);

/// A3 OV. For KV group g, the concatenated whitened circuits
/// [R^{1/2} W_v,g W_o,h]_{h ∈ G_g} (d_m × |G_g|·d_m) have the SVD U Σ Vᵀ;
///   W̃_v,g = R^{-1/2} U_r Σ_r   and   W̃_o,h = column block h of V_rᵀ,
/// which minimises Σ_h ‖X (W_v,g W_o,h − W̃_v,g W̃_o,h)‖_F with one value
/// head per group. R is R_kv ("A3-Xkv": X the value projection's input) or
/// the probability-weighted R_P = PᵀP / l, P = A·X_kv. R_P is per query
/// head; a group shares one value head, so the group's R is the mean of its
/// heads' R_P [inferred: exact for MHA, where every group has one head].
///
/// `roots` holds one whitening per KV group, or a single one shared by all.
/// A value bias b (1 × Hkv·d_h, empty for none) contributes b_g W_o,h to
/// every head's output (attention rows sum to one); the new bias is the
/// least-squares b̃_g = b_g [W_o,h]_h V_r, exact at full rank.
struct ValueOutputFactors {
  Matrix value;     ///< new v_proj [Hkv·r, d_m]
  Matrix output;    ///< new o_proj [d_m, Hq·r]
  Matrix valueBias; ///< [1, Hkv·r], empty without a bias
};
bool a3ValueOutput(const Matrix &wv, const Matrix &wo, const Matrix &vBias,
                   int64_t numQueryHeads, int64_t numKVHeads,
                   const std::vector<SqrtResult> &roots, int64_t rank,
                   ValueOutputFactors &out, std::string &error);

/// A3 MLP: intermediate channel i scores λ_i = (R_d)_ii · ‖W_down[:, i]‖²
/// (‖column i of R_d^{1/2}‖² = (R_d)_ii), R_d the Gram of the intermediate
/// silu(x·gateᵀ) ⊙ (x·upᵀ). `kept` receives the `rank` highest-scoring
/// channels in ascending order (ties to the lower index); `scores` all.
bool a3MlpChannels(const Matrix &rd, const Matrix &wDown, int64_t rank,
                   std::vector<int64_t> &kept, std::vector<double> &scores,
                   std::string &error);
/// The same from diag(R_d) alone (all the scores use): on an 8B model R_d
/// is 14336² doubles, its diagonal 14336.
bool a3MlpChannels(const std::vector<double> &rdDiagonal, const Matrix &wDown,
                   int64_t rank, std::vector<int64_t> &kept,
                   std::vector<double> &scores, std::string &error);

/// W ≈ A·B, A = U_r Σ_r [out × r], B = V_rᵀ [r × in]: the truncated SVD of
/// W [out × in], the best rank-r approximation in Frobenius norm. As
/// projections, x → linear(B) → linear(A).
bool truncatedSvd(const Matrix &w, int64_t rank, Matrix &a, Matrix &b,
                  std::string &error);

/// SVD-LLM: with R = L Lᵀ (Cholesky of the input Gram R [in × in], damped
/// by cholesky's retry when not positive definite), W ≈ A·B with
/// A = U_r Σ_r, B = V_rᵀ L⁻¹ from SVD_r(W·L) = U_r Σ_r V_rᵀ. This minimises
/// ‖X (W − A·B)ᵀ‖_F, since ‖X Δᵀ‖_F² = l·‖Δ L‖_F². `dampingUsed`, if given,
/// receives the relative damping λ Cholesky needed (0 when none).
bool whitenedSvd(const Matrix &w, const Matrix &r, int64_t rank, Matrix &a,
                 Matrix &b, std::string &error, double *dampingUsed = nullptr);

/// The k indices of the largest `scores`, ascending (ties to the lower
/// index). k is clamped to [0, scores.size()].
std::vector<int64_t> topIndicesAscending(const std::vector<double> &scores,
                                         int64_t k);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_LOWRANK_H

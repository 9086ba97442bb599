//===- Mla.h - X-EcoMLA: MHA/GQA attention to multi-head latent -*- C++ -*-===//
//
// The math of `attn-mla-upcycle` (X-EcoMLA, Li et al., arXiv 2503.11132),
// free of MLIR so it is unit-testable. Weights are in Hugging Face layout as
// the IR holds them: q_proj W_Q [Hq·d_h, d_m], k_proj W_K and v_proj W_V
// [Hkv·d_h, d_m], o_proj W_O [d_m, Hq·d_h]; query head i reads KV head
// g(i) = i / (Hq / Hkv). Biases are column matrices [n × 1] (empty: none).
//
// Channels of a head. RoPE rotates the first `rotaryDim` channels in pairs
// (rotate_half: pair j = (j, j + rotaryDim/2); interleaved: (2j, 2j+1)).
// MLA keeps d_r/2 of those pairs as the decoupled RoPE part, chosen as whole
// pairs: the "last d_r channels" of a rotate_half head are the second halves
// of d_r pairs, not a set RoPE maps to itself, so they cannot be rotated on
// their own. Every MLA head is laid out as
//   [ rope block (d_r) ; NoPE channels (d_nope = d_h − d_r) ]
// with the kept pairs in ascending order inside the rope block, arranged so
// that an attn.rope of rotary_dim d_r with the same pairing rotates exactly
// the kept pairs (rotate_half: [a_1..a_m, b_1..b_m]; interleaved:
// [a_1, b_1, a_2, b_2, ...]) and the NoPE channels (the rotated channels of
// the dropped pairs and any channels past rotaryDim) in ascending order.
// The rope block comes first, not last as in the paper's [c ; k_rope],
// because attn.rope rotates the leading channels of a head: one projection,
// one rope op and one cache then carry the whole latent.
//
// Factorisation (per layer):
// - KV: the stack A = [W_K,N ; W_V] (the NoPE rows of every KV head, then
//   every value head; ((Hkv·d_nope + Hkv·d_h) × d_m) has the thin SVD
//   U Σ Vᵀ. W_DKV = Σ_r V_rᵀ [r × d_m] (latent c = W_DKV x), W_UK,g and
//   W_UV,g are U_r's row blocks, so W_UK,g W_DKV and W_UV,g W_DKV are the
//   rank-r projections of W_K,N,g and W_V,g onto A's top right singular
//   space: exact at full rank.
//   The paper repeats GQA heads to Hq before the SVD. Repeating every row
//   block Hq/Hkv times leaves the row space and Aᵀ A up to the factor
//   Hq/Hkv unchanged, so V_r and the energy fractions are the same and the
//   singular values are √(Hq/Hkv) times ours: the products W_UK W_DKV and
//   W_UV W_DKV, which are all the model computes, are identical. We factor
//   the unrepeated stack (Hq/Hkv times fewer rows).
// - Decoupled RoPE key: W_KR = the kept rope-block rows of W_K averaged over
//   the Hkv KV heads (the same as over the Hq repeated heads), one key
//   shared by all query heads. Exact only when Hkv = 1 and every rotated
//   pair is kept; otherwise this is the initialisation's approximation.
// - Biases: a K/V bias is folded in as an extra input column ([W | b] acts
//   on [x ; 1]), so the latent gets a bias and full rank stays exact.
// - Q (optional q-rank r_q): the truncated SVD W_Q ≈ W_UQ W_DQ,
//   W_DQ = Σ_q V_qᵀ [r_q × d_m], W_UQ = U_q [Hq·d_h × r_q].
//
// Forms:
// - absorbed: query head i is q̂_i = [q_i,P ; W_UK,gᵀ q_i,N] (d_r + r),
//   one KV head k = [k_rope ; c], v = c (the last r channels of k), and
//   the output o_i = W_UV,g õ_i folded into o_proj:
//   W_O' = [W_O,i W_UV,g(i)]_i [d_m × Hq·r]. The scores q̂_i·k equal
//   q_i,P·k_rope + q_i,N·(W_UK,g c), so the attention scale is unchanged.
// - explicit: the same latent, with per-head K/V rebuilt from a cached
//   latent row [k_rope ; c]: k_g = [k_rope ; W_UK,g c], v_g = W_UV,g c.
//
// Error convention as in Matrix.h: bool + one-line error naming the function.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_MLA_H
#define ATTENUATE_NUMERICS_MLA_H

#include "attenuate/Numerics/LowRank.h"
#include "attenuate/Numerics/Matrix.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attenuate::numerics {

/// The head geometry of one attention layer and the RoPE pairs MLA keeps.
struct MlaLayout {
  int64_t numQueryHeads = 0;
  int64_t numKVHeads = 0;
  int64_t headDim = 0;
  /// Channels the original RoPE rotates (0: the layer has no RoPE).
  int64_t rotaryDim = 0;
  RopePairing pairing = RopePairing::RotateHalf;
  /// Kept pairs j of the original RoPE, strictly ascending, each in
  /// [0, rotaryDim/2). d_r = 2 · ropePairs.size().
  std::vector<int64_t> ropePairs;

  int64_t ropeDim() const { return 2 * static_cast<int64_t>(ropePairs.size()); }
  int64_t nopeDim() const { return headDim - ropeDim(); }
  /// Original channel of each MLA head channel: d_r rope-block channels,
  /// then d_nope NoPE channels (see the file comment).
  std::vector<int64_t> channelOrder() const;
  /// Checks the fields against each other; false with an error naming `fn`.
  bool check(const char *fn, std::string &error) const;
};

/// How the pairs of the decoupled RoPE part are chosen.
enum class MlaRopeSelect {
  /// Largest weight-norm contribution (MHA2MLA's 2-norm criterion, on the
  /// weights): pair j scores Σ_i ‖W_Q,i[a_j, b_j]‖_F · ‖W_K,g(i)[a_j, b_j]‖_F,
  /// an upper bound of |q_j·k_j| per unit input, summed over all query heads
  /// because every head shares the one RoPE key.
  Norm,
  /// The highest-frequency pairs (smallest frequency index).
  HighFrequency,
};

/// Scores of the `rotaryDim/2` pairs for MlaRopeSelect::Norm.
bool mlaRopePairScores(const Matrix &wq, const Matrix &wk,
                       int64_t numQueryHeads, int64_t numKVHeads,
                       int64_t rotaryDim, RopePairing pairing,
                       std::vector<double> &scores, std::string &error);

/// `numPairs` pair indices, ascending: the top-scoring ones (ties to the
/// lower index) for Norm, or those with the smallest `frequencies` entry for
/// HighFrequency (`frequencies[j]` is pair j's frequency index; one entry
/// per score). numPairs is clamped to [0, scores.size()].
std::vector<int64_t> mlaSelectRopePairs(const std::vector<double> &scores,
                                        const std::vector<int64_t> &frequencies,
                                        int64_t numPairs, MlaRopeSelect how);

/// Rank rule for the latent: `fixedRank` > 0, or else the smallest r
/// keeping `energy` of Σσ² rounded up to `roundTo` (capped at the maximum).
struct MlaRankRule {
  int64_t fixedRank = 0;
  double energy = 0.0;
  int64_t roundTo = 8;
};

/// The largest latent rank of a layer: min(rows, cols) of the stack A,
/// (Hkv·d_nope + Hkv·d_h) × (d_m + 1 with a K/V bias, else d_m).
int64_t mlaMaxKVRank(const MlaLayout &layout, int64_t modelDim, bool hasBias);

/// The joint KV factorisation.
struct MlaKV {
  int64_t rank = 0;                 ///< r (r_kv)
  std::vector<double> spectrum;     ///< every singular value of A
  Matrix latent;                    ///< [d_r + r, d_m] = [W_KR ; W_DKV]
  Matrix latentBias;                ///< [d_r + r, 1], empty without bias
  Matrix upKey;                     ///< [Hkv·d_nope, r]: W_UK,g row blocks
  Matrix upValue;                   ///< [Hkv·d_h, r]: W_UV,g row blocks
};

/// Factors W_K, W_V (and their biases bk, bv, [Hkv·d_h × 1] or empty; give
/// both or neither) for `layout` with the rank from `rule`. Fails if the
/// fixed rank exceeds mlaMaxKVRank, or on shapes that do not match.
bool mlaJointKV(const Matrix &wk, const Matrix &wv, const Matrix &bk,
                const Matrix &bv, const MlaLayout &layout,
                const MlaRankRule &rule, MlaKV &out, std::string &error);

/// Absorbed query rows: for M with Hq·d_h rows (W_Q, W_UQ, or the query
/// bias as a column), head i becomes [M_i,P ; W_UK,g(i)ᵀ M_i,N], giving
/// Hq·(d_r + r) rows.
bool mlaAbsorbQuery(const Matrix &m, const MlaLayout &layout, const MlaKV &kv,
                    Matrix &out, std::string &error);

/// Explicit query rows: M's rows of each head permuted to the MLA channel
/// order (Hq·d_h rows).
bool mlaPermuteQuery(const Matrix &m, const MlaLayout &layout, Matrix &out,
                     std::string &error);

/// Absorbed output projection W_O' = [W_O,i W_UV,g(i)]_i [d_m × Hq·r].
bool mlaAbsorbOutput(const Matrix &wo, const MlaLayout &layout,
                     const MlaKV &kv, Matrix &out, std::string &error);

/// Explicit up-projections applied to a latent row [k_rope ; c] (d_r + r):
/// keys [Hkv·d_h × (d_r + r)] with head g = [[I, 0] ; [0, W_UK,g]] (MLA
/// channel order), values [Hkv·d_h × (d_r + r)] with head g = [0, W_UV,g]
/// (original channel order: values have no RoPE).
bool mlaExplicitUp(const MlaLayout &layout, const MlaKV &kv, Matrix &keyUp,
                   Matrix &valueUp, std::string &error);

/// Low-rank query W_Q ≈ up · down: down = Σ_r V_rᵀ [rank × d_m],
/// up = U_r [rows × rank]. rank in [1, min(rows, cols)].
bool mlaQueryFactor(const Matrix &wq, int64_t rank, Matrix &down, Matrix &up,
                    std::string &error);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_MLA_H

//===- Rank.h - rank selection from a spectrum ------------------*- C++ -*-===//
//
// X-EcoMLA picks the latent rank as the smallest r keeping a fraction δ of
// the spectrum's energy, rounded up to a multiple of 8 so the latent width
// suits GEMM tiles; A3 and CSR budgets use the same helpers.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_RANK_H
#define ATTENUATE_NUMERICS_RANK_H

#include <cstdint>
#include <vector>

namespace attenuate::numerics {

/// The smallest r with Σ_{i<r} S[i]² >= delta · Σ_i S[i]², S in the order
/// given (svd's descending order makes this the energy rank). delta is
/// clamped to [0, 1]; delta = 0 gives 0, delta = 1 the index after the last
/// non-zero value. An all-zero S gives 0. If delta or any S[i] is not
/// finite the answer is S.size(): keeping everything is the safe failure.
int64_t energyRank(const std::vector<double> &S, double delta);

/// r rounded up to a multiple of `multiple` (<= 1 means no rounding), then
/// capped at `max`: roundUp(61, 8, 128) = 64, roundUp(61, 8, 62) = 62.
/// Negative r gives 0.
int64_t roundUp(int64_t r, int64_t multiple, int64_t max);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_RANK_H

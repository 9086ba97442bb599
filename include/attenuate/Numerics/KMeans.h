//===- KMeans.h - deterministic k-means (Lloyd) -----------------*- C++ -*-===//
//
// CSR initialises its dictionary atoms with k-means over sampled K/V head
// vectors (TECHNIQUES.md §4). Compression must be reproducible — the same
// model, calibration set and seed give the same bytes — so everything here
// is deterministic for a given seed and BLAS build: a fixed-algorithm
// generator (not std:: distributions, whose output differs between standard
// libraries), lowest-index tie breaks, and a fixed rule for empty clusters.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_KMEANS_H
#define ATTENUATE_NUMERICS_KMEANS_H

#include "attenuate/Numerics/Matrix.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attenuate::numerics {

enum class KMeansInit {
  /// k-means++ (D² sampling): better starts, O(n·k·d) sequential work.
  PlusPlus,
  /// k distinct rows drawn uniformly: O(k) — for very large n·k.
  Random,
};

struct KMeansResult {
  Matrix centroids;                ///< k x d, one centroid per row.
  std::vector<int32_t> assignment; ///< n entries, the nearest centroid.
  double inertia = 0;              ///< Σ_i ‖x_i − centroid(x_i)‖².
  int iterations = 0;              ///< Lloyd iterations run.
  bool converged = false;          ///< assignments stopped changing.
};

/// Clusters the n rows of the row-major f32 matrix X (d columns, rows ldx
/// floats apart) into k clusters with at most `iters` Lloyd iterations
/// (assignment by GEMM: ‖x‖² − 2x·c + ‖c‖²; mean update), stopping early
/// once no assignment changes. A cluster left empty is re-seeded with the
/// point farthest from its current centroid; with fewer distinct points
/// than k, clusters that duplicate another centroid stay empty (every point
/// is then on a centroid: inertia 0). On return `assignment` and
/// `inertia` match `centroids`. Computation is fp64.
/// For CSR, D = normalized columns of centroids.transpose().
/// Fails unless 1 <= k <= n, d >= 1, ldx >= d, iters >= 0 and X is finite.
bool kmeans(const float *X, int64_t n, int64_t d, int64_t ldx, int64_t k,
            int iters, uint64_t seed, KMeansResult &result, std::string &error,
            KMeansInit init = KMeansInit::PlusPlus);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_KMEANS_H

//===- KMeans.cpp - seeded k-means++ / Lloyd with GEMM assignment ---------===//

#include "attenuate/Numerics/KMeans.h"

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace attenuate::numerics {

using detail::fail;

namespace {

/// std::mt19937_64's sequence is fixed by the standard; the helpers below
/// turn it into numbers the same way on every platform.
class Rng {
public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform in [0, n); the modulo bias is below 2^-40 for n < 2^24.
  int64_t below(int64_t n) {
    return static_cast<int64_t>(engine_() % static_cast<uint64_t>(n));
  }

private:
  std::mt19937_64 engine_;
};

double squaredDistance(const float *x, const double *c, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) {
    double diff = x[j] - c[j];
    s += diff * diff;
  }
  return s;
}

struct Data {
  const float *X;
  int64_t n, d, ldx;
  const float *row(int64_t i) const { return X + i * ldx; }
};

void setCentroid(Matrix &C, int64_t c, const float *x) {
  std::copy(x, x + C.cols, C.row(c));
}

void initPlusPlus(const Data &data, int64_t k, Rng &rng, Matrix &C) {
  int64_t first = rng.below(data.n);
  setCentroid(C, 0, data.row(first));
  std::vector<double> dist(data.n);
  for (int64_t i = 0; i < data.n; ++i)
    dist[i] = squaredDistance(data.row(i), C.row(0), data.d);
  for (int64_t c = 1; c < k; ++c) {
    double total = 0;
    for (double v : dist)
      total += v;
    int64_t pick;
    if (total > 0) {
      // D² sampling: the first i whose cumulative weight exceeds u·total.
      double u = rng.uniform() * total, acc = 0;
      pick = -1;
      for (int64_t i = 0; i < data.n; ++i) {
        acc += dist[i];
        if (dist[i] > 0 && acc > u) {
          pick = i;
          break;
        }
      }
      // Round-off can leave u above the final sum: take the last candidate.
      if (pick < 0)
        for (int64_t i = data.n - 1; i >= 0 && pick < 0; --i)
          if (dist[i] > 0)
            pick = i;
    } else {
      // Every point coincides with a centroid (fewer distinct points than
      // k); the duplicate is resolved by the empty-cluster rule.
      pick = rng.below(data.n);
    }
    setCentroid(C, c, data.row(pick));
    for (int64_t i = 0; i < data.n; ++i)
      dist[i] =
          std::min(dist[i], squaredDistance(data.row(i), C.row(c), data.d));
  }
}

void initRandom(const Data &data, int64_t k, Rng &rng, Matrix &C) {
  // Partial Fisher-Yates: k distinct rows.
  std::vector<int64_t> order(data.n);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t c = 0; c < k; ++c) {
    std::swap(order[c], order[c + rng.below(data.n - c)]);
    setCentroid(C, c, data.row(order[c]));
  }
}

/// Nearest centroid of every row, by ‖x‖² − 2x·c + ‖c‖² with the cross
/// terms from one GEMM per block of rows. Returns how many assignments
/// changed.
int64_t assign(const Data &data, const Matrix &C,
               std::vector<int32_t> &assignment) {
  const int64_t k = C.rows, d = data.d;
  std::vector<double> cnorm(k, 0.0);
  for (int64_t c = 0; c < k; ++c)
    for (int64_t j = 0; j < d; ++j)
      cnorm[c] += C(c, j) * C(c, j);
  // Keep the block's k distances around 8 MiB.
  const int64_t block = std::clamp<int64_t>((int64_t(1) << 20) / k, 1,
                                            std::min<int64_t>(data.n, 1024));
  std::vector<double> xs(block * d), dots(block * k);
  int64_t changed = 0;
  for (int64_t row0 = 0; row0 < data.n; row0 += block) {
    const int64_t rows = std::min(block, data.n - row0);
    for (int64_t i = 0; i < rows; ++i)
      std::copy(data.row(row0 + i), data.row(row0 + i) + d, xs.data() + i * d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                static_cast<int>(k), static_cast<int>(d), 1.0, xs.data(),
                static_cast<int>(d), C.data.data(), static_cast<int>(d), 0.0,
                dots.data(), static_cast<int>(k));
    for (int64_t i = 0; i < rows; ++i) {
      // ‖x‖² is common to every centroid, so only ‖c‖² − 2x·c is compared.
      const double *dot = dots.data() + i * k;
      int32_t best = 0;
      double bestDist = cnorm[0] - 2 * dot[0];
      for (int64_t c = 1; c < k; ++c) {
        double dist = cnorm[c] - 2 * dot[c];
        if (dist < bestDist) {
          bestDist = dist;
          best = static_cast<int32_t>(c);
        }
      }
      if (assignment[row0 + i] != best) {
        assignment[row0 + i] = best;
        ++changed;
      }
    }
  }
  return changed;
}

/// Centroids become the means of their clusters; empty clusters take the
/// points farthest (and not at distance 0) from the centroids they are
/// assigned to before this update, farthest first, ties to the lower index.
void update(const Data &data, Matrix &C, std::vector<int32_t> &assignment) {
  const int64_t k = C.rows, d = data.d;
  Matrix sums(k, d);
  std::vector<int64_t> counts(k, 0);
  for (int64_t i = 0; i < data.n; ++i) {
    const float *x = data.row(i);
    double *s = sums.row(assignment[i]);
    for (int64_t j = 0; j < d; ++j)
      s[j] += x[j];
    ++counts[assignment[i]];
  }
  std::vector<int64_t> empty;
  for (int64_t c = 0; c < k; ++c)
    if (counts[c] == 0)
      empty.push_back(c);
  if (!empty.empty()) {
    std::vector<double> dist(data.n);
    for (int64_t i = 0; i < data.n; ++i)
      dist[i] = squaredDistance(data.row(i), C.row(assignment[i]), d);
    std::vector<int64_t> order(data.n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return dist[a] > dist[b]; });
    // Only clusters with a point to spare give one up, so no cluster that
    // was non-empty becomes empty. A point already on its centroid is no
    // better a seed than that centroid (its tie would send it straight
    // back), so with fewer distinct points than k the duplicates stay empty.
    size_t next = 0;
    for (int64_t c : empty) {
      while (next < order.size() && dist[order[next]] > 0 &&
             counts[assignment[order[next]]] <= 1)
        ++next;
      if (next == order.size() || dist[order[next]] <= 0)
        break;
      int64_t i = order[next++];
      int32_t from = assignment[i];
      const float *x = data.row(i);
      for (int64_t j = 0; j < d; ++j) {
        sums(from, j) -= x[j];
        sums(c, j) = x[j];
      }
      --counts[from];
      counts[c] = 1;
      assignment[i] = static_cast<int32_t>(c);
    }
  }
  for (int64_t c = 0; c < k; ++c) {
    if (counts[c] == 0)
      continue; // Nothing to spare (n distinct points < k): keep it.
    double inv = 1.0 / static_cast<double>(counts[c]);
    for (int64_t j = 0; j < d; ++j)
      C(c, j) = sums(c, j) * inv;
  }
}

} // namespace

bool kmeans(const float *X, int64_t n, int64_t d, int64_t ldx, int64_t k,
            int iters, uint64_t seed, KMeansResult &result, std::string &error,
            KMeansInit init) {
  const char *fn = "kmeans";
  if (!X)
    return fail(error, fn, "X is null");
  if (n < 1 || d < 1 || ldx < d || k < 1 || k > n || iters < 0)
    return fail(error, fn,
                "need 1 <= k <= n, d >= 1, ldx >= d, iters >= 0; got n=" +
                    std::to_string(n) + " d=" + std::to_string(d) +
                    " ldx=" + std::to_string(ldx) + " k=" + std::to_string(k) +
                    " iters=" + std::to_string(iters));
  if (!detail::fitsBlasInt(n) || !detail::fitsBlasInt(d) ||
      !detail::fitsBlasInt(k))
    return fail(error, fn, "dimensions exceed BLAS's 32-bit integers");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(X[i * ldx + j]))
        return fail(error, fn,
                    "X has non-finite value " + std::to_string(X[i * ldx + j]) +
                        " at (" + std::to_string(i) + ", " + std::to_string(j) +
                        ")");

  const Data data{X, n, d, ldx};
  Rng rng(seed);
  result = KMeansResult();
  result.centroids = Matrix(k, d);
  if (init == KMeansInit::PlusPlus)
    initPlusPlus(data, k, rng, result.centroids);
  else
    initRandom(data, k, rng, result.centroids);

  result.assignment.assign(n, -1);
  assign(data, result.centroids, result.assignment);
  for (int it = 0; it < iters; ++it) {
    update(data, result.centroids, result.assignment);
    int64_t changed = assign(data, result.centroids, result.assignment);
    result.iterations = it + 1;
    if (changed == 0) {
      result.converged = true;
      break;
    }
  }
  result.inertia = 0;
  for (int64_t i = 0; i < n; ++i)
    result.inertia += squaredDistance(
        data.row(i), result.centroids.row(result.assignment[i]), d);
  return true;
}

} // namespace attenuate::numerics

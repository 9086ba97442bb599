//===- Dictionary.cpp - CSR dictionary learning ---------------------------===//

#include "attenuate/Numerics/Dictionary.h"
#include "attenuate/Numerics/KMeans.h"
#include "attenuate/Numerics/MatchingPursuit.h"

#include "Detail.h"

#include <cmath>
#include <vector>

namespace attenuate::numerics {

using detail::fail;

namespace {

/// MP codes of all rows and the residual rows X − D·C (fp64).
struct Codes {
  std::vector<int16_t> idx;
  std::vector<float> coef;
  std::vector<double> residual; // n x d
  double err2 = 0, total2 = 0;
};

bool encodeAll(const Matrix &D, const std::vector<float> &X, int64_t n,
               int64_t d, int64_t s, Codes &c, std::string &error) {
  c.idx.assign(static_cast<size_t>(n * s), 0);
  c.coef.assign(static_cast<size_t>(n * s), 0.f);
  if (!matchingPursuitBatch(D, X.data(), n, d, d, s, c.idx.data(),
                            c.coef.data(), nullptr, error))
    return false;
  c.residual.assign(static_cast<size_t>(n * d), 0.0);
  c.err2 = c.total2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    double *r = &c.residual[i * d];
    for (int64_t j = 0; j < d; ++j) {
      r[j] = X[i * d + j];
      c.total2 += r[j] * r[j];
    }
    for (int64_t g = 0; g < s; ++g) {
      int64_t a = c.idx[i * s + g];
      double cg = c.coef[i * s + g];
      for (int64_t j = 0; j < d; ++j)
        r[j] -= cg * D(j, a);
    }
    for (int64_t j = 0; j < d; ++j)
      c.err2 += r[j] * r[j];
  }
  return true;
}

/// One approximate K-SVD sweep over the atoms, in place, on the support
/// and coefficients of `c` (whose residuals it keeps current).
void ksvdSweep(Matrix &D, Codes &c, int64_t n, int64_t d, int64_t s) {
  int64_t N = D.cols;
  // Samples using each atom, with the summed coefficient (an atom may be
  // picked more than once for one vector).
  std::vector<std::vector<std::pair<int64_t, double>>> users(N);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < s; ++g) {
      int64_t a = c.idx[i * s + g];
      double cg = c.coef[i * s + g];
      auto &u = users[a];
      if (!u.empty() && u.back().first == i)
        u.back().second += cg;
      else
        u.push_back({i, cg});
    }
  std::vector<double> atom(d), e(d);
  for (int64_t a = 0; a < N; ++a) {
    auto &u = users[a];
    if (u.empty())
      continue;
    // d_new ∝ Σ_i g_i (r_i + g_i d_a).
    std::fill(atom.begin(), atom.end(), 0.0);
    for (auto &[i, g] : u) {
      const double *r = &c.residual[i * d];
      for (int64_t j = 0; j < d; ++j)
        atom[j] += g * (r[j] + g * D(j, a));
    }
    double norm = 0;
    for (double v : atom)
      norm += v * v;
    norm = std::sqrt(norm);
    if (!(norm > 0) || !std::isfinite(norm))
      continue;
    for (double &v : atom)
      v /= norm;
    // Refit the coefficients on the new atom and update the residuals.
    for (auto &[i, g] : u) {
      double *r = &c.residual[i * d];
      double gNew = 0;
      for (int64_t j = 0; j < d; ++j) {
        e[j] = r[j] + g * D(j, a);
        gNew += e[j] * atom[j];
      }
      for (int64_t j = 0; j < d; ++j)
        r[j] = e[j] - gNew * atom[j];
      g = gNew;
    }
    for (int64_t j = 0; j < d; ++j)
      D(j, a) = atom[j];
  }
}

} // namespace

bool dictionaryError(const Matrix &D, const float *X, int64_t n, int64_t d,
                     int64_t ldx, int64_t s, double &relError,
                     std::string &error) {
  std::vector<float> rows(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      rows[i * d + j] = X[i * ldx + j];
  Codes c;
  if (!encodeAll(D, rows, n, d, s, c, error))
    return false;
  relError = c.total2 > 0 ? c.err2 / c.total2 : 0.0;
  return true;
}

bool learnDictionary(const float *X, int64_t n, int64_t d, int64_t ldx,
                     int64_t N, int64_t s, int rounds, uint64_t seed,
                     DictionaryResult &result, std::string &error) {
  const char *fn = "learnDictionary";
  if (d < 1 || ldx < d || n < 0)
    return fail(error, fn, "bad sample matrix shape");
  if (s < 1)
    return fail(error, fn, "s must be >= 1, got " + std::to_string(s));
  if (rounds < 0)
    return fail(error, fn, "rounds must be >= 0");
  // Nonzero samples only: a zero vector has no direction to learn.
  std::vector<float> rows;
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    double nn = 0;
    for (int64_t j = 0; j < d; ++j) {
      float v = X[i * ldx + j];
      if (!std::isfinite(v))
        return fail(error, fn, "sample " + std::to_string(i) +
                                   " is not finite");
      nn += double(v) * v;
    }
    if (nn == 0)
      continue;
    rows.insert(rows.end(), X + i * ldx, X + i * ldx + d);
    ++m;
  }
  if (N < 1 || N > kMaxDictionaryAtoms || N > m)
    return fail(error, fn,
                std::to_string(N) + " atoms need 1 <= N <= min(" +
                    std::to_string(kMaxDictionaryAtoms) + ", " +
                    std::to_string(m) + " nonzero samples)");

  KMeansResult km;
  if (!kmeans(rows.data(), m, d, d, N, /*iters=*/25, seed, km, error,
              N * m > (int64_t(1) << 28) ? KMeansInit::Random
                                         : KMeansInit::PlusPlus))
    return false;
  // Atoms: normalised centroids; a zero centroid (an empty cluster or one
  // averaging to 0) takes the direction of a sample instead.
  Matrix D(d, N);
  for (int64_t a = 0; a < N; ++a) {
    double nn = 0;
    for (int64_t j = 0; j < d; ++j)
      nn += km.centroids(a, j) * km.centroids(a, j);
    const double *src = &km.centroids.data[a * d];
    std::vector<double> alt;
    if (!(nn > 1e-30)) {
      int64_t i = (a * 7919) % m;
      alt.assign(rows.begin() + i * d, rows.begin() + (i + 1) * d);
      src = alt.data();
      nn = 0;
      for (double v : alt)
        nn += v * v;
    }
    double inv = 1.0 / std::sqrt(nn);
    for (int64_t j = 0; j < d; ++j)
      D(j, a) = src[j] * inv;
  }

  Codes c;
  if (!encodeAll(D, rows, m, d, s, c, error))
    return false;
  double best = c.total2 > 0 ? c.err2 / c.total2 : 0.0;
  result.initError = best;
  result.atoms = D;
  result.rounds = 0;
  for (int r = 0; r < rounds; ++r) {
    ksvdSweep(D, c, m, d, s);
    // Re-normalise against drift, then re-encode: the MP error of the new
    // dictionary decides whether it is kept.
    if (!normalizeColumns(D, error))
      return false;
    if (!encodeAll(D, rows, m, d, s, c, error))
      return false;
    double rel = c.total2 > 0 ? c.err2 / c.total2 : 0.0;
    result.rounds = r + 1;
    if (rel < best) {
      best = rel;
      result.atoms = D;
    }
  }
  result.finalError = best;
  return true;
}

} // namespace attenuate::numerics

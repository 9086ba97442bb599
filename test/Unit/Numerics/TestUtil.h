//===- TestUtil.h - helpers for the Numerics unit tests ---------*- C++ -*-===//
//
// Reference computations are written out as plain loops so that a test never
// checks a BLAS/LAPACK result with the same library call it is testing.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_TEST_UNIT_NUMERICS_TESTUTIL_H
#define ATTENUATE_TEST_UNIT_NUMERICS_TESTUTIL_H

#include "attenuate/Numerics/Matrix.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace attenuate::numerics::test {

/// Uniform doubles in [-1, 1) from a seeded mt19937_64 (the standard fixes
/// its sequence, unlike std:: distributions).
class TestRng {
public:
  explicit TestRng(uint64_t seed) : engine_(seed) {}
  double uniform() {
    return static_cast<double>(engine_() >> 11) * 0x1.0p-52 - 1.0;
  }
  /// Approximately standard normal (sum of 12 uniforms), deterministic.
  double normal() {
    double s = 0;
    for (int i = 0; i < 12; ++i)
      s += static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    return s - 6.0;
  }

private:
  std::mt19937_64 engine_;
};

inline Matrix randomMatrix(int64_t rows, int64_t cols, uint64_t seed) {
  TestRng rng(seed);
  Matrix M(rows, cols);
  for (double &v : M.data)
    v = rng.uniform();
  return M;
}

inline std::vector<float> randomFloats(size_t count, uint64_t seed,
                                       double scale = 1.0) {
  TestRng rng(seed);
  std::vector<float> v(count);
  for (float &x : v)
    x = static_cast<float>(scale * rng.normal());
  return v;
}

/// op(A) op(B) by the textbook triple loop.
inline Matrix naiveMul(const Matrix &A, const Matrix &B, bool transA = false,
                       bool transB = false) {
  int64_t m = transA ? A.cols : A.rows, k = transA ? A.rows : A.cols;
  int64_t n = transB ? B.rows : B.cols;
  Matrix C(m, n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (transA ? A(p, i) : A(i, p)) * (transB ? B(j, p) : B(p, j));
      C(i, j) = s;
    }
  return C;
}

/// A random n x n orthogonal matrix as a product of n Householder
/// reflections I − 2vvᵀ/(vᵀv), built without LAPACK.
inline Matrix randomOrthogonal(int64_t n, uint64_t seed) {
  TestRng rng(seed);
  Matrix Q = Matrix::identity(n);
  for (int64_t r = 0; r < n; ++r) {
    std::vector<double> v(n);
    double vv = 0;
    for (double &x : v) {
      x = rng.uniform();
      vv += x * x;
    }
    // Q ← Q (I − 2vvᵀ/vᵀv).
    for (int64_t i = 0; i < n; ++i) {
      double qv = 0;
      for (int64_t j = 0; j < n; ++j)
        qv += Q(i, j) * v[j];
      for (int64_t j = 0; j < n; ++j)
        Q(i, j) -= 2 * qv * v[j] / vv;
    }
  }
  return Q;
}

/// U diag(s) Vᵀ for a given spectrum: U m x k and V n x k are the leading
/// columns of random orthogonal matrices, k = s.size().
inline Matrix withSpectrum(int64_t m, int64_t n, const std::vector<double> &s,
                           uint64_t seed) {
  Matrix U = randomOrthogonal(m, seed), V = randomOrthogonal(n, seed + 1);
  Matrix A(m, n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double a = 0;
      for (size_t p = 0; p < s.size(); ++p)
        a += U(i, p) * s[p] * V(j, p);
      A(i, j) = a;
    }
  return A;
}

/// max |QᵀQ − I| (columns) or |QQᵀ − I| (rows).
inline double orthonormalityError(const Matrix &Q, bool rows = false) {
  Matrix G = rows ? naiveMul(Q, Q, false, true) : naiveMul(Q, Q, true, false);
  return maxAbsDiff(G, Matrix::identity(G.rows));
}

/// ‖A − B‖_F / ‖B‖_F; +inf when the shapes differ.
inline double relativeError(const Matrix &A, const Matrix &B) {
  if (A.rows != B.rows || A.cols != B.cols)
    return HUGE_VAL;
  Matrix D = A;
  for (size_t p = 0; p < D.data.size(); ++p)
    D.data[p] -= B.data[p];
  return frobeniusNorm(D) / frobeniusNorm(B);
}

} // namespace attenuate::numerics::test

#endif // ATTENUATE_TEST_UNIT_NUMERICS_TESTUTIL_H

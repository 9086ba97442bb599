//===- DictionaryTest.cpp - CSR dictionary learning -----------------------===//

#include "attenuate/Numerics/Dictionary.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

/// n samples in d dims that are sparse in a hidden dictionary of `atoms`
/// unit atoms (2 nonzeros each) plus a little noise.
std::vector<float> sparseSamples(int64_t n, int64_t d, int64_t atoms,
                                 uint64_t seed) {
  Matrix A = randomMatrix(d, atoms, seed);
  std::string error;
  EXPECT_TRUE(normalizeColumns(A, error)) << error;
  Matrix c = randomMatrix(n, 4, seed + 1);
  std::vector<float> x(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = (i * 7) % atoms, b = (i * 13 + 5) % atoms;
    for (int64_t j = 0; j < d; ++j)
      x[i * d + j] = static_cast<float>(c(i, 0) * A(j, a) + c(i, 1) * A(j, b) +
                                        0.01 * c(i, 2) * ((j + i) % 3 - 1));
  }
  return x;
}

TEST(Dictionary, RefinementNeverWorseAndAtomsUnitNorm) {
  const int64_t n = 600, d = 12, N = 24, s = 2;
  std::vector<float> x = sparseSamples(n, d, N, 3);
  DictionaryResult r;
  std::string error;
  ASSERT_TRUE(learnDictionary(x.data(), n, d, d, N, s, 6, 0, r, error))
      << error;
  EXPECT_EQ(r.atoms.rows, d);
  EXPECT_EQ(r.atoms.cols, N);
  EXPECT_LE(r.finalError, r.initError);
  EXPECT_GE(r.finalError, 0.0);
  EXPECT_LT(r.finalError, 1.0);
  for (int64_t a = 0; a < N; ++a) {
    double nn = 0;
    for (int64_t j = 0; j < d; ++j)
      nn += r.atoms(j, a) * r.atoms(j, a);
    EXPECT_NEAR(std::sqrt(nn), 1.0, 1e-9) << "atom " << a;
  }
  // The reported error is the MP error of the returned dictionary.
  double rel;
  ASSERT_TRUE(dictionaryError(r.atoms, x.data(), n, d, d, s, rel, error))
      << error;
  EXPECT_NEAR(rel, r.finalError, 1e-9);
}

TEST(Dictionary, Deterministic) {
  const int64_t n = 300, d = 8, N = 16;
  std::vector<float> x = sparseSamples(n, d, N, 9);
  DictionaryResult a, b;
  std::string error;
  ASSERT_TRUE(learnDictionary(x.data(), n, d, d, N, 2, 3, 42, a, error));
  ASSERT_TRUE(learnDictionary(x.data(), n, d, d, N, 2, 3, 42, b, error));
  EXPECT_EQ(a.atoms.data, b.atoms.data);
  EXPECT_EQ(a.finalError, b.finalError);
}

TEST(Dictionary, ZeroSamplesIgnoredAndBadArgumentsRefused) {
  const int64_t d = 4;
  std::vector<float> x(static_cast<size_t>(10 * d), 0.f);
  for (int64_t i = 0; i < 3; ++i)
    x[i * d + i] = 1.f + i;
  DictionaryResult r;
  std::string error;
  // Three nonzero samples: 4 atoms is too many.
  EXPECT_FALSE(learnDictionary(x.data(), 10, d, d, 4, 1, 2, 0, r, error));
  EXPECT_NE(error.find("4 atoms need"), std::string::npos) << error;
  ASSERT_TRUE(learnDictionary(x.data(), 10, d, d, 3, 1, 2, 0, r, error))
      << error;
  EXPECT_NEAR(r.finalError, 0.0, 1e-12);
  EXPECT_FALSE(learnDictionary(x.data(), 10, d, d, 3, 0, 2, 0, r, error));
  x[0] = NAN;
  EXPECT_FALSE(learnDictionary(x.data(), 10, d, d, 3, 1, 2, 0, r, error));
  EXPECT_NE(error.find("not finite"), std::string::npos) << error;
}

} // namespace

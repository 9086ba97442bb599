//===- MatrixTest.cpp - Matrix helpers and matmul -------------------------===//

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

TEST(Matrix, ConstructionAndAccess) {
  Matrix Z = Matrix::zeros(2, 3);
  EXPECT_EQ(Z.rows, 2);
  EXPECT_EQ(Z.cols, 3);
  EXPECT_TRUE(Z.isConsistent());
  for (double v : Z.data)
    EXPECT_EQ(v, 0.0);
  Matrix I = Matrix::identity(3);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j)
      EXPECT_EQ(I(i, j), i == j ? 1.0 : 0.0);
  EXPECT_TRUE(Matrix().empty());
  EXPECT_TRUE(Matrix(0, 4).empty());
  Matrix bad(2, 2);
  bad.data.pop_back();
  EXPECT_FALSE(bad.isConsistent());
}

TEST(Matrix, TransposeBlockAndStridedCopy) {
  // Rows 4 floats apart with only 3 used; the padding must not be read.
  const float src[] = {1, 2, 3, NAN, 4, 5, 6, NAN};
  Matrix M = Matrix::fromRowMajor(src, 2, 3, 4);
  EXPECT_TRUE(allFinite(M));
  EXPECT_EQ(M(1, 2), 6.0);
  Matrix T = M.transpose();
  ASSERT_EQ(T.rows, 3);
  ASSERT_EQ(T.cols, 2);
  EXPECT_EQ(T(2, 1), 6.0);
  EXPECT_EQ(T(0, 1), 4.0);
  Matrix B = M.block(0, 1, 2, 2);
  EXPECT_EQ(B(0, 0), 2.0);
  EXPECT_EQ(B(1, 1), 6.0);
  const double dsrc[] = {1, 2, 3, 4, 5, 6};
  Matrix D = Matrix::fromRowMajor(dsrc, 3, 2, 2);
  EXPECT_EQ(D(2, 0), 5.0);
  std::vector<float> f = D.toFloat();
  EXPECT_EQ(f, std::vector<float>({1, 2, 3, 4, 5, 6}));
}

TEST(Matrix, MatmulAllTransposesMatchNaive) {
  Matrix A = randomMatrix(5, 7, 1), B = randomMatrix(7, 4, 2);
  Matrix At = A.transpose(), Bt = B.transpose();
  Matrix expected = naiveMul(A, B);
  for (int t = 0; t < 4; ++t) {
    bool ta = t & 1, tb = t & 2;
    Matrix C;
    std::string error;
    ASSERT_TRUE(matmul(ta ? At : A, tb ? Bt : B, C, error, ta, tb)) << error;
    EXPECT_LT(maxAbsDiff(C, expected), 1e-14)
        << "transA=" << ta << " transB=" << tb;
  }
}

TEST(Matrix, MatmulAliasingAndEmptyInnerDimension) {
  Matrix A = randomMatrix(4, 4, 3), B = randomMatrix(4, 4, 4);
  Matrix expected = naiveMul(A, B);
  std::string error;
  ASSERT_TRUE(matmul(A, B, A, error)) << error;
  EXPECT_LT(maxAbsDiff(A, expected), 1e-14);

  Matrix C;
  ASSERT_TRUE(matmul(Matrix(3, 0), Matrix(0, 2), C, error)) << error;
  EXPECT_EQ(C.rows, 3);
  EXPECT_EQ(C.cols, 2);
  EXPECT_EQ(maxAbsDiff(C, Matrix(3, 2)), 0.0);
}

TEST(Matrix, MatmulRejectsBadOperands) {
  Matrix C;
  std::string error;
  EXPECT_FALSE(matmul(Matrix(2, 3), Matrix(2, 3), C, error));
  EXPECT_NE(error.find("inner dimensions"), std::string::npos) << error;

  Matrix A = Matrix::identity(2);
  A(1, 0) = NAN;
  EXPECT_FALSE(matmul(A, Matrix::identity(2), C, error));
  EXPECT_NE(error.find("non-finite"), std::string::npos) << error;
  EXPECT_NE(error.find("(1, 0)"), std::string::npos) << error;

  Matrix bad(2, 2);
  bad.data.resize(3);
  EXPECT_FALSE(matmul(bad, Matrix::identity(2), C, error));
  EXPECT_NE(error.find("inconsistent"), std::string::npos) << error;
}

TEST(Matrix, ScaleRowsAndColumns) {
  Matrix M(2, 3);
  for (double &v : M.data)
    v = 1;
  std::string error;
  ASSERT_TRUE(scaleRows(M, {2, 3}, error)) << error;
  ASSERT_TRUE(scaleColumns(M, {1, 10, 100}, error)) << error;
  EXPECT_EQ(M(0, 0), 2.0);
  EXPECT_EQ(M(1, 2), 300.0);
  EXPECT_FALSE(scaleRows(M, {1, 2, 3}, error));
  EXPECT_FALSE(scaleColumns(M, {1}, error));
}

TEST(Matrix, NormalizeColumns) {
  Matrix M(2, 2);
  M(0, 0) = 3;
  M(1, 0) = 4;
  M(1, 1) = -2;
  std::string error;
  ASSERT_TRUE(normalizeColumns(M, error)) << error;
  EXPECT_DOUBLE_EQ(M(0, 0), 0.6);
  EXPECT_DOUBLE_EQ(M(1, 0), 0.8);
  EXPECT_DOUBLE_EQ(M(1, 1), -1.0);

  Matrix Z(2, 2);
  Z(0, 0) = 1;
  Matrix before = Z;
  EXPECT_FALSE(normalizeColumns(Z, error));
  EXPECT_NE(error.find("column 1"), std::string::npos) << error;
  EXPECT_EQ(maxAbsDiff(Z, before), 0.0);
}

TEST(Matrix, NormsAndFiniteness) {
  Matrix M(1, 2);
  M(0, 0) = 3;
  M(0, 1) = 4;
  EXPECT_DOUBLE_EQ(frobeniusNorm(M), 5.0);
  // A naive Σa² would overflow here.
  M(0, 0) = 3e200;
  M(0, 1) = 4e200;
  EXPECT_NEAR(frobeniusNorm(M) / 5e200, 1.0, 1e-15);
  EXPECT_EQ(frobeniusNorm(Matrix(0, 0)), 0.0);

  std::string where;
  EXPECT_TRUE(allFinite(M, &where));
  M(0, 1) = -INFINITY;
  EXPECT_FALSE(allFinite(M, &where));
  EXPECT_NE(where.find("-inf at (0, 1)"), std::string::npos) << where;

  EXPECT_TRUE(std::isinf(maxAbsDiff(Matrix(1, 2), Matrix(2, 1))));
  Matrix N(1, 1);
  N(0, 0) = NAN;
  EXPECT_TRUE(std::isnan(maxAbsDiff(N, Matrix(1, 1))));
}

} // namespace

//===- KMeansTest.cpp - seeded k-means ------------------------------------===//

#include "attenuate/Numerics/KMeans.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

using namespace attenuate::numerics;
using namespace attenuate::numerics::test;

namespace {

constexpr int64_t kClusters = 4, kPerCluster = 50, kDim = 8;

/// Four blobs (σ = 0.1) around ±10 on distinct axes, interleaved so no
/// cluster is a contiguous block; label[i] is the blob of row i.
std::vector<float> blobs(std::vector<int> &label, Matrix &centers) {
  centers = Matrix(kClusters, kDim);
  for (int64_t c = 0; c < kClusters; ++c)
    centers(c, c) = c % 2 ? -10 : 10;
  std::vector<float> noise = randomFloats(kClusters * kPerCluster * kDim, 91,
                                          /*scale=*/0.1);
  std::vector<float> X(noise.size());
  label.resize(kClusters * kPerCluster);
  for (int64_t i = 0; i < kClusters * kPerCluster; ++i) {
    label[i] = static_cast<int>((i * 7) % kClusters);
    for (int64_t j = 0; j < kDim; ++j)
      X[i * kDim + j] =
          static_cast<float>(centers(label[i], j)) + noise[i * kDim + j];
  }
  return X;
}

void expectFindsBlobs(KMeansInit init) {
  std::vector<int> label;
  Matrix centers;
  std::vector<float> X = blobs(label, centers);
  const int64_t n = label.size();
  KMeansResult res;
  std::string error;
  ASSERT_TRUE(
      kmeans(X.data(), n, kDim, kDim, kClusters, 50, 1234, res, error, init))
      << error;
  EXPECT_TRUE(res.converged);
  ASSERT_EQ(res.centroids.rows, kClusters);
  ASSERT_EQ(res.centroids.cols, kDim);
  // Each blob maps to exactly one cluster, and the maps form a bijection.
  std::vector<int> clusterOf(kClusters, -1);
  for (int64_t i = 0; i < n; ++i) {
    if (clusterOf[label[i]] < 0)
      clusterOf[label[i]] = res.assignment[i];
    EXPECT_EQ(res.assignment[i], clusterOf[label[i]]) << i;
  }
  EXPECT_EQ(std::set<int>(clusterOf.begin(), clusterOf.end()).size(),
            static_cast<size_t>(kClusters));
  for (int64_t b = 0; b < kClusters; ++b)
    for (int64_t j = 0; j < kDim; ++j)
      EXPECT_NEAR(res.centroids(clusterOf[b], j), centers(b, j), 0.05);
  // inertia matches the returned centroids and assignment.
  double inertia = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < kDim; ++j) {
      double diff = X[i * kDim + j] - res.centroids(res.assignment[i], j);
      inertia += diff * diff;
    }
  EXPECT_NEAR(res.inertia, inertia, 1e-9 * inertia);
  EXPECT_LT(res.inertia, n * kDim * 0.02);
}

TEST(KMeans, FindsWellSeparatedClustersPlusPlus) {
  expectFindsBlobs(KMeansInit::PlusPlus);
}

TEST(KMeans, FindsWellSeparatedClustersRandomInit) {
  expectFindsBlobs(KMeansInit::Random);
}

TEST(KMeans, DeterministicForASeed) {
  std::vector<float> X = randomFloats(300 * 5, 92);
  for (KMeansInit init : {KMeansInit::PlusPlus, KMeansInit::Random}) {
    KMeansResult a, b;
    std::string error;
    ASSERT_TRUE(kmeans(X.data(), 300, 5, 5, 16, 10, 7, a, error, init))
        << error;
    ASSERT_TRUE(kmeans(X.data(), 300, 5, 5, 16, 10, 7, b, error, init))
        << error;
    EXPECT_EQ(a.assignment, b.assignment);
    EXPECT_EQ(std::memcmp(a.centroids.data.data(), b.centroids.data.data(),
                          a.centroids.data.size() * sizeof(double)),
              0);
    EXPECT_EQ(a.inertia, b.inertia);
  }
}

TEST(KMeans, DegenerateClusterCounts) {
  std::string error;
  KMeansResult res;
  // k = n: every point its own centroid.
  std::vector<float> X = randomFloats(6 * 3, 93);
  ASSERT_TRUE(kmeans(X.data(), 6, 3, 3, 6, 10, 1, res, error)) << error;
  EXPECT_EQ(res.inertia, 0.0);
  EXPECT_EQ(
      std::set<int32_t>(res.assignment.begin(), res.assignment.end()).size(),
      6u);
  // Two distinct points, k = 3: one centroid duplicates another and stays
  // empty; the clustering is still exact and converges.
  std::vector<float> dup = {0, 0, 0, 5, 5, 5};
  ASSERT_TRUE(kmeans(dup.data(), 6, 1, 1, 3, 10, 1, res, error)) << error;
  EXPECT_EQ(res.inertia, 0.0);
  EXPECT_TRUE(res.converged);
  EXPECT_EQ(
      std::set<int32_t>(res.assignment.begin(), res.assignment.end()).size(),
      2u);
  // iters = 0: initialisation plus one assignment.
  ASSERT_TRUE(kmeans(X.data(), 6, 3, 3, 2, 0, 1, res, error)) << error;
  EXPECT_EQ(res.iterations, 0);
  EXPECT_EQ(res.assignment.size(), 6u);
}

TEST(KMeans, StridedRowsIgnorePadding) {
  std::vector<int> label;
  Matrix centers;
  std::vector<float> X = blobs(label, centers);
  const int64_t n = label.size(), ldx = kDim + 3;
  std::vector<float> padded(n * ldx, NAN);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(&padded[i * ldx], &X[i * kDim], kDim * sizeof(float));
  KMeansResult a, b;
  std::string error;
  ASSERT_TRUE(kmeans(X.data(), n, kDim, kDim, kClusters, 20, 5, a, error))
      << error;
  ASSERT_TRUE(kmeans(padded.data(), n, kDim, ldx, kClusters, 20, 5, b, error))
      << error;
  EXPECT_EQ(a.assignment, b.assignment);
  EXPECT_EQ(maxAbsDiff(a.centroids, b.centroids), 0.0);
}

TEST(KMeans, RejectsBadArguments) {
  std::vector<float> X = randomFloats(10 * 2, 94);
  KMeansResult res;
  std::string error;
  EXPECT_FALSE(kmeans(X.data(), 10, 2, 2, 11, 5, 1, res, error));
  EXPECT_NE(error.find("k <= n"), std::string::npos) << error;
  EXPECT_FALSE(kmeans(X.data(), 10, 2, 2, 0, 5, 1, res, error));
  EXPECT_FALSE(kmeans(X.data(), 10, 2, 1, 2, 5, 1, res, error));
  EXPECT_FALSE(kmeans(X.data(), 10, 2, 2, 2, -1, 1, res, error));
  EXPECT_FALSE(kmeans(nullptr, 10, 2, 2, 2, 5, 1, res, error));
  X[7] = NAN;
  EXPECT_FALSE(kmeans(X.data(), 10, 2, 2, 2, 5, 1, res, error));
  EXPECT_NE(error.find("(3, 1)"), std::string::npos) << error;
}

} // namespace

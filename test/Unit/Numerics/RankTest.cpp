//===- RankTest.cpp - energyRank and roundUp ------------------------------===//

#include "attenuate/Numerics/Rank.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace attenuate::numerics;

namespace {

TEST(EnergyRank, KnownSpectra) {
  // σ² = {4, 1, 1}: cumulative 4, 5, 6 of 6.
  const std::vector<double> S = {2, 1, 1};
  EXPECT_EQ(energyRank(S, 0.0), 0);
  EXPECT_EQ(energyRank(S, 0.5), 1); // 4 >= 3
  EXPECT_EQ(energyRank(S, 2.0 / 3), 1);
  EXPECT_EQ(energyRank(S, 0.75), 2); // 4 < 4.5 <= 5
  EXPECT_EQ(energyRank(S, 0.9), 3);  // 5 < 5.4
  EXPECT_EQ(energyRank(S, 1.0), 3);

  // Geometric spectrum σ_i = 2^-i: σ² fractions 3/4, 15/16, 63/64, ...
  std::vector<double> geo;
  for (int i = 0; i < 20; ++i)
    geo.push_back(std::ldexp(1.0, -i));
  EXPECT_EQ(energyRank(geo, 0.7), 1);
  EXPECT_EQ(energyRank(geo, 0.95), 3);
  EXPECT_EQ(energyRank(geo, 0.99), 4);
}

TEST(EnergyRank, EdgeCases) {
  // delta = 1 stops after the last non-zero value.
  EXPECT_EQ(energyRank({3, 1, 0, 0}, 1.0), 2);
  EXPECT_EQ(energyRank({3, 1, 0, 0}, 5.0), 2) << "delta clamps to 1";
  EXPECT_EQ(energyRank({3, 1}, -1.0), 0) << "delta clamps to 0";
  EXPECT_EQ(energyRank({}, 0.95), 0);
  EXPECT_EQ(energyRank({0, 0, 0}, 0.95), 0);
  // Non-finite input keeps everything.
  EXPECT_EQ(energyRank({3, NAN, 1}, 0.5), 3);
  EXPECT_EQ(energyRank({3, 2, 1}, NAN), 3);
  EXPECT_EQ(energyRank({INFINITY, 1}, 0.5), 2);
}

TEST(RoundUp, MultiplesAndCap) {
  EXPECT_EQ(roundUp(61, 8, 128), 64);
  EXPECT_EQ(roundUp(64, 8, 128), 64);
  EXPECT_EQ(roundUp(65, 8, 128), 72);
  EXPECT_EQ(roundUp(61, 8, 62), 62);
  EXPECT_EQ(roundUp(0, 8, 128), 0);
  EXPECT_EQ(roundUp(-3, 8, 128), 0);
  EXPECT_EQ(roundUp(61, 1, 128), 61);
  EXPECT_EQ(roundUp(61, 0, 128), 61);
  // X-EcoMLA's rule: energy rank at δ = 0.95, then a multiple of 8.
  std::vector<double> S;
  for (int i = 0; i < 64; ++i)
    S.push_back(std::ldexp(1.0, -i / 4));
  EXPECT_EQ(roundUp(energyRank(S, 0.95), 8, 64) % 8, 0);
}

} // namespace

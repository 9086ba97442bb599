//===- Rank.cpp - energy rank and rounding --------------------------------===//

#include "attenuate/Numerics/Rank.h"

#include <algorithm>
#include <cmath>

namespace attenuate::numerics {

int64_t energyRank(const std::vector<double> &S, double delta) {
  const int64_t k = static_cast<int64_t>(S.size());
  if (!std::isfinite(delta))
    return k;
  delta = std::clamp(delta, 0.0, 1.0);
  double total = 0;
  for (double s : S) {
    if (!std::isfinite(s))
      return k;
    total += s * s;
  }
  const double target = delta * total;
  // Summed in the same order as `total`, so delta = 1 reaches it exactly.
  double acc = 0;
  for (int64_t r = 0; r < k; ++r) {
    if (acc >= target)
      return r;
    acc += S[r] * S[r];
  }
  return k;
}

int64_t roundUp(int64_t r, int64_t multiple, int64_t max) {
  r = std::max<int64_t>(r, 0);
  if (multiple > 1 && r % multiple != 0)
    r += multiple - r % multiple;
  return std::min(r, max);
}

} // namespace attenuate::numerics

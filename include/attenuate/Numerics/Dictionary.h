//===- Dictionary.h - CSR dictionary learning -------------------*- C++ -*-===//
//
// CSR (TECHNIQUES.md §4) encodes K/V head vectors with s atoms of a
// dictionary learned offline from calibration samples. The trainer here:
// k-means initialisation (KMeans.h; centroids normalised to unit atoms),
// then rounds of matching pursuit (MatchingPursuit.h) on all samples
// followed by one approximate K-SVD sweep (Rubinstein et al. 2008: each
// atom becomes the normalised coefficient-weighted sum of the residuals of
// the samples that use it, with those coefficients refitted). The dictionary
// with the lowest matching-pursuit reconstruction error seen is returned,
// so refinement never makes the initialisation worse. Deterministic for a
// seed and BLAS build; fp64 throughout.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_NUMERICS_DICTIONARY_H
#define ATTENUATE_NUMERICS_DICTIONARY_H

#include "attenuate/Numerics/Matrix.h"

#include <cstdint>
#include <string>

namespace attenuate::numerics {

struct DictionaryResult {
  /// d x N, unit-norm atoms as columns (MatchingPursuit.h's layout).
  Matrix atoms;
  /// Relative MP reconstruction error Σ‖x − x̂‖² / Σ‖x‖² with s atoms, of
  /// the k-means initialisation and of the returned dictionary.
  double initError = 0, finalError = 0;
  int rounds = 0; ///< refinement rounds run
};

/// Learns N atoms for the n rows of the row-major f32 matrix X (d columns,
/// rows ldx floats apart), for codes of s atoms. Samples of norm 0 are
/// ignored. Fails unless 1 <= N <= min(kMaxDictionaryAtoms, nonzero rows),
/// 1 <= s, d >= 1, rounds >= 0 and X is finite.
bool learnDictionary(const float *X, int64_t n, int64_t d, int64_t ldx,
                     int64_t N, int64_t s, int rounds, uint64_t seed,
                     DictionaryResult &result, std::string &error);

/// Relative MP reconstruction error of X (as above) with s atoms of D.
bool dictionaryError(const Matrix &D, const float *X, int64_t n, int64_t d,
                     int64_t ldx, int64_t s, double &relError,
                     std::string &error);

} // namespace attenuate::numerics

#endif // ATTENUATE_NUMERICS_DICTIONARY_H

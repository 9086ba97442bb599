//===- StatsAccumulator.h - calibration statistics in fp64 -------*- C++ -*-===//
//
// Host side of attn-calibrate: fed with the tapped activations of each call
// (see attn-calibration-taps), it accumulates per layer the autocorrelations
// the compression passes need, the cross-layer similarity of attention
// probabilities and samples of the KV cache, and writes them as one
// safetensors file (keys documented in docs/calibration.md).
//
// No MLIR: activations arrive as host tensors named "layers.<i>.<tap>".
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_CALIBRATION_STATSACCUMULATOR_H
#define ATTENUATE_CALIBRATION_STATSACCUMULATOR_H

#include "attenuate/Execution/HostTensor.h"
#include "attenuate/Numerics/Gram.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace attenuate::calibration {

struct LayerAttention {
  double scale = 1.0;
  bool causal = true;
};

struct AccumulatorOptions {
  /// Per-head R_P = P_iᵀP_i / l with P_i = A_i X_kv (A3's exact OV statistic).
  bool perHeadRP = false;
  /// Cross-layer similarity of attention probabilities (cosine and JS).
  bool similarity = true;
  /// Similarity is averaged over every n-th query row: the Jensen-Shannon
  /// term costs a logarithm per probability and layer pair.
  int64_t similarityRowStride = 4;
  /// Tokens of pre-RoPE keys and values kept per layer (0: none).
  int64_t kvSamples = 4096;
};

class StatsAccumulator {
public:
  /// `attention[i]` describes layer i's attention op (scale, causal).
  StatsAccumulator(std::map<int64_t, LayerAttention> attention,
                   AccumulatorOptions options);
  ~StatsAccumulator();

  /// One call's taps, by name. Every tensor is [B, S, ...] f32.
  bool add(const std::map<std::string, const exec::HostTensor *> &taps,
           std::string &error);

  int64_t tokens() const { return tokens_; }
  int64_t sequences() const { return sequences_; }

  /// Writes the statistics (atomically) with `metadata` added to the file's.
  bool write(const std::string &path,
             std::map<std::string, std::string> metadata,
             std::string &error) const;

private:
  struct Layer;
  bool addAttention(int64_t layer, const exec::HostTensor &q,
                    const exec::HostTensor &k, const exec::HostTensor *xkv,
                    std::vector<std::vector<float>> &probs,
                    std::string &error);
  std::map<int64_t, LayerAttention> attention_;
  AccumulatorOptions options_;
  std::map<int64_t, std::unique_ptr<Layer>> layers_;
  // similarity sums [head][a][b] over query rows, and the row count.
  std::vector<double> cosSum_, jsSum_;
  int64_t simRows_ = 0, numHeads_ = 0;
  int64_t tokens_ = 0, sequences_ = 0;
};

} // namespace attenuate::calibration

#endif

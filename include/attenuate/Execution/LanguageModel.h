//===- LanguageModel.h - drive an imported forward over a token stream -*- C++
//-*-===//
//
// The two jobs that feed a language model's @forward window after window:
// scoring (bits per token, attn-eval) and calibration statistics
// (attn-calibrate). The tools and the Python bindings call these, so the
// numbers a user gets from Python are the tools' numbers, not a second
// implementation of them.
//
// Both expect the importer's contract: (tokens [B,S] i64, positions [B,S],
// caches [B,C,H,D]...) -> (logits [B,S,V] f32, caches...). Errors are one
// line without a file prefix; the caller names the module.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_EXECUTION_LANGUAGEMODEL_H
#define ATTENUATE_EXECUTION_LANGUAGEMODEL_H

#include "attenuate/Execution/JitModule.h"

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir::attn {

/// Checks that the JIT's entry has the importer's forward signature (see
/// above) and sets `vocab` to the logits' last dimension.
bool checkLanguageModelForward(const JitModule &jit, int64_t &vocab,
                               std::string &error);

struct EvalOptions {
  /// Window length in tokens (>= 2).
  int64_t context = 256;
  /// Window stride in [1, context - 1]; 0 means context / 2.
  int64_t stride = 0;
  /// Windows of equal length per call.
  int64_t batch = 8;
  /// Name on the progress lines (stderr); empty for none.
  std::string progressTool = "attn-eval";
};

struct EvalResult {
  double nats = 0;    // summed negative log-likelihood, fp64
  int64_t scored = 0; // tokens scored (all but the first)
  int64_t windows = 0;
  int64_t context = 0, stride = 0;
  int64_t tokensRun = 0; // tokens through the model, overlaps included
  double seconds = 0;    // time in the scoring loop (not the compile)

  double natsPerToken() const { return scored ? nats / scored : 0; }
  double bitsPerToken() const;
};

/// Scores every token t >= 1 of `ids` once from the tokens before it, in the
/// windows of models/eval_torch.py: windows of `context` tokens start at 0,
/// stride, 2·stride, ...; the first scores tokens 1..context-1, each later
/// one only the tokens past the previous window's end.
bool evaluateLanguageModel(JitModule &jit, const std::vector<int64_t> &ids,
                           const EvalOptions &options, EvalResult &result,
                           std::string &error);

struct CalibrateOptions {
  std::string entry = "forward";
  /// Tokens per calibration sequence; sequences do not overlap.
  int64_t context = 256;
  /// Sequences per call.
  int64_t batch = 8;
  /// Use at most this many tokens (0: all).
  int64_t maxTokens = 0;
  /// Also accumulate per-head R_P (A3's OV statistic).
  bool perHeadRP = false;
  /// Pre-RoPE keys/values kept per layer (for attn-sparse-kv).
  int64_t kvSamples = 4096;
  JitOptions jit;
  /// Name on the progress lines (stderr); empty for none.
  std::string progressTool = "attn-calibrate";
};

struct CalibrateResult {
  int64_t tokens = 0, sequences = 0;
  double compileSeconds = 0;
};

/// Instruments a clone of `module` with attn-calibration-taps, compiles it
/// with the JIT, binds parameters from the module's store, runs it on
/// non-overlapping windows of `ids` and writes the statistics (fp64,
/// StatsAccumulator) to `outPath`, recording the module's attn.source and
/// `metadata`. Nothing is written on failure.
bool calibrateLanguageModel(ModuleOp module, const std::vector<int64_t> &ids,
                            const CalibrateOptions &options,
                            const std::string &outPath,
                            std::map<std::string, std::string> metadata,
                            CalibrateResult &result, std::string &error);

} // namespace mlir::attn

#endif

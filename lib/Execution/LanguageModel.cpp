//===- LanguageModel.cpp - scoring and calibration over a token stream ----===//

#include "attenuate/Execution/LanguageModel.h"
#include "attenuate/Calibration/StatsAccumulator.h"
#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/Progress.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

using namespace mlir;
using namespace mlir::attn;
using attenuate::exec::HostTensor;
namespace params = attenuate::params;
namespace calib = attenuate::calibration;

double EvalResult::bitsPerToken() const {
  return natsPerToken() / std::log(2.0);
}

namespace {

struct Window {
  int64_t begin, end, firstTarget;
};

/// The windows of models/eval_torch.py.
std::vector<Window> makeWindows(int64_t n, int64_t context, int64_t stride) {
  std::vector<Window> w;
  int64_t prevEnd = 0, begin = 0;
  while (true) {
    int64_t end = std::min(begin + context, n);
    w.push_back({begin, end, std::max<int64_t>(prevEnd, 1)});
    prevEnd = end;
    if (end == n)
      return w;
    begin += stride;
  }
}

} // namespace

bool mlir::attn::checkLanguageModelForward(const JitModule &jit, int64_t &vocab,
                                           std::string &error) {
  const std::string &entry = jit.entry();
  const auto &in = jit.inputs();
  const auto &res = jit.results();
  if (in.size() < 2 || in[0].dtype != params::DType::I64 ||
      in[0].shape.size() != 2 || in[1].shape.size() != 2 || res.empty() ||
      res[0].shape.size() != 3 || res[0].dtype != params::DType::F32 ||
      ShapedType::isDynamic(res[0].shape[2])) {
    error = "@" + entry +
            " is not a language-model forward (tokens [B,S] i64, "
            "positions [B,S], caches...) -> (logits [B,S,V] f32, ...)";
    return false;
  }
  for (size_t i = 2; i < in.size(); ++i)
    if (in[i].shape.size() != 4 || ShapedType::isDynamic(in[i].shape[2]) ||
        ShapedType::isDynamic(in[i].shape[3])) {
      error = "cache argument " + std::to_string(i) + " is " +
              in[i].describe() +
              "; expected [batch, capacity, heads, dim] with static heads "
              "and dim";
      return false;
    }
  vocab = res[0].shape[2];
  return true;
}

namespace {

/// Token and position inputs for `b` rows of `len` tokens starting at
/// `begin(r)`, plus empty caches of capacity `len`.
std::vector<HostTensor>
windowInputs(const JitModule &jit, const std::vector<int64_t> &ids, int64_t b,
             int64_t len, const std::function<int64_t(int64_t)> &begin) {
  std::vector<HostTensor> inputs;
  HostTensor tok = HostTensor::zeros(params::DType::I64, {b, len});
  HostTensor pos = HostTensor::zeros(params::DType::I64, {b, len});
  for (int64_t r = 0; r < b; ++r)
    for (int64_t k = 0; k < len; ++k) {
      tok.data<int64_t>()[r * len + k] = ids[begin(r) + k];
      pos.data<int64_t>()[r * len + k] = k;
    }
  inputs.push_back(std::move(tok));
  inputs.push_back(std::move(pos));
  const auto &in = jit.inputs();
  for (size_t a = 2; a < in.size(); ++a)
    // Caches keep their element type: encoded caches hold integer codes
    // (attn-sparse-kv) next to floats.
    inputs.push_back(HostTensor::zeros(
        in[a].dtype, {b, len, in[a].shape[2], in[a].shape[3]}));
  return inputs;
}

} // namespace

bool mlir::attn::evaluateLanguageModel(JitModule &jit,
                                       const std::vector<int64_t> &ids,
                                       const EvalOptions &options,
                                       EvalResult &result, std::string &error) {
  int64_t context = options.context;
  int64_t stride = options.stride ? options.stride : context / 2;
  if (context < 2) {
    error = "context must be >= 2, got " + std::to_string(context);
    return false;
  }
  // A later window scores only tokens past the previous window's end, and
  // each needs at least one token of context inside its window.
  if (stride < 1 || stride >= context) {
    error = "stride must be in [1, context - 1], got " + std::to_string(stride);
    return false;
  }
  if (options.batch < 1) {
    error = "batch must be >= 1, got " + std::to_string(options.batch);
    return false;
  }
  if (ids.size() < 2) {
    error = "need at least 2 tokens to score";
    return false;
  }
  int64_t vocab;
  if (!checkLanguageModelForward(jit, vocab, error))
    return false;
  for (int64_t id : ids)
    if (id < 0 || id >= vocab) {
      error = "token id " + std::to_string(id) +
              " is outside the model's vocabulary of " + std::to_string(vocab);
      return false;
    }

  std::vector<Window> windows = makeWindows(ids.size(), context, stride);
  result = EvalResult();
  result.context = context;
  result.stride = stride;
  result.windows = static_cast<int64_t>(windows.size());
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<attenuate::exec::Progress> progress;
  if (!options.progressTool.empty())
    progress = std::make_unique<attenuate::exec::Progress>(
        options.progressTool, "window", static_cast<int64_t>(windows.size()));
  size_t i = 0;
  while (i < windows.size()) {
    // Windows of equal length share a call.
    int64_t len = windows[i].end - windows[i].begin;
    size_t j = i;
    while (j < windows.size() && static_cast<int64_t>(j - i) < options.batch &&
           windows[j].end - windows[j].begin == len)
      ++j;
    int64_t b = j - i;
    std::vector<HostTensor> inputs = windowInputs(
        jit, ids, b, len, [&](int64_t r) { return windows[i + r].begin; });
    std::vector<HostTensor> outputs;
    if (!jit.run(inputs, outputs, error))
      return false;
    const float *logits = outputs[0].data<float>();
    for (int64_t r = 0; r < b; ++r) {
      const Window &w = windows[i + r];
      // Logits at local index k predict token begin + k + 1.
      for (int64_t t = w.firstTarget; t < w.end; ++t) {
        const float *row = logits + (r * len + (t - w.begin - 1)) * vocab;
        double mx = -INFINITY;
        for (int64_t v = 0; v < vocab; ++v)
          mx = std::max(mx, static_cast<double>(row[v]));
        double sum = 0;
        for (int64_t v = 0; v < vocab; ++v)
          sum += std::exp(static_cast<double>(row[v]) - mx);
        result.nats += -(static_cast<double>(row[ids[t]]) - mx - std::log(sum));
        ++result.scored;
      }
    }
    result.tokensRun += b * len;
    i = j;
    if (progress)
      progress->update(static_cast<int64_t>(i), result.tokensRun);
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (result.scored != static_cast<int64_t>(ids.size()) - 1) {
    error = "internal error: scored " + std::to_string(result.scored) + " of " +
            std::to_string(ids.size() - 1) + " tokens";
    return false;
  }
  return true;
}

bool mlir::attn::calibrateLanguageModel(
    ModuleOp module, const std::vector<int64_t> &allIds,
    const CalibrateOptions &options, const std::string &outPath,
    std::map<std::string, std::string> metadata, CalibrateResult &result,
    std::string &error) {
  if (options.context < 2 || options.batch < 1) {
    error = "context must be >= 2 and batch >= 1, got context " +
            std::to_string(options.context) + ", batch " +
            std::to_string(options.batch);
    return false;
  }
  std::vector<int64_t> ids = allIds;
  if (options.maxTokens > 0 &&
      static_cast<int64_t>(ids.size()) > options.maxTokens)
    ids.resize(options.maxTokens);
  int64_t context = options.context;
  int64_t numSeq = static_cast<int64_t>(ids.size()) / context;
  if (numSeq < 1) {
    error = "need at least " + std::to_string(context) +
            " calibration tokens (one sequence of the context length), got " +
            std::to_string(ids.size());
    return false;
  }
  const std::string &entry = options.entry;

  MLIRContext *ctx = module.getContext();
  std::string diag;
  llvm::raw_string_ostream diagOs(diag);
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && diag.empty())
      diagOs << d.getLocation() << ": " << d.str();
    return success();
  });

  std::string source;
  if (Attribute src = module->getAttr("attn.source")) {
    llvm::raw_string_ostream os(source);
    os << src;
  }

  // Each layer's attention scale and mask, for the host-side probabilities.
  std::map<int64_t, calib::LayerAttention> attention;
  auto fn = module.lookupSymbol<func::FuncOp>(entry);
  if (!fn || fn.isExternal()) {
    error = "unknown entry function '" + entry + "'";
    return false;
  }
  auto blocks = collectAttentionBlocks(fn);
  if (failed(blocks)) {
    error = diag;
    return false;
  }
  for (AttentionBlock &b : *blocks)
    attention[b.layer] = {b.attention.getScale().convertToDouble(),
                          b.attention.getCausal()};

  // Instrument, then compile.
  OwningOpRef<ModuleOp> instrumented(cast<ModuleOp>(module->clone()));
  PassManager pm(ctx);
  if (failed(parsePassPipeline("attn-calibration-taps{entry=" + entry + "}",
                               pm)) ||
      failed(pm.run(*instrumented))) {
    error = diag.empty() ? "attn-calibration-taps failed" : diag;
    return false;
  }
  auto ifn = instrumented->lookupSymbol<func::FuncOp>(entry);
  std::vector<std::string> tapNames;
  for (unsigned i = 0; i < ifn.getNumResults(); ++i) {
    auto tap = ifn.getResultAttrOfType<StringAttr>(i, "attn.tap");
    tapNames.push_back(tap ? tap.getValue().str() : "");
  }

  auto t0 = std::chrono::steady_clock::now();
  auto jit = JitModule::compile(*instrumented, entry, options.jit, error);
  if (!jit)
    return false;
  if (!jit->params().empty()) {
    // The original module's store: the clone has the same archives, and
    // tensors that passes or the Python bindings added live there.
    params::ParamStore *store = getParamStore(module, false);
    if (!store) {
      error = diag;
      return false;
    }
    if (!jit->bindParams(*store, error))
      return false;
  }
  const auto &in = jit->inputs();
  if (in.size() < 2) {
    error = "@" + entry +
            " is not a language-model forward (tokens, positions, caches)";
    return false;
  }
  for (size_t a = 2; a < in.size(); ++a)
    if (in[a].shape.size() != 4 || ShapedType::isDynamic(in[a].shape[2]) ||
        ShapedType::isDynamic(in[a].shape[3])) {
      error = "argument " + std::to_string(a) +
              " is not a [batch, capacity, heads, dim] cache";
      return false;
    }
  result = CalibrateResult();
  result.compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!options.progressTool.empty()) {
    llvm::errs() << llvm::format("%s: compiled in %.1f s; %lld sequences of "
                                 "%lld tokens\n",
                                 options.progressTool.c_str(),
                                 result.compileSeconds, (long long)numSeq,
                                 (long long)context);
    llvm::errs().flush();
  }

  calib::AccumulatorOptions aopts;
  aopts.perHeadRP = options.perHeadRP;
  aopts.kvSamples = options.kvSamples;
  calib::StatsAccumulator acc(attention, aopts);
  std::unique_ptr<attenuate::exec::Progress> progress;
  if (!options.progressTool.empty())
    progress = std::make_unique<attenuate::exec::Progress>(options.progressTool,
                                                           "sequence", numSeq);
  for (int64_t s0 = 0; s0 < numSeq; s0 += options.batch) {
    int64_t b = std::min<int64_t>(options.batch, numSeq - s0);
    std::vector<HostTensor> inputs = windowInputs(
        *jit, ids, b, context, [&](int64_t r) { return (s0 + r) * context; });
    std::vector<HostTensor> outputs;
    if (!jit->run(inputs, outputs, error))
      return false;
    std::map<std::string, const HostTensor *> taps;
    for (size_t i = 0; i < outputs.size() && i < tapNames.size(); ++i)
      if (!tapNames[i].empty())
        taps[tapNames[i]] = &outputs[i];
    if (!acc.add(taps, error))
      return false;
    if (progress)
      progress->update(s0 + b, (s0 + b) * context);
  }

  metadata["source"] = source;
  metadata["entry"] = entry;
  metadata["context"] = std::to_string(context);
  if (!acc.write(outPath, metadata, error))
    return false;
  result.tokens = acc.tokens();
  result.sequences = acc.sequences();
  return true;
}

//===- attn-calibrate.cpp - statistics for the compression passes ---------===//
//
//   attn-calibrate model.mlir --text=calib.txt -o stats.safetensors
//   attn-calibrate model.mlir --tokens=calib.npy -o stats.safetensors
//
// Instruments @forward with attn-calibration-taps, compiles it with the same
// JIT as attn-run, runs it on non-overlapping windows of the calibration
// tokens and accumulates the statistics in fp64 (StatsAccumulator). The
// output records the module's attn.source so passes refuse stats of another
// model.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Calibration/StatsAccumulator.h"
#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/JitModule.h"
#include "attenuate/Execution/Npy.h"
#include "attenuate/Execution/Progress.h"
#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"
#include "attenuate/Runtime/attn_runtime.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"

#include <chrono>

using namespace mlir;
using attenuate::exec::HostTensor;
namespace params = attenuate::params;
namespace calib = attenuate::calibration;
namespace cl = llvm::cl;

static cl::opt<std::string> clInput(cl::Positional, cl::desc("<module.mlir>"),
                                    cl::Required);
static cl::opt<std::string> clOutput("o", cl::desc("Output stats file"),
                                     cl::value_desc("stats.safetensors"),
                                     cl::Required);
static cl::opt<std::string> clText("text",
                                   cl::desc("Calibration text (bytes)"));
static cl::opt<std::string> clTokens("tokens",
                                     cl::desc("Calibration token ids (.npy)"));
static cl::opt<std::string> clEntry("entry", cl::init("forward"),
                                    cl::desc("Function to calibrate"));
static cl::opt<int> clContext("context", cl::init(256),
                              cl::desc("Tokens per calibration sequence"));
static cl::opt<int> clBatch("batch", cl::init(8),
                            cl::desc("Sequences per call"));
static cl::opt<int64_t> clMaxTokens("max-tokens", cl::init(0),
                                    cl::desc("Use at most N tokens (0: all)"));
static cl::opt<bool> clRP("rp", cl::init(false),
                          cl::desc("Also accumulate per-head R_P (A3 OV)"));
static cl::opt<int64_t> clKvSamples(
    "kv-samples", cl::init(4096),
    cl::desc("Pre-RoPE keys/values kept per layer (for attn-sparse-kv)"));
static cl::opt<int> clThreads("num-threads", cl::init(0),
                              cl::desc("Kernel threads (0: all cores)"));
static cl::list<std::string>
    clParams("attn-params", cl::CommaSeparated,
             cl::desc("Parameter archives replacing the module's"));

static int fail(const std::string &msg) {
  llvm::errs() << "attn-calibrate: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  attn::registerAllAttnToolPasses();
  cl::ParseCommandLineOptions(argc, argv,
                              "Attenuate: calibration statistics\n");
  if (clContext < 2 || clBatch < 1)
    return fail("options --context must be >= 2 and --batch >= 1");
  if (clThreads > 0)
    attn_set_num_threads(clThreads);

  std::vector<int64_t> ids;
  std::string error;
  if (!attn::readTokenStream(clText, clTokens, ids, error))
    return fail(error);
  if (clMaxTokens > 0 && static_cast<int64_t>(ids.size()) > clMaxTokens)
    ids.resize(clMaxTokens);
  int64_t context = clContext;
  int64_t numSeq = static_cast<int64_t>(ids.size()) / context;
  if (numSeq < 1)
    return fail("need at least --context=" + std::to_string(context) +
                " calibration tokens, got " + std::to_string(ids.size()));

  auto ownedCtx = attn::makeToolContext(
      std::vector<std::string>(clParams.begin(), clParams.end()));
  MLIRContext &ctx = *ownedCtx;
  OwningOpRef<ModuleOp> module = attn::parseModuleFile(&ctx, clInput, error);
  if (!module)
    return fail(error);
  std::string diag;
  llvm::raw_string_ostream diagOs(diag);
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && diag.empty())
      diagOs << d.getLocation() << ": " << d.str();
    return success();
  });

  std::string source;
  if (Attribute src = (*module)->getAttr("attn.source")) {
    llvm::raw_string_ostream os(source);
    os << src;
  }

  // Each layer's attention scale and mask, for the host-side probabilities.
  std::map<int64_t, calib::LayerAttention> attention;
  auto fn = module->lookupSymbol<func::FuncOp>(clEntry);
  if (!fn || fn.isExternal())
    return fail(clInput + ": unknown entry function '" + clEntry + "'");
  auto blocks = attn::collectAttentionBlocks(fn);
  if (failed(blocks))
    return fail(clInput + ": " + diag);
  for (attn::AttentionBlock &b : *blocks)
    attention[b.layer] = {b.attention.getScale().convertToDouble(),
                          b.attention.getCausal()};

  // Instrument, then compile.
  OwningOpRef<ModuleOp> instrumented(cast<ModuleOp>((*module)->clone()));
  PassManager pm(&ctx);
  if (failed(parsePassPipeline("attn-calibration-taps{entry=" + clEntry + "}",
                               pm)) ||
      failed(pm.run(*instrumented)))
    return fail(clInput + ": " + diag);
  auto ifn = instrumented->lookupSymbol<func::FuncOp>(clEntry);
  std::vector<std::string> tapNames;
  for (unsigned i = 0; i < ifn.getNumResults(); ++i) {
    auto tap = ifn.getResultAttrOfType<StringAttr>(i, "attn.tap");
    tapNames.push_back(tap ? tap.getValue().str() : "");
  }

  auto t0 = std::chrono::steady_clock::now();
  auto jit = attn::JitModule::compileAndBind(*instrumented, clEntry, {}, error);
  if (!jit)
    return fail(clInput + ": " + error);
  const auto &in = jit->inputs();
  if (in.size() < 2)
    return fail(clInput + ": @" + clEntry +
                " is not a language-model forward (tokens, positions, caches)");
  llvm::errs() << llvm::format(
      "attn-calibrate: compiled in %.1f s; %lld "
      "sequences of %lld tokens\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count(),
      (long long)numSeq, (long long)context);

  calib::AccumulatorOptions aopts;
  aopts.perHeadRP = clRP;
  aopts.kvSamples = clKvSamples;
  calib::StatsAccumulator acc(attention, aopts);
  attenuate::exec::Progress progress("attn-calibrate", "sequence", numSeq);
  for (int64_t s0 = 0; s0 < numSeq; s0 += clBatch) {
    int64_t b = std::min<int64_t>(clBatch, numSeq - s0);
    std::vector<HostTensor> inputs;
    HostTensor tok = HostTensor::zeros(params::DType::I64, {b, context});
    HostTensor pos = HostTensor::zeros(params::DType::I64, {b, context});
    for (int64_t r = 0; r < b; ++r)
      for (int64_t k = 0; k < context; ++k) {
        tok.data<int64_t>()[r * context + k] = ids[(s0 + r) * context + k];
        pos.data<int64_t>()[r * context + k] = k;
      }
    inputs.push_back(std::move(tok));
    inputs.push_back(std::move(pos));
    for (size_t a = 2; a < in.size(); ++a) {
      if (in[a].shape.size() != 4)
        return fail(clInput + ": argument " + std::to_string(a) +
                    " is not a [batch, capacity, heads, dim] cache");
      inputs.push_back(HostTensor::zeros(
          params::DType::F32, {b, context, in[a].shape[2], in[a].shape[3]}));
    }
    std::vector<HostTensor> outputs;
    if (!jit->run(inputs, outputs, error))
      return fail(error);
    std::map<std::string, const HostTensor *> taps;
    for (size_t i = 0; i < outputs.size() && i < tapNames.size(); ++i)
      if (!tapNames[i].empty())
        taps[tapNames[i]] = &outputs[i];
    if (!acc.add(taps, error))
      return fail(error);
    progress.update(s0 + b, (s0 + b) * context);
  }

  std::map<std::string, std::string> meta = {
      {"source", source},
      {"module", clInput},
      {"entry", clEntry},
      {"context", std::to_string(context)}};
  if (!acc.write(clOutput, meta, error))
    return fail(error);
  llvm::outs() << "attn-calibrate: " << acc.tokens() << " tokens, "
               << acc.sequences() << " sequences -> " << clOutput << "\n";
  return 0;
}

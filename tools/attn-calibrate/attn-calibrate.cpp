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

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Execution/LanguageModel.h"
#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"
#include "attenuate/Runtime/attn_runtime.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"

using namespace mlir;
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

  // Instrumenting, compiling, running and accumulating is the library's
  // (shared with the Python bindings' attenuate.calibrate).
  attn::CalibrateOptions opts;
  opts.entry = clEntry;
  opts.context = context;
  opts.batch = clBatch;
  opts.perHeadRP = clRP;
  opts.kvSamples = clKvSamples;
  attn::CalibrateResult result;
  if (!attn::calibrateLanguageModel(*module, ids, opts, clOutput,
                                    {{"module", clInput}}, result, error))
    return fail(clInput + ": " + error);
  llvm::outs() << "attn-calibrate: " << result.tokens << " tokens, "
               << result.sequences << " sequences -> " << clOutput << "\n";
  return 0;
}

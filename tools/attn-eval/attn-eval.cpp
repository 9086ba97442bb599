//===- attn-eval.cpp - bits-per-byte / perplexity of a compiled model -----===//
//
//   attn-eval model.mlir --text=val.txt      (byte-level models)
//   attn-eval model.mlir --tokens=ids.npy    (token ids, 1-D)
//
// Runs the module's @forward through the same JIT as attn-run, never a
// re-implementation; the loop is evaluateLanguageModel (LanguageModel.h),
// which attenuate.evaluate calls too. Scoring (identical to
// models/eval_torch.py, so the two numbers can be compared): every token
// t >= 1 is scored once from the
// tokens before it; windows of --context tokens start at 0, stride,
// 2·stride, ...; the first window scores tokens 1..context-1, each later one
// only the tokens past the previous window's end. Accumulated in fp64.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/JitModule.h"
#include "attenuate/Execution/LanguageModel.h"
#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"
#include "attenuate/Runtime/attn_runtime.h"
#include "attenuate/Support/AtomicFile.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"

#include <chrono>
#include <cmath>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> clInput(cl::Positional, cl::desc("<module.mlir>"),
                                    cl::Required);
static cl::opt<std::string> clText("text",
                                   cl::desc("Text file scored byte by byte"));
static cl::opt<std::string>
    clTokens("tokens", cl::desc("1-D .npy of token ids (any int dtype)"));
static cl::opt<std::string> clEntry("entry", cl::init("forward"),
                                    cl::desc("Function to call"));
static cl::opt<int> clContext("context", cl::init(256),
                              cl::desc("Window length in tokens"));
static cl::opt<int> clStride("stride", cl::init(0),
                             cl::desc("Window stride (default context/2)"));
static cl::opt<int> clBatch("batch", cl::init(8), cl::desc("Windows per call"));
static cl::opt<int> clThreads("num-threads", cl::init(0),
                              cl::desc("Kernel threads (0: all cores)"));
static cl::list<std::string>
    clParams("attn-params", cl::CommaSeparated,
             cl::desc("Parameter archives replacing the module's"));
static cl::opt<bool> clReference("reference", cl::init(false),
                                 cl::desc("Use the linalg reference lowering"));
static cl::opt<std::string> clJson("json",
                                   cl::desc("Also write the result as JSON"));

static int fail(const std::string &msg) {
  llvm::errs() << "attn-eval: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  attn::registerAllAttnToolPasses();
  cl::ParseCommandLineOptions(argc, argv,
                              "Attenuate: evaluate a compiled model\n");
  int64_t context = clContext;
  int64_t stride = clStride.getNumOccurrences() ? clStride : context / 2;
  if (context < 2)
    return fail("option --context must be >= 2, got " +
                std::to_string(context));
  // A later window scores only tokens past the previous window's end, and
  // each needs at least one token of context inside its window.
  if (stride < 1 || stride >= context)
    return fail("option --stride must be in [1, context - 1], got " +
                std::to_string(stride));
  if (clBatch < 1)
    return fail("option --batch must be >= 1");
  if (clThreads > 0)
    attn_set_num_threads(clThreads);

  // The sequence to score.
  std::vector<int64_t> ids;
  std::string error;
  if (!attn::readTokenStream(clText, clTokens, ids, error))
    return fail(error);
  if (ids.size() < 2)
    return fail("need at least 2 tokens to score");

  auto ctx = attn::makeToolContext(
      std::vector<std::string>(clParams.begin(), clParams.end()));
  auto t0 = std::chrono::steady_clock::now();
  auto jit = attn::JitModule::loadFile(ctx.get(), clInput, clEntry,
                                       {clReference, {}}, error);
  if (!jit)
    return fail(error);
  double compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();

  // The signature is checked first so its error names the file; the
  // scoring loop is the library's, shared with attenuate.evaluate.
  int64_t vocab;
  if (!attn::checkLanguageModelForward(*jit, vocab, error))
    return fail(clInput + ": " + error);
  attn::EvalOptions opts;
  opts.context = context;
  opts.stride = stride;
  opts.batch = clBatch;
  attn::EvalResult result;
  if (!attn::evaluateLanguageModel(*jit, ids, opts, result, error))
    return fail(error);

  double natsPer = result.natsPerToken();
  double bits = result.bitsPerToken();
  double seconds = result.seconds;
  int64_t scored = result.scored, tokensRun = result.tokensRun;
  int64_t windows = result.windows;
  const char *unit = clText.empty() ? "token" : "byte";
  llvm::outs() << "bits-per-" << unit << ": " << llvm::format("%.6f", bits)
               << "\n";
  llvm::outs() << "perplexity: " << llvm::format("%.6f", std::exp(natsPer))
               << " (per " << unit << ")\n";
  llvm::outs() << "scored " << scored << " " << unit << "s in "
               << windows << " windows (context " << context
               << ", stride " << stride << "); "
               << llvm::format("%.1f", seconds) << " s, "
               << llvm::format("%.0f", tokensRun / seconds)
               << " tokens/s, compile " << llvm::format("%.1f", compileSeconds)
               << " s\n";
  if (!clJson.empty()) {
    char num[64], num2[64];
    std::snprintf(num, sizeof num, "%.9f", bits);
    std::snprintf(num2, sizeof num2, "%.9f", natsPer);
    std::string json = std::string("{\"bits_per_") + unit + "\": " + num +
                       ", \"nats_per_" + unit + "\": " + num2 +
                       ", \"scored\": " + std::to_string(scored) +
                       ", \"windows\": " + std::to_string(windows) +
                       ", \"context\": " + std::to_string(context) +
                       ", \"stride\": " + std::to_string(stride) + "}\n";
    // Temporary beside the file and a rename: a failed write keeps the
    // previous results.
    if (!attenuate::writeFileAtomically(clJson, json, error))
      return fail(error);
  }
  return 0;
}

//===- attn-eval.cpp - bits-per-byte / perplexity of a compiled model -----===//
//
//   attn-eval model.mlir --text=val.txt      (byte-level models)
//   attn-eval model.mlir --tokens=ids.npy    (token ids, 1-D)
//
// Runs the module's @forward through the same JIT as attn-run, never a
// re-implementation. Scoring (identical to models/eval_torch.py, so the two
// numbers can be compared): every token t >= 1 is scored once from the
// tokens before it; windows of --context tokens start at 0, stride,
// 2·stride, ...; the first window scores tokens 1..context-1, each later one
// only the tokens past the previous window's end. Accumulated in fp64.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/JitModule.h"
#include "attenuate/Execution/Npy.h"
#include "attenuate/Execution/Progress.h"
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
using attenuate::exec::HostTensor;
namespace params = attenuate::params;
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

  // The imported forward's contract: (tokens, positions, caches...) ->
  // (logits [B, S, V], caches...).
  const auto &in = jit->inputs();
  const auto &res = jit->results();
  if (in.size() < 2 || in[0].dtype != params::DType::I64 ||
      in[0].shape.size() != 2 || in[1].shape.size() != 2 || res.empty() ||
      res[0].shape.size() != 3 || res[0].dtype != params::DType::F32 ||
      ShapedType::isDynamic(res[0].shape[2]))
    return fail(clInput + ": @" + clEntry +
                " is not a language-model forward (tokens [B,S] i64, "
                "positions [B,S], caches...) -> (logits [B,S,V] f32, ...)");
  for (size_t i = 2; i < in.size(); ++i)
    if (in[i].shape.size() != 4 || ShapedType::isDynamic(in[i].shape[2]) ||
        ShapedType::isDynamic(in[i].shape[3]))
      return fail(clInput + ": cache argument " + std::to_string(i) + " is " +
                  in[i].describe() +
                  "; expected [batch, capacity, heads, dim] with static "
                  "heads and dim");
  int64_t vocab = res[0].shape[2];
  for (int64_t id : ids)
    if (id < 0 || id >= vocab)
      return fail("token id " + std::to_string(id) +
                  " is outside the model's vocabulary of " +
                  std::to_string(vocab));

  std::vector<Window> windows = makeWindows(ids.size(), context, stride);
  double nats = 0;
  int64_t scored = 0, tokensRun = 0;
  auto start = std::chrono::steady_clock::now();
  attenuate::exec::Progress progress("attn-eval", "window",
                                     static_cast<int64_t>(windows.size()));
  size_t i = 0;
  while (i < windows.size()) {
    // Windows of equal length share a call.
    int64_t len = windows[i].end - windows[i].begin;
    size_t j = i;
    while (j < windows.size() && static_cast<int>(j - i) < clBatch &&
           windows[j].end - windows[j].begin == len)
      ++j;
    int64_t b = j - i;
    std::vector<HostTensor> inputs;
    HostTensor tok = HostTensor::zeros(params::DType::I64, {b, len});
    HostTensor pos = HostTensor::zeros(params::DType::I64, {b, len});
    for (int64_t r = 0; r < b; ++r)
      for (int64_t k = 0; k < len; ++k) {
        tok.data<int64_t>()[r * len + k] = ids[windows[i + r].begin + k];
        pos.data<int64_t>()[r * len + k] = k;
      }
    inputs.push_back(std::move(tok));
    inputs.push_back(std::move(pos));
    for (size_t a = 2; a < in.size(); ++a)
      inputs.push_back(HostTensor::zeros(
          params::DType::F32, {b, len, in[a].shape[2], in[a].shape[3]}));
    std::vector<HostTensor> outputs;
    if (!jit->run(inputs, outputs, error))
      return fail(error);
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
        nats += -(static_cast<double>(row[ids[t]]) - mx - std::log(sum));
        ++scored;
      }
    }
    tokensRun += b * len;
    i = j;
    progress.update(static_cast<int64_t>(i), tokensRun);
  }
  if (scored != static_cast<int64_t>(ids.size()) - 1)
    return fail("internal error: scored " + std::to_string(scored) + " of " +
                std::to_string(ids.size() - 1) + " tokens");

  double natsPer = nats / scored;
  double bits = natsPer / std::log(2.0);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  const char *unit = clText.empty() ? "token" : "byte";
  llvm::outs() << "bits-per-" << unit << ": " << llvm::format("%.6f", bits)
               << "\n";
  llvm::outs() << "perplexity: " << llvm::format("%.6f", std::exp(natsPer))
               << " (per " << unit << ")\n";
  llvm::outs() << "scored " << scored << " " << unit << "s in "
               << windows.size() << " windows (context " << context
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
                       ", \"windows\": " + std::to_string(windows.size()) +
                       ", \"context\": " + std::to_string(context) +
                       ", \"stride\": " + std::to_string(stride) + "}\n";
    // Temporary beside the file and a rename: a failed write keeps the
    // previous results.
    if (!attenuate::writeFileAtomically(clJson, json, error))
      return fail(error);
  }
  return 0;
}

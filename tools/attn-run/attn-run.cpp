//===- attn-run.cpp - JIT-execute a function of an attn module on the CPU
//--===//
//
//   attn-run model.mlir --entry=forward --input=tokens.npy --input=pos.npy
//       [--input=...] --output=logits.npy [--compare=ref.npy --rtol --atol]
//
// Inputs bind, in order, to the entry's non-parameter arguments (a
// .safetensors input supplies several, in file order); parameters come from
// the archives the module records, or --attn-params. Every error is one line
// on stderr and a non-zero exit.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/JitModule.h"
#include "attenuate/Execution/TensorFiles.h"
#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Params/DType.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"
#include "attenuate/Runtime/attn_runtime.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"

#include <chrono>
#include <cmath>

using namespace mlir;
using attenuate::exec::HostTensor;
namespace params = attenuate::params;
namespace cl = llvm::cl;

static cl::opt<std::string> clInput(cl::Positional, cl::desc("<module.mlir>"),
                                    cl::Required);
static cl::opt<std::string> clEntry("entry", cl::desc("Function to call"),
                                    cl::init("forward"));
static cl::list<std::string>
    clInputs("input", cl::desc("Input .npy (or .safetensors for several)"));
static cl::list<std::string>
    clOutputs("output",
              cl::desc("Output .npy per result in order, or one .safetensors "
                       "holding every result (result0, result1, ...)"));
static cl::list<std::string>
    clCompare("compare", cl::desc("Reference .npy per result, in order"));
static cl::opt<double> clRtol("rtol", cl::desc("Relative tolerance"),
                              cl::init(1e-4));
static cl::opt<double> clAtol("atol", cl::desc("Absolute tolerance"),
                              cl::init(1e-5));
static cl::list<std::string>
    clParams("attn-params", cl::CommaSeparated,
             cl::desc("Parameter archives replacing the module's"));
static cl::opt<bool>
    clReference("reference",
                cl::desc("Run the linalg reference lowering (no runtime "
                         "kernels)"),
                cl::init(false));
static cl::opt<int> clThreads("num-threads",
                              cl::desc("Kernel threads (0: all cores)"),
                              cl::init(0));
static cl::opt<int> clRepeat("repeat",
                             cl::desc("Call the function N times and report "
                                      "the median time"),
                             cl::init(1));

static int fail(const std::string &msg) {
  llvm::errs() << "attn-run: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  attn::registerAllAttnToolPasses();
  cl::ParseCommandLineOptions(argc, argv,
                              "Attenuate: run a function on the CPU (JIT)\n");
  if (clThreads > 0)
    attn_set_num_threads(clThreads);

  auto context = attn::makeToolContext(
      std::vector<std::string>(clParams.begin(), clParams.end()));

  std::string error;
  {
    // Inputs first: bad input is reported before the (slower) compile.
    std::vector<HostTensor> inputs;
    if (!attenuate::exec::readInputFiles(
            std::vector<std::string>(clInputs.begin(), clInputs.end()), inputs,
            error))
      return fail(error);

    auto jit = attn::JitModule::loadFile(context.get(), clInput, clEntry,
                                         {clReference, {}}, error);
    if (!jit)
      return fail(error);
    if (inputs.size() != jit->inputs().size()) {
      std::string sig;
      for (const auto &s : jit->inputs())
        sig += (sig.empty() ? "" : ", ") + s.describe();
      return fail("@" + clEntry + " takes " +
                  std::to_string(jit->inputs().size()) + " inputs (" + sig +
                  "), got " + std::to_string(inputs.size()) + " from --input");
    }

    std::vector<HostTensor> outputs;
    std::vector<double> times;
    for (int r = 0; r < std::max(1, clRepeat.getValue()); ++r) {
      auto t0 = std::chrono::steady_clock::now();
      if (!jit->run(inputs, outputs, error))
        return fail(error);
      times.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count());
    }
    if (clRepeat > 1) {
      std::sort(times.begin(), times.end());
      llvm::outs() << "time: median "
                   << llvm::format("%.6f", times[times.size() / 2])
                   << " s over " << times.size() << " calls\n";
    }

    if (!attenuate::exec::writeResultFiles(
            std::vector<std::string>(clOutputs.begin(), clOutputs.end()),
            outputs, error))
      return fail(error);
    std::vector<std::string> lines;
    bool ok = true;
    if (!attenuate::exec::compareWithFiles(
            std::vector<std::string>(clCompare.begin(), clCompare.end()),
            outputs, clAtol, clRtol, lines, ok, error))
      return fail(error);
    for (const std::string &l : lines)
      llvm::outs() << l << "\n";
    if (!ok)
      return fail("results differ from the reference beyond tolerance");
  }
  return 0;
}

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
#include "attenuate/Execution/Npy.h"
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

static bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads a .safetensors file's tensors, in file order, as host tensors.
static bool readSafetensorsInputs(const std::string &path,
                                  std::vector<HostTensor> &out,
                                  std::string &error) {
  auto file = params::SafetensorsFile::open(path, error);
  if (!file)
    return false;
  for (const params::TensorInfo &t : file->tensors()) {
    HostTensor h;
    h.dtype = t.dtype;
    h.shape = t.shape;
    const uint8_t *p = file->data(t);
    h.bytes.assign(p, p + t.numBytes());
    out.push_back(std::move(h));
  }
  return true;
}

/// Prints max errors; true when every element is within atol + rtol·|ref|.
static bool compare(const std::string &name, const HostTensor &out,
                    const HostTensor &ref) {
  if (out.shape != ref.shape) {
    llvm::errs() << "attn-run: " << name << ": result is " << out.describe()
                 << " but the reference is " << ref.describe() << "\n";
    return false;
  }
  auto value = [](const HostTensor &t, uint64_t i) -> double {
    switch (t.dtype) {
    case params::DType::F32:
      return t.data<float>()[i];
    case params::DType::F64:
      return t.data<double>()[i];
    case params::DType::I64:
      return static_cast<double>(t.data<int64_t>()[i]);
    case params::DType::I32:
      return t.data<int32_t>()[i];
    // Encoded KV caches (attn-sparse-kv): int16 indices, fp16 coefficients.
    case params::DType::I16:
      return t.data<int16_t>()[i];
    case params::DType::F16:
      return params::halfToFloat(t.data<uint16_t>()[i]);
    default:
      return NAN;
    }
  };
  double maxAbs = 0, maxRel = 0;
  uint64_t bad = 0, n = out.numElements();
  for (uint64_t i = 0; i < n; ++i) {
    double a = value(out, i), b = value(ref, i);
    double abs = std::fabs(a - b);
    double rel = abs / std::max(std::fabs(b), 1e-30);
    if (!(abs <= clAtol + clRtol * std::fabs(b)))
      ++bad;
    if (!(abs <= maxAbs))
      maxAbs = abs;
    if (std::fabs(b) > clAtol && !(rel <= maxRel))
      maxRel = rel;
  }
  llvm::outs() << name << ": max abs error " << llvm::format("%.3e", maxAbs)
               << ", max rel error " << llvm::format("%.3e", maxRel) << ", "
               << bad << "/" << n << " elements outside atol " << clAtol
               << " + rtol " << clRtol << " -> " << (bad ? "FAIL" : "PASS")
               << "\n";
  return bad == 0;
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
    for (const std::string &path : clInputs) {
      if (endsWith(path, ".safetensors")) {
        if (!readSafetensorsInputs(path, inputs, error))
          return fail(error);
        continue;
      }
      HostTensor t;
      if (!attenuate::exec::readNpy(path, t, error))
        return fail(error);
      inputs.push_back(std::move(t));
    }

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

    if (clOutputs.size() == 1 && endsWith(clOutputs[0], ".safetensors")) {
      std::vector<params::TensorToWrite> tensors;
      for (size_t i = 0; i < outputs.size(); ++i)
        tensors.push_back({"result" + std::to_string(i), outputs[i].dtype,
                           outputs[i].shape, outputs[i].bytes.data()});
      if (!params::SafetensorsWriter::writeFile(clOutputs[0], tensors, {},
                                                error))
        return fail(error);
    } else {
      if (clOutputs.size() > outputs.size())
        return fail(std::to_string(clOutputs.size()) + " --output files for " +
                    std::to_string(outputs.size()) + " results");
      for (size_t i = 0; i < clOutputs.size(); ++i)
        if (!attenuate::exec::writeNpy(clOutputs[i], outputs[i], error))
          return fail(error);
    }

    if (clCompare.size() > outputs.size())
      return fail(std::to_string(clCompare.size()) + " --compare files for " +
                  std::to_string(outputs.size()) + " results");
    bool ok = true;
    for (size_t i = 0; i < clCompare.size(); ++i) {
      HostTensor ref;
      if (!attenuate::exec::readNpy(clCompare[i], ref, error))
        return fail(error);
      ok &= compare("result " + std::to_string(i), outputs[i], ref);
    }
    if (!ok)
      return fail("results differ from the reference beyond tolerance");
  }
  return 0;
}

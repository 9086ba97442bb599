//===- JitModule.cpp - compile an attn module and call it on the CPU ------===//

#include "attenuate/Execution/JitModule.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Runtime/attn_runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <cstring>
#include <set>

using namespace mlir;
using namespace mlir::attn;
using attenuate::exec::HostTensor;
namespace params = attenuate::params;

#ifndef ATTN_RUNTIME_LIB
#define ATTN_RUNTIME_LIB ""
#endif
#ifndef ATTN_C_RUNNER_UTILS_LIB
#define ATTN_C_RUNNER_UTILS_LIB ""
#endif

std::string TensorSpec::describe() const {
  std::string s(params::dtypeName(dtype));
  s += "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (ShapedType::isDynamic(shape[i])
                                ? std::string("?")
                                : std::to_string(shape[i]));
  return s + "]";
}

namespace {

/// Signed and unsigned integers share an MLIR type (signless).
bool sameStorage(params::DType a, params::DType b) {
  return params::dtypeSize(a) == params::dtypeSize(b) &&
         params::isFloat(a) == params::isFloat(b) &&
         (!params::isFloat(a) || a == b);
}

FailureOr<TensorSpec> specOf(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t)
    return failure();
  auto dt = storageDTypeOf(t.getElementType());
  if (!dt)
    return failure();
  return TensorSpec{
      *dt, std::vector<int64_t>(t.getShape().begin(), t.getShape().end()), ""};
}

/// The runtime library next to this binary's lib/ dir, else the build-time
/// path.
std::string findRuntimeLib() {
  std::string exe = llvm::sys::fs::getMainExecutable(
      nullptr, reinterpret_cast<void *>(&findRuntimeLib));
  llvm::SmallString<256> p(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(p, "lib", "libattn_runtime.so");
  if (llvm::sys::fs::exists(p))
    return p.str().str();
  return ATTN_RUNTIME_LIB;
}

/// A ranked memref descriptor: {alloc, aligned, offset, sizes[r], strides[r]}.
struct Descriptor {
  std::vector<int64_t> words;
  static Descriptor make(const void *data, const std::vector<int64_t> &shape) {
    Descriptor d;
    size_t r = shape.size();
    d.words.assign(3 + 2 * r, 0);
    std::memcpy(&d.words[0], &data, sizeof(void *));
    std::memcpy(&d.words[1], &data, sizeof(void *));
    int64_t stride = 1;
    for (size_t i = r; i-- > 0;) {
      d.words[3 + i] = shape[i];
      d.words[3 + r + i] = stride;
      stride *= shape[i];
    }
    return d;
  }
};

} // namespace

JitModule::~JitModule() = default;

std::unique_ptr<JitModule> JitModule::compile(ModuleOp module, StringRef entry,
                                              const JitOptions &options,
                                              std::string &error) {
  std::unique_ptr<JitModule> jit(new JitModule());
  jit->entry_ = entry.str();
  MLIRContext *ctx = module.getContext();

  std::string diag;
  llvm::raw_string_ostream diagOs(diag);
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && diag.empty())
      diagOs << d.getLocation() << ": " << d.str();
    return success();
  });

  OwningOpRef<ModuleOp> clone(cast<ModuleOp>(module->clone()));
  auto fn = clone->lookupSymbol<func::FuncOp>(entry);
  if (!fn || fn.isExternal()) {
    error = "unknown entry function '" + entry.str() + "'";
    return nullptr;
  }
  // Parameters become arguments first, so the signature we bind against is
  // the one that will be compiled.
  {
    PassManager pm(ctx);
    if (failed(parsePassPipeline("attn-params-to-args", pm)) ||
        failed(pm.run(*clone))) {
      error = diag.empty() ? "attn-params-to-args failed" : diag;
      return nullptr;
    }
  }
  FunctionType type = fn.getFunctionType();
  for (unsigned i = 0; i < type.getNumInputs(); ++i) {
    FailureOr<TensorSpec> spec = specOf(type.getInput(i));
    if (failed(spec)) {
      error = "@" + entry.str() + ": argument " + std::to_string(i) +
              " has type that cannot be passed from the host (ranked tensors "
              "of ints/floats only)";
      return nullptr;
    }
    if (auto p = fn.getArgAttrOfType<StringAttr>(i, "attn.param")) {
      spec->paramName = p.getValue().str();
      jit->params_.push_back(*spec);
    } else {
      if (!jit->params_.empty()) {
        error = "@" + entry.str() + ": data argument after parameters";
        return nullptr;
      }
      jit->inputs_.push_back(*spec);
    }
  }
  for (Type t : type.getResults()) {
    FailureOr<TensorSpec> spec = specOf(t);
    if (failed(spec)) {
      error = "@" + entry.str() + ": results must be ranked tensors";
      return nullptr;
    }
    jit->results_.push_back(*spec);
  }

  PassManager pm(ctx);
  LowerToCpuOptions lowerOpts;
  lowerOpts.reference = options.reference;
  buildLowerToCpuPipeline(pm, lowerOpts);
  if (failed(pm.run(*clone))) {
    error = "lowering to the CPU failed: " + diag;
    return nullptr;
  }

  static bool targetInit = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)targetInit;
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);

  std::vector<std::string> libs = {findRuntimeLib(), ATTN_C_RUNNER_UTILS_LIB};
  libs.insert(libs.end(), options.sharedLibs.begin(), options.sharedLibs.end());
  std::vector<StringRef> libRefs(libs.begin(), libs.end());
  ExecutionEngineOptions eo;
  auto transformer = makeOptimizingTransformer(2, 0, nullptr);
  eo.transformer = transformer;
  eo.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
  eo.sharedLibPaths = libRefs;
  auto engine = ExecutionEngine::create(*clone, eo);
  if (!engine) {
    error = "JIT compilation failed: " + llvm::toString(engine.takeError());
    return nullptr;
  }
  jit->engine_ = std::move(*engine);
  jit->engine_->initialize();
  return jit;
}

std::unique_ptr<JitModule> JitModule::compileAndBind(ModuleOp module,
                                                     StringRef entry,
                                                     const JitOptions &options,
                                                     std::string &error) {
  auto jit = compile(module, entry, options, error);
  if (!jit || jit->params().empty())
    return jit;
  std::string diag;
  llvm::raw_string_ostream diagOs(diag);
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && diag.empty())
      diagOs << d.str();
    return success();
  });
  params::ParamStore *store = getParamStore(module, /*headerOnly=*/false);
  if (!store) {
    error = diag;
    return nullptr;
  }
  if (!jit->bindParams(*store, error))
    return nullptr;
  return jit;
}

std::unique_ptr<JitModule>
JitModule::loadFile(MLIRContext *ctx, const std::string &path, StringRef entry,
                    const JitOptions &options, std::string &error) {
  OwningOpRef<ModuleOp> module = parseModuleFile(ctx, path, error);
  if (!module)
    return nullptr;
  auto jit = compileAndBind(*module, entry, options, error);
  if (!jit)
    error = path + ": " + error;
  return jit;
}

bool JitModule::bindParams(const params::ParamStore &store,
                           std::string &error) {
  paramData_.clear();
  paramCopies_.clear();
  paramCopies_.reserve(params_.size());
  for (const TensorSpec &p : params_) {
    const params::ParamRef *ref = store.lookup(p.paramName);
    if (!ref) {
      error = "parameter \"" + p.paramName + "\" is not in any archive";
      return false;
    }
    if (!sameStorage(ref->dtype, p.dtype) || ref->shape != p.shape) {
      TensorSpec stored{ref->dtype, ref->shape, ""};
      error = "parameter \"" + p.paramName + "\" is " + stored.describe() +
              " in " + ref->source + " but the module expects " + p.describe();
      return false;
    }
    if (!ref->data) {
      error = "parameter \"" + p.paramName + "\": archive " + ref->source +
              " was opened without data";
      return false;
    }
    size_t align = params::dtypeSize(p.dtype);
    if (reinterpret_cast<uintptr_t>(ref->data) % align == 0) {
      paramData_.push_back(ref->data);
    } else {
      // safetensors promises no alignment; compiled loads assume it.
      uint64_t n = 1;
      for (int64_t d : p.shape)
        n *= d;
      paramCopies_.emplace_back(ref->data, ref->data + n * align);
      paramData_.push_back(paramCopies_.back().data());
    }
  }
  return true;
}

bool JitModule::run(const std::vector<HostTensor> &inputs,
                    std::vector<HostTensor> &outputs, std::string &error) {
  if (paramData_.size() != params_.size()) {
    error = "parameters are not bound";
    return false;
  }
  if (inputs.size() != inputs_.size()) {
    error = "@" + entry_ + " takes " + std::to_string(inputs_.size()) +
            " inputs, got " + std::to_string(inputs.size());
    return false;
  }
  // Kernels may update buffers in place (the KV cache), so the call works on
  // copies of the caller's inputs.
  std::vector<std::vector<uint8_t>> inputCopies;
  std::vector<Descriptor> descs;
  std::set<const void *> ownedByUs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec &spec = inputs_[i];
    const HostTensor &in = inputs[i];
    bool ok = sameStorage(in.dtype, spec.dtype) &&
              in.shape.size() == spec.shape.size();
    for (size_t d = 0; ok && d < in.shape.size(); ++d)
      ok = ShapedType::isDynamic(spec.shape[d]) || spec.shape[d] == in.shape[d];
    if (!ok) {
      error = "input " + std::to_string(i) + " is " + in.describe() + " but @" +
              entry_ + " expects " + spec.describe();
      return false;
    }
    inputCopies.push_back(in.bytes);
    // A non-null pointer even for empty tensors.
    if (inputCopies.back().empty())
      inputCopies.back().resize(8);
    ownedByUs.insert(inputCopies.back().data());
    descs.push_back(Descriptor::make(inputCopies.back().data(), in.shape));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    ownedByUs.insert(paramData_[i]);
    descs.push_back(Descriptor::make(paramData_[i], params_[i].shape));
  }

  size_t resultWords = 0;
  for (const TensorSpec &r : results_)
    resultWords += 3 + 2 * r.shape.size();
  std::vector<int64_t> resultStorage(std::max<size_t>(resultWords, 1), 0);

  std::vector<void *> descPtrs;
  for (Descriptor &d : descs)
    descPtrs.push_back(d.words.data());
  void *resultPtr = resultStorage.data();
  std::vector<void *> args;
  if (!results_.empty())
    args.push_back(&resultPtr);
  for (void *&p : descPtrs)
    args.push_back(&p);

  attn_rt_take_error();
  if (llvm::Error err = engine_->invokePacked("_mlir_ciface_" + entry_, args)) {
    error = "call failed: " + llvm::toString(std::move(err));
    return false;
  }
  const char *rtError = attn_rt_take_error();

  // Copy results out (honouring strides) and free what the callee allocated.
  outputs.clear();
  std::set<void *> freed;
  size_t w = 0;
  for (const TensorSpec &spec : results_) {
    size_t r = spec.shape.size();
    void *allocated, *aligned;
    std::memcpy(&allocated, &resultStorage[w], sizeof(void *));
    std::memcpy(&aligned, &resultStorage[w + 1], sizeof(void *));
    int64_t offset = resultStorage[w + 2];
    std::vector<int64_t> sizes(&resultStorage[w + 3],
                               &resultStorage[w + 3 + r]);
    std::vector<int64_t> strides(&resultStorage[w + 3 + r],
                                 &resultStorage[w + 3 + 2 * r]);
    w += 3 + 2 * r;
    HostTensor out = HostTensor::zeros(spec.dtype, sizes);
    size_t es = params::dtypeSize(spec.dtype);
    const uint8_t *base = static_cast<const uint8_t *>(aligned) + offset * es;
    uint64_t n = out.numElements();
    std::vector<int64_t> idx(r, 0);
    for (uint64_t e = 0; e < n; ++e) {
      int64_t off = 0;
      for (size_t d = 0; d < r; ++d)
        off += idx[d] * strides[d];
      std::memcpy(out.bytes.data() + e * es, base + off * es, es);
      for (size_t d = r; d-- > 0;) {
        if (++idx[d] < sizes[d])
          break;
        idx[d] = 0;
      }
    }
    outputs.push_back(std::move(out));
    if (allocated && !ownedByUs.count(allocated) && !freed.count(allocated)) {
      bool aliasesInput = false;
      for (auto &c : inputCopies)
        if (allocated >= static_cast<void *>(c.data()) &&
            allocated < static_cast<void *>(c.data() + c.size()))
          aliasesInput = true;
      if (!aliasesInput) {
        std::free(allocated);
        freed.insert(allocated);
      }
    }
  }
  if (rtError) {
    error = std::string("runtime error: ") + rtError;
    return false;
  }
  return true;
}

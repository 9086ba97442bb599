//===- Bindings.cpp - attenuate._attenuate: the C++ API for Python --------===//
//
// A thin layer: contexts, modules, pass pipelines, parameters, the JIT and
// the language-model drivers, each a call into the same C++ the tools use.
// The public, documented API (type hints, docstrings, argument checks with
// clear ValueErrors) is the pure-Python package around this module.
//
// Errors: every MLIR diagnostic emitted during a call is collected; a failed
// call raises attenuate.errors.AttnError carrying them (severity, location,
// message, notes). Nothing here may abort the interpreter: inputs are
// checked before they reach code that asserts.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"
#include "attenuate/Execution/JitModule.h"
#include "attenuate/Execution/LanguageModel.h"
#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Import/HuggingFace.h"
#include "attenuate/Params/ParamStore.h"
#include "attenuate/Params/Safetensors.h"
#include "attenuate/Runtime/attn_runtime.h"
#include "attenuate/Support/VerifierGuard.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unistd.h>
#include <vector>

namespace py = pybind11;
using namespace mlir;
using attenuate::exec::HostTensor;
namespace params = attenuate::params;

namespace {

//===----------------------------------------------------------------------===//
// Diagnostics and errors
//===----------------------------------------------------------------------===//

struct Diag {
  std::string severity, location, message;
  std::vector<std::string> notes;
};

/// Thrown by the bindings; translated to attenuate.errors.AttnError.
struct AttnFailure : std::exception {
  std::string message;
  std::vector<Diag> diags;
  AttnFailure(std::string message, std::vector<Diag> diags = {})
      : message(std::move(message)), diags(std::move(diags)) {}
  const char *what() const noexcept override { return message.c_str(); }
};

const char *severityName(DiagnosticSeverity s) {
  switch (s) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Note:
    return "note";
  case DiagnosticSeverity::Remark:
    return "remark";
  }
  return "error";
}

/// `file:line:col` for file locations (the form compilers print), the name
/// for the importer's named locations, "<unknown>" otherwise.
std::string locationString(Location loc) {
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location l : fused.getLocations()) {
      std::string s = locationString(l);
      if (s != "<unknown>")
        return s;
    }
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return file.getFilename().str() + ":" + std::to_string(file.getLine()) +
           ":" + std::to_string(file.getColumn());
  if (auto name = dyn_cast<NameLoc>(loc)) {
    std::string child = locationString(name.getChildLoc());
    return child == "<unknown>" ? name.getName().str()
                                : name.getName().str() + " (" + child + ")";
  }
  if (auto call = dyn_cast<CallSiteLoc>(loc))
    return locationString(call.getCallee());
  return "<unknown>";
}

/// Collects every diagnostic emitted in the context while alive. When the
/// source text is known (parsing), error lines quote the offending line.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext *ctx,
                               const llvm::SourceMgr *sm = nullptr)
      : sourceMgr(sm), handler(ctx, [this](Diagnostic &d) {
          Diag out;
          out.severity = severityName(d.getSeverity());
          out.location = locationString(d.getLocation());
          out.message = d.str();
          for (Diagnostic &n : d.getNotes())
            out.notes.push_back(locationString(n.getLocation()) +
                                ": note: " + n.str());
          diags.push_back(std::move(out));
          if (d.getSeverity() == DiagnosticSeverity::Error)
            excerpts.push_back(excerpt(d.getLocation()));
          else
            excerpts.push_back("");
          return success();
        }) {}

  bool hasErrors() const {
    for (const Diag &d : diags)
      if (d.severity == "error")
        return true;
    return false;
  }

  /// The errors, one per line (`loc: error: message`), with notes and, for
  /// parse errors, the source line and a caret under the column.
  std::string errorText(const std::string &fallback) const {
    std::string text;
    for (size_t i = 0; i < diags.size(); ++i) {
      const Diag &d = diags[i];
      if (d.severity != "error")
        continue;
      if (!text.empty())
        text += "\n";
      text += d.location + ": error: " + d.message;
      if (!excerpts[i].empty())
        text += "\n" + excerpts[i];
      for (const std::string &n : d.notes)
        text += "\n" + n;
    }
    return text.empty() ? fallback : text;
  }

  [[noreturn]] void fail(const std::string &fallback) const {
    throw AttnFailure(errorText(fallback), diags);
  }

  /// Everything but errors (remarks and warnings the passes emitted).
  std::vector<Diag> nonErrors() const {
    std::vector<Diag> out;
    for (const Diag &d : diags)
      if (d.severity != "error")
        out.push_back(d);
    return out;
  }

  std::vector<Diag> diags;

private:
  std::string excerpt(Location loc) const {
    auto file = dyn_cast<FileLineColLoc>(loc);
    if (!sourceMgr || !file || sourceMgr->getNumBuffers() == 0)
      return "";
    const llvm::MemoryBuffer *buf =
        sourceMgr->getMemoryBuffer(sourceMgr->getMainFileID());
    if (buf->getBufferIdentifier() != file.getFilename().getValue())
      return "";
    StringRef text = buf->getBuffer();
    unsigned line = file.getLine();
    size_t start = 0;
    for (unsigned l = 1; l < line && start != StringRef::npos; ++l) {
      start = text.find('\n', start);
      if (start != StringRef::npos)
        ++start;
    }
    if (start == StringRef::npos || start > text.size())
      return "";
    StringRef lineText = text.substr(start).split('\n').first;
    // Binary input makes a useless excerpt.
    if (lineText.size() > 200 || llvm::any_of(lineText, [](char c) {
          return (c < 32 && c != '\t') || static_cast<unsigned char>(c) == 127;
        }))
      return "";
    std::string caret(file.getColumn() > 0 ? file.getColumn() - 1 : 0, ' ');
    return "  " + lineText.str() + "\n  " + caret + "^";
  }

  const llvm::SourceMgr *sourceMgr;
  std::vector<std::string> excerpts;
  ScopedDiagnosticHandler handler;
};

/// Runs `f` with file descriptor 2 sent to a temporary file and returns
/// what was written there. For the short, single-threaded moments when LLVM
/// reports through llvm::errs() instead of a stream we can pass.
std::string captureStderr(const std::function<void()> &f) {
  llvm::errs().flush();
  std::fflush(stderr);
  FILE *tmp = std::tmpfile();
  int saved = tmp ? ::dup(STDERR_FILENO) : -1;
  if (saved < 0 || ::dup2(::fileno(tmp), STDERR_FILENO) < 0) {
    if (saved >= 0)
      ::close(saved);
    if (tmp)
      std::fclose(tmp);
    f();
    return "";
  }
  f();
  llvm::errs().flush();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0)
    out.append(buf, n);
  std::fclose(tmp);
  return out;
}

py::list diagsToPython(const std::vector<Diag> &diags) {
  py::object cls = py::module_::import("attenuate.errors").attr("Diagnostic");
  py::list out;
  for (const Diag &d : diags)
    out.append(
        cls(d.severity, d.location, d.message, py::tuple(py::cast(d.notes))));
  return out;
}

//===----------------------------------------------------------------------===//
// Context and module
//===----------------------------------------------------------------------===//

/// An MLIRContext with every upstream dialect and attn, as the tools make
/// it (ToolSupport.h), and the lock that orders parameter writes against calls
/// that read them (a replaced tensor frees the bytes a running JIT could be
/// reading).
struct BoundContext {
  std::unique_ptr<MLIRContext> ctx;
  std::shared_mutex paramsMutex;

  explicit BoundContext(const std::vector<std::string> &archives) {
    attn::registerAllAttnToolPasses();
    ctx = attn::makeToolContext(archives);
  }
};

/// Python-facing type names of our dtypes (numpy's spelling).
std::string numpyName(params::DType t) {
  switch (t) {
  case params::DType::BOOL:
    return "bool";
  case params::DType::U8:
    return "uint8";
  case params::DType::I8:
    return "int8";
  case params::DType::U16:
    return "uint16";
  case params::DType::I16:
    return "int16";
  case params::DType::U32:
    return "uint32";
  case params::DType::I32:
    return "int32";
  case params::DType::U64:
    return "uint64";
  case params::DType::I64:
    return "int64";
  case params::DType::F16:
    return "float16";
  case params::DType::BF16:
    return "bfloat16";
  case params::DType::F32:
    return "float32";
  case params::DType::F64:
    return "float64";
  }
  return "?";
}

/// A numpy array holding `bytes` of `dtype` (bf16 widened to float32: numpy
/// has no bfloat16).
py::array toNumpy(params::DType dtype, const std::vector<int64_t> &shape,
                  const uint8_t *bytes) {
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  uint64_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<uint64_t>(d);
  if (dtype == params::DType::BF16) {
    py::array_t<float> out(dims);
    float *dst = out.mutable_data();
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      dst[i] = params::bf16ToFloat(h);
    }
    return out;
  }
  py::array out(py::dtype(numpyName(dtype)), dims);
  if (n)
    std::memcpy(out.mutable_data(), bytes, n * params::dtypeSize(dtype));
  return out;
}

/// The bytes of a C-contiguous numpy array as `dtype` (the Python layer has
/// checked dtype and shape; this re-checks the sizes so no bad copy can
/// happen). bf16 targets take float32 arrays.
std::vector<uint8_t> fromNumpy(params::DType dtype, const py::array &a) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("array must be C-contiguous");
  uint64_t n = static_cast<uint64_t>(a.size());
  std::vector<uint8_t> bytes;
  if (dtype == params::DType::BF16) {
    if (a.itemsize() != 4 || a.dtype().kind() != 'f')
      throw py::value_error("a bfloat16 tensor takes a float32 array");
    bytes.resize(2 * n);
    const float *src = static_cast<const float *>(a.data());
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h = params::floatToBf16(src[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    return bytes;
  }
  if (static_cast<size_t>(a.itemsize()) != params::dtypeSize(dtype))
    throw py::value_error("array of " + std::to_string(a.itemsize()) +
                          "-byte elements for a " + numpyName(dtype) +
                          " tensor");
  bytes.resize(n * a.itemsize());
  if (!bytes.empty())
    std::memcpy(bytes.data(), a.data(), bytes.size());
  return bytes;
}

std::vector<int64_t> shapeOf(const py::array &a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

struct ParamSpec {
  std::string name, dtype;
  std::vector<int64_t> shape;
};

class BoundModule {
public:
  BoundModule(std::shared_ptr<BoundContext> ctx, OwningOpRef<ModuleOp> op)
      : ctx(std::move(ctx)), op(std::move(op)) {}

  static std::shared_ptr<BoundModule> parse(std::shared_ptr<BoundContext> ctx,
                                            const std::string &text,
                                            const std::string &filename) {
    MLIRContext *c = ctx->ctx.get();
    llvm::SourceMgr sm;
    sm.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, filename),
                          llvm::SMLoc());
    DiagnosticCollector diags(c, &sm);
    OwningOpRef<ModuleOp> m = parseSourceFile<ModuleOp>(
        sm, ParserConfig(c, /*verifyAfterParse=*/false));
    if (m && failed(mlir::attn::verifyGuarded(*m)))
      m = nullptr;
    if (!m || diags.hasErrors())
      diags.fail(filename + ": not a valid MLIR module");
    return std::make_shared<BoundModule>(std::move(ctx), std::move(m));
  }

  std::string print(bool generic, bool debugInfo) {
    std::string s;
    llvm::raw_string_ostream os(s);
    OpPrintingFlags flags;
    if (generic)
      flags.printGenericOpForm();
    if (debugInfo)
      flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
    // An invalid module (a failed verify) prints in the generic form rather
    // than through custom printers that assume valid IR.
    DiagnosticCollector quiet(context());
    (*op)->print(os, flags);
    // What attn-opt writes (MlirOptMain ends the output with a newline), so
    // files saved from Python are byte-identical to the tool's.
    os << "\n";
    return s;
  }

  void verifyOrThrow() {
    DiagnosticCollector diags(context());
    if (failed(mlir::attn::verifyGuarded(*op)) || diags.hasErrors())
      diags.fail("the module does not verify");
  }

  std::shared_ptr<BoundModule> clone() {
    return std::make_shared<BoundModule>(
        ctx, OwningOpRef<ModuleOp>(cast<ModuleOp>((*op)->clone())));
  }

  /// Runs `pipeline` on a clone and keeps the result only on success, so a
  /// failing pass leaves the module as it was. Returns the remarks and
  /// warnings.
  std::vector<Diag> apply(const std::string &pipeline) {
    MLIRContext *c = context();
    DiagnosticCollector diags(c);
    std::string parseErrors;
    llvm::raw_string_ostream errOs(parseErrors);
    StringRef text = StringRef(pipeline).trim();
    // The anchored form of --pass-pipeline names the module itself.
    if (text.starts_with("builtin.module(") && text.ends_with(")"))
      text = text.drop_front(strlen("builtin.module(")).drop_back();
    PassManager pm(c);
    LogicalResult parsed = failure();
    std::string optionErrors =
        captureStderr([&] { parsed = parsePassPipeline(text, pm, errOs); });
    if (failed(parsed)) {
      // The option parser (llvm::cl) says why a value is bad on stderr
      // only; that line belongs in the exception.
      std::string why = StringRef(optionErrors).trim().str();
      if (!why.empty())
        why = StringRef(why).ltrim(": ").str() + "; ";
      throw AttnFailure("invalid pass pipeline '" + pipeline + "': " + why +
                            StringRef(parseErrors).trim().str(),
                        diags.diags);
    }
    if (!optionErrors.empty())
      llvm::errs() << optionErrors;
    OwningOpRef<ModuleOp> work(cast<ModuleOp>((*op)->clone()));
    LogicalResult result = failure();
    {
      // GIL first, then the lock (and the reverse on the way out): a thread
      // holding the GIL never waits for the lock.
      py::gil_scoped_release release;
      std::unique_lock<std::shared_mutex> lock(ctx->paramsMutex);
      result = pm.run(*work);
    }
    if (failed(result) || diags.hasErrors())
      diags.fail("pass pipeline '" + pipeline + "' failed");
    op = std::move(work);
    jits.clear();
    return diags.nonErrors();
  }

  std::string report(int64_t seqLen, const std::string &label,
                     const std::string &format) {
    if (seqLen < 1)
      throw py::value_error("seq_len must be >= 1, got " +
                            std::to_string(seqLen));
    llvm::SmallString<128> path;
    if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
            "attn-report", format == "json" ? "json" : "txt", path))
      throw AttnFailure("cannot create a temporary file for the report: " +
                        ec.message());
    attn::AttnReportPassOptions opts;
    opts.format = format;
    opts.output = path.str().str();
    opts.seqLen = seqLen;
    opts.label = label;
    DiagnosticCollector diags(context());
    PassManager pm(context());
    pm.addPass(attn::createAttnReportPass(opts));
    LogicalResult result = pm.run(*op);
    std::string text;
    if (auto buf = llvm::MemoryBuffer::getFile(path))
      text = (*buf)->getBuffer().str();
    llvm::sys::fs::remove(path);
    if (failed(result) || diags.hasErrors())
      diags.fail("attn-report failed");
    return text;
  }

  /// Every attn.param of the module (first use of each name), with the type
  /// the IR declares: the type the JIT binds and replacements must match.
  std::vector<ParamSpec> paramSpecs() {
    std::vector<ParamSpec> out;
    std::set<std::string> seen;
    (*op)->walk([&](attn::ParamOp p) {
      std::string name = p.getName().str();
      if (!seen.insert(name).second)
        return;
      auto t = dyn_cast<RankedTensorType>(p.getType());
      ParamSpec s{name, "?", {}};
      if (t) {
        if (auto dt = mlir::attn::storageDTypeOf(t.getElementType()))
          s.dtype = numpyName(*dt);
        s.shape.assign(t.getShape().begin(), t.getShape().end());
      }
      out.push_back(std::move(s));
    });
    return out;
  }

  py::array readParam(const std::string &name) {
    HostTensor t;
    {
      py::gil_scoped_release release;
      std::shared_lock<std::shared_mutex> lock(ctx->paramsMutex);
      const params::ParamRef *ref = lookupOrThrow(name);
      t.dtype = ref->dtype;
      t.shape = ref->shape;
      t.bytes.assign(ref->data, ref->data + numBytes(*ref));
    }
    return toNumpy(t.dtype, t.shape, t.bytes.data());
  }

  void setParam(const std::string &name, const std::string &dtypeName,
                const py::array &array) {
    std::optional<params::DType> dtype = parseNumpyName(dtypeName);
    if (!dtype)
      throw py::value_error("unsupported dtype " + dtypeName);
    std::vector<uint8_t> bytes = fromNumpy(*dtype, array);
    std::vector<int64_t> shape = shapeOf(array);
    py::gil_scoped_release release;
    std::unique_lock<std::shared_mutex> lock(ctx->paramsMutex);
    params::ParamStore *store = storeOrThrow(/*headerOnly=*/false);
    std::string error;
    if (!store->addTensor(name, *dtype, std::move(shape), std::move(bytes),
                          error))
      throw py::value_error(error);
    // Compiled functions bind parameters at each call; nothing to drop.
  }

  /// Writes the named parameters (all of the module's when empty) into one
  /// safetensors file.
  void saveParams(const std::string &path, std::vector<std::string> names) {
    if (names.empty())
      for (const ParamSpec &s : paramSpecs())
        names.push_back(s.name);
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> lock(ctx->paramsMutex);
    std::vector<params::TensorToWrite> tensors;
    for (const std::string &n : names) {
      const params::ParamRef *ref = lookupOrThrow(n);
      tensors.push_back({n, ref->dtype, ref->shape, ref->data});
    }
    std::string error;
    if (!params::SafetensorsWriter::writeFile(path, tensors, {}, error))
      throw AttnFailure(error);
  }

  /// Names the module uses whose tensors exist only in memory (made by a
  /// pass or replaced from Python).
  std::vector<std::string> inMemoryParams() {
    py::gil_scoped_release release;
    std::shared_lock<std::shared_mutex> lock(ctx->paramsMutex);
    params::ParamStore *store = storeOrThrow(/*headerOnly=*/true);
    std::vector<std::string> out;
    for (const ParamSpec &s : paramSpecs())
      if (const params::ParamRef *ref = store->lookup(s.name);
          ref && ref->source == "<memory>")
        out.push_back(s.name);
    return out;
  }

  /// What `attn-opt --attn-params-out=path` does, for a module about to be
  /// written to `modulePath`: the in-memory tensors the module uses go to
  /// `path`, which is recorded first in attn.params (relative to the
  /// module's directory), and the module's location becomes `modulePath` so
  /// relative archive paths resolve as they will when the file is read
  /// back. If a tensor replaced from Python shadows one in the archives (two
  /// archives may not hold the same name), every parameter of the module is
  /// written and `path` becomes the only archive.
  void writeParams(const std::string &path, const std::string &modulePath) {
    std::vector<std::string> memory = inMemoryParams();
    std::string dir = llvm::sys::path::parent_path(modulePath).str();
    std::vector<std::string> archives = attn::getArchivePaths(*op);
    bool shadows = false;
    {
      params::ParamStore plain(/*headerOnly=*/true);
      std::string error;
      for (const std::string &a : archives)
        if (!plain.addArchive(a, error))
          throw AttnFailure(error);
      for (const std::string &n : memory)
        shadows |= plain.lookup(n) != nullptr;
    }
    std::vector<std::string> names = memory;
    if (shadows) {
      names.clear();
      for (const ParamSpec &s : paramSpecs())
        names.push_back(s.name);
    }
    std::vector<std::string> recorded;
    if (!names.empty()) {
      saveParams(path, names);
      recorded.push_back(recordedPath(path, dir));
    }
    if (!shadows)
      for (const std::string &a : archives)
        recorded.push_back(recordedPath(a, dir));
    Builder b(context());
    SmallVector<Attribute> list;
    for (const std::string &p : recorded)
      list.push_back(b.getStringAttr(p));
    if (!list.empty() || (*op)->hasAttr(attn::AttnDialect::kParamsAttrName))
      (*op)->setAttr(attn::AttnDialect::kParamsAttrName, b.getArrayAttr(list));
    relocate(modulePath);
  }

  /// The module now lives at `path`: relative archive paths resolve against
  /// its directory.
  void relocate(const std::string &path) {
    llvm::SmallString<256> abs(path);
    (void)llvm::sys::fs::make_absolute(abs);
    (*op)->setLoc(FileLineColLoc::get(context(), abs.str(), 1, 1));
    jits.clear();
  }

  std::vector<std::string> archives() { return attn::getArchivePaths(*op); }

  std::vector<std::string> functions() {
    std::vector<std::string> out;
    for (auto fn : op->getOps<func::FuncOp>())
      if (!fn.isExternal())
        out.push_back(fn.getSymName().str());
    return out;
  }

  /// The compiled entry (cached until the module changes), with its
  /// parameters bound from the module's store.
  attn::JitModule &jit(const std::string &entry, bool reference) {
    auto key = std::make_pair(entry, reference);
    auto it = jits.find(key);
    if (it == jits.end()) {
      DiagnosticCollector diags(context());
      std::string error;
      std::unique_ptr<attn::JitModule> j;
      {
        py::gil_scoped_release release;
        j = attn::JitModule::compile(*op, entry, {reference, {}}, error);
      }
      if (!j)
        throw AttnFailure(error, diags.diags);
      it = jits.emplace(key, std::move(j)).first;
    }
    return *it->second;
  }

  /// Binds parameters from the store; the caller holds paramsMutex.
  void bind(attn::JitModule &j) {
    if (j.params().empty())
      return;
    params::ParamStore *store = storeOrThrow(/*headerOnly=*/false);
    std::string error;
    if (!j.bindParams(*store, error))
      throw AttnFailure(error);
  }

  py::tuple signature(const std::string &entry, bool reference) {
    attn::JitModule &j = jit(entry, reference);
    auto specs = [](const std::vector<attn::TensorSpec> &v) {
      py::list out;
      for (const attn::TensorSpec &s : v) {
        py::list shape;
        for (int64_t d : s.shape)
          shape.append(ShapedType::isDynamic(d) ? py::object(py::none())
                                                : py::object(py::int_(d)));
        out.append(
            py::make_tuple(numpyName(s.dtype), py::tuple(shape), s.paramName));
      }
      return out;
    };
    return py::make_tuple(specs(j.inputs()), specs(j.results()),
                          specs(j.params()));
  }

  py::list run(const std::string &entry, bool reference,
               const std::vector<py::array> &arrays) {
    attn::JitModule &j = jit(entry, reference);
    if (arrays.size() != j.inputs().size())
      throw py::value_error("@" + entry + " takes " +
                            std::to_string(j.inputs().size()) +
                            " inputs, got " + std::to_string(arrays.size()));
    std::vector<HostTensor> inputs;
    for (size_t i = 0; i < arrays.size(); ++i) {
      HostTensor t;
      t.dtype = j.inputs()[i].dtype;
      t.shape = shapeOf(arrays[i]);
      t.bytes = fromNumpy(t.dtype, arrays[i]);
      inputs.push_back(std::move(t));
    }
    std::vector<HostTensor> outputs;
    std::string error;
    bool ok;
    {
      py::gil_scoped_release release;
      std::shared_lock<std::shared_mutex> lock(ctx->paramsMutex);
      bind(j);
      ok = j.run(inputs, outputs, error);
    }
    if (!ok)
      throw AttnFailure(error);
    py::list out;
    for (const HostTensor &t : outputs)
      out.append(toNumpy(t.dtype, t.shape, t.bytes.data()));
    return out;
  }

  py::dict evaluate(const std::vector<int64_t> &ids, const std::string &entry,
                    bool reference, int64_t context, int64_t stride,
                    int64_t batch, const std::string &progressTool) {
    attn::JitModule &j = jit(entry, reference);
    // The signature before the parameters, so a module that is not a
    // language model says so rather than naming a missing parameter.
    int64_t vocab;
    std::string error;
    if (!attn::checkLanguageModelForward(j, vocab, error))
      throw py::value_error(error);
    attn::EvalOptions opts;
    opts.context = context;
    opts.stride = stride;
    opts.batch = batch;
    opts.progressTool = progressTool;
    attn::EvalResult r;
    bool ok;
    {
      py::gil_scoped_release release;
      std::shared_lock<std::shared_mutex> lock(ctx->paramsMutex);
      bind(j);
      ok = attn::evaluateLanguageModel(j, ids, opts, r, error);
    }
    if (!ok)
      throw py::value_error(error);
    py::dict d;
    d["nats"] = r.nats;
    d["scored"] = r.scored;
    d["windows"] = r.windows;
    d["context"] = r.context;
    d["stride"] = r.stride;
    d["tokens_run"] = r.tokensRun;
    d["seconds"] = r.seconds;
    return d;
  }

  py::dict calibrate(const std::vector<int64_t> &ids, const std::string &out,
                     const std::string &entry, int64_t context, int64_t batch,
                     int64_t maxTokens, bool rp, int64_t kvSamples,
                     const std::string &progressTool) {
    attn::CalibrateOptions opts;
    opts.entry = entry;
    opts.context = context;
    opts.batch = batch;
    opts.maxTokens = maxTokens;
    opts.perHeadRP = rp;
    opts.kvSamples = kvSamples;
    opts.progressTool = progressTool;
    attn::CalibrateResult r;
    std::string error;
    bool ok;
    {
      py::gil_scoped_release release;
      std::shared_lock<std::shared_mutex> lock(ctx->paramsMutex);
      ok = attn::calibrateLanguageModel(*op, ids, opts, out,
                                        {{"module", "<python>"}}, r, error);
    }
    if (!ok)
      throw AttnFailure(error);
    py::dict d;
    d["tokens"] = r.tokens;
    d["sequences"] = r.sequences;
    d["compile_seconds"] = r.compileSeconds;
    return d;
  }

  std::shared_ptr<BoundContext> ctx;
  OwningOpRef<ModuleOp> op;

private:
  MLIRContext *context() { return ctx->ctx.get(); }

  /// A parameter with its data; the caller holds paramsMutex.
  const params::ParamRef *lookupOrThrow(const std::string &name) {
    params::ParamStore *store = storeOrThrow(/*headerOnly=*/false);
    const params::ParamRef *ref = store->lookup(name);
    if (!ref)
      throw py::key_error("parameter \"" + name +
                          "\" is not in the module's "
                          "archives (" +
                          archivesText() + ")");
    if (!ref->data && numBytes(*ref))
      throw AttnFailure("parameter \"" + name + "\": " + ref->source +
                        " was opened without data");
    return ref;
  }

  static uint64_t numBytes(const params::ParamRef &ref) {
    uint64_t n = params::dtypeSize(ref.dtype);
    for (int64_t d : ref.shape)
      n *= static_cast<uint64_t>(d);
    return n;
  }

  params::ParamStore *storeOrThrow(bool headerOnly) {
    DiagnosticCollector diags(context());
    params::ParamStore *store = attn::getParamStore(*op, headerOnly);
    if (!store)
      diags.fail("cannot open the module's parameter archives");
    return store;
  }

  std::string archivesText() {
    std::string s;
    for (const std::string &a : attn::getArchivePaths(*op))
      s += (s.empty() ? "" : ", ") + a;
    return s.empty() ? "none" : s;
  }

  static std::optional<params::DType> parseNumpyName(const std::string &n) {
    for (params::DType t :
         {params::DType::BOOL, params::DType::U8, params::DType::I8,
          params::DType::U16, params::DType::I16, params::DType::U32,
          params::DType::I32, params::DType::U64, params::DType::I64,
          params::DType::F16, params::DType::BF16, params::DType::F32,
          params::DType::F64})
      if (numpyName(t) == n)
        return t;
    return std::nullopt;
  }

  /// `p` relative to `dir` when inside it, absolute otherwise (the rule of
  /// attn-write-params).
  static std::string recordedPath(const std::string &p,
                                  const std::string &dir) {
    llvm::SmallString<256> abs(p);
    (void)llvm::sys::fs::make_absolute(abs);
    llvm::sys::path::remove_dots(abs, true);
    if (dir.empty())
      return abs.str().str();
    llvm::SmallString<256> base(dir);
    (void)llvm::sys::fs::make_absolute(base);
    llvm::sys::path::remove_dots(base, true);
    StringRef a = abs, b = base;
    if (a.starts_with(b) && a.size() > b.size() &&
        llvm::sys::path::is_separator(a[b.size()]))
      return a.drop_front(b.size() + 1).str();
    return abs.str().str();
  }

  std::map<std::pair<std::string, bool>, std::unique_ptr<attn::JitModule>> jits;
};

std::shared_ptr<BoundModule> importHF(std::shared_ptr<BoundContext> ctx,
                                      const std::string &dir) {
  MLIRContext *c = ctx->ctx.get();
  DiagnosticCollector diags(c);
  std::string error;
  attn::HFImportOptions opts; // absolute archive paths: no file yet
  auto m = attn::importHuggingFace(c, dir, opts, error);
  if (failed(m))
    throw AttnFailure(error, diags.diags);
  // Diagnostics about the module as a whole then name the checkpoint. A
  // name (not a file) location keeps archive paths as recorded: absolute.
  (**m)->setLoc(NameLoc::get(StringAttr::get(c, dir)));
  return std::make_shared<BoundModule>(std::move(ctx), std::move(*m));
}

/// A pass or pass pipeline of that name is registered (the Python layer
/// uses it to say which compression passes this build has).
bool isRegisteredPass(const std::string &name) {
  attn::registerAllAttnToolPasses();
  return PassInfo::lookup(name) != nullptr ||
         PassPipelineInfo::lookup(name) != nullptr;
}

} // namespace

PYBIND11_MODULE(_attenuate, m) {
  m.doc() = "Native core of attenuate (see the attenuate package for the "
            "documented API).";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const AttnFailure &e) {
      py::object cls =
          py::module_::import("attenuate.errors").attr("AttnError");
      py::object exc = cls(e.message, diagsToPython(e.diags));
      PyErr_SetObject(cls.ptr(), exc.ptr());
    }
  });

  py::class_<BoundContext, std::shared_ptr<BoundContext>>(m, "Context")
      .def(py::init<const std::vector<std::string> &>(),
           py::arg("archives") = std::vector<std::string>{});

  py::class_<BoundModule, std::shared_ptr<BoundModule>>(m, "Module")
      .def_static("parse", &BoundModule::parse, py::arg("context"),
                  py::arg("text"), py::arg("filename"))
      .def("print", &BoundModule::print, py::arg("generic") = false,
           py::arg("debug_info") = false)
      .def("verify", &BoundModule::verifyOrThrow)
      .def("clone", &BoundModule::clone)
      .def("apply",
           [](BoundModule &self, const std::string &pipeline) {
             return diagsToPython(self.apply(pipeline));
           })
      .def("report", &BoundModule::report)
      .def("param_specs",
           [](BoundModule &self) {
             py::list out;
             for (const ParamSpec &s : self.paramSpecs())
               out.append(py::make_tuple(s.name, s.dtype,
                                         py::tuple(py::cast(s.shape))));
             return out;
           })
      .def("read_param", &BoundModule::readParam)
      .def("set_param", &BoundModule::setParam)
      .def("save_params", &BoundModule::saveParams)
      .def("in_memory_params", &BoundModule::inMemoryParams)
      .def("write_params", &BoundModule::writeParams)
      .def("relocate", &BoundModule::relocate)
      .def("archives", &BoundModule::archives)
      .def("functions", &BoundModule::functions)
      .def("signature", &BoundModule::signature)
      .def("run", &BoundModule::run)
      .def("evaluate", &BoundModule::evaluate)
      .def("calibrate", &BoundModule::calibrate);

  m.def("import_hf", &importHF, py::arg("context"), py::arg("dir"));
  m.def("is_registered_pass", &isRegisteredPass, py::arg("name"));
  m.def("set_num_threads", [](int n) { attn_set_num_threads(n); });
}

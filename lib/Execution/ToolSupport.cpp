//===- ToolSupport.cpp - what every Attenuate tool sets up ----------------===//

#include "attenuate/Execution/ToolSupport.h"
#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Execution/Npy.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"
#include "attenuate/Support/VerifierGuard.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using attenuate::exec::HostTensor;
namespace params = attenuate::params;

void mlir::attn::registerAllAttnToolPasses() {
  static bool once = [] {
    registerAllPasses();
    registerAttnPasses();
    registerAttnConversionPasses();
    registerAttnPipelines();
    return true;
  }();
  (void)once;
}

std::unique_ptr<MLIRContext>
mlir::attn::makeToolContext(const std::vector<std::string> &paramsOverride) {
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAttnDialect(registry);
  auto ctx = std::make_unique<MLIRContext>(registry);
  ctx->loadAllAvailableDialects();
  ParamOptions opts;
  opts.archivesOverride = paramsOverride;
  setParamOptions(ctx.get(), std::move(opts));
  return ctx;
}

OwningOpRef<ModuleOp> mlir::attn::parseModuleFile(MLIRContext *ctx,
                                                  const std::string &path,
                                                  std::string &error) {
  std::string diag;
  llvm::raw_string_ostream diagOs(diag);
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && diag.empty())
      diagOs << d.getLocation() << ": " << d.str();
    return success();
  });
  auto buf = llvm::MemoryBuffer::getFileOrSTDIN(path);
  if (!buf) {
    error = path + ": cannot open: " + buf.getError().message();
    return nullptr;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buf), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(
      sourceMgr, ParserConfig(ctx, /*verifyAfterParse=*/false));
  if (module && failed(verifyGuarded(*module)))
    module = nullptr;
  if (!module)
    error = path + ": " + diag;
  return module;
}

bool mlir::attn::readTokenStream(const std::string &textPath,
                                 const std::string &npyPath,
                                 std::vector<int64_t> &ids,
                                 std::string &error) {
  ids.clear();
  if (textPath.empty() == npyPath.empty()) {
    error = "give exactly one of --text=FILE or --tokens=FILE.npy";
    return false;
  }
  if (!textPath.empty()) {
    auto buf = llvm::MemoryBuffer::getFile(textPath, /*IsText=*/false);
    if (!buf) {
      error = textPath + ": cannot open: " + buf.getError().message();
      return false;
    }
    for (unsigned char c : (*buf)->getBuffer())
      ids.push_back(c);
    return true;
  }
  HostTensor t;
  if (!attenuate::exec::readNpy(npyPath, t, error))
    return false;
  if (t.shape.size() != 1) {
    error =
        npyPath + ": expected a 1-D array of token ids, got " + t.describe();
    return false;
  }
  for (uint64_t i = 0; i < t.numElements(); ++i) {
    switch (t.dtype) {
    case params::DType::I64:
      ids.push_back(t.data<int64_t>()[i]);
      break;
    case params::DType::I32:
      ids.push_back(t.data<int32_t>()[i]);
      break;
    case params::DType::U16:
      ids.push_back(t.data<uint16_t>()[i]);
      break;
    case params::DType::U8:
      ids.push_back(t.data<uint8_t>()[i]);
      break;
    default:
      error = npyPath +
              ": token ids must be int64, int32, uint16 or uint8, "
              "got " +
              t.describe();
      return false;
    }
  }
  return true;
}

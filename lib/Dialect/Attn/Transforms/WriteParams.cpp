//===- WriteParams.cpp - attn-write-params --------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNWRITEPARAMSPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// `path` relative to `dir` when both are known and `path` is inside or next
/// to it; absolute otherwise.
std::string recordedPath(StringRef path, StringRef dir) {
  llvm::SmallString<256> abs(path);
  (void)llvm::sys::fs::make_absolute(abs);
  if (dir.empty())
    return abs.str().str();
  llvm::SmallString<256> base(dir);
  (void)llvm::sys::fs::make_absolute(base);
  llvm::sys::path::remove_dots(abs, true);
  llvm::sys::path::remove_dots(base, true);
  StringRef a = abs, b = base;
  if (a.starts_with(b) && a.size() > b.size() &&
      llvm::sys::path::is_separator(a[b.size()]))
    return a.drop_front(b.size() + 1).str();
  return abs.str().str();
}

struct AttnWriteParamsPass
    : mlir::attn::impl::AttnWriteParamsPassBase<AttnWriteParamsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (path.empty() && relativeTo.empty()) {
      mlir::emitError(module.getLoc())
          << "attn-write-params: option 'path' or 'relative-to' is required";
      return signalPassFailure();
    }
    Builder b(&getContext());
    SmallVector<Attribute> list;
    // Without a path nothing is written, and the archives are not opened:
    // the module may name ones this run never needed.
    if (!path.empty()) {
      params::ParamStore *store = getParamStore(module, /*headerOnly=*/false);
      if (!store)
        return signalPassFailure();
      if (store->hasAddedTensors()) {
        std::string error;
        if (!store->writeAdded(path, error)) {
          mlir::emitError(module.getLoc())
              << "attn-write-params: option 'path': " << error;
          return signalPassFailure();
        }
        // The new archive first; the ones the module already used after it.
        list.push_back(b.getStringAttr(recordedPath(path, relativeTo)));
      }
    }
    bool hasList = static_cast<bool>(
        module->getAttrOfType<ArrayAttr>(AttnDialect::kParamsAttrName));
    if (list.empty() && (!hasList || relativeTo.empty()))
      return markAllAnalysesPreserved();
    // Where the module's archives are once the module lives in relativeTo
    // (its source directory no longer resolves relative entries).
    if (hasList)
      for (const std::string &p : getArchivePaths(module))
        list.push_back(b.getStringAttr(recordedPath(p, relativeTo)));
    module->setAttr(AttnDialect::kParamsAttrName, b.getArrayAttr(list));
  }
};

} // namespace

//===- AttnParamStore.cpp - resolving attn.param against archives ---------===//

#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/IR/AttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::attn;

params::ParamStore *
ParamRegistry::getOrOpen(const std::vector<std::string> &paths, bool headerOnly,
                         std::string &error) {
  std::lock_guard<std::mutex> lock(mutex);
  // A full store also serves header-only users.
  if (auto it = stores.find({paths, false}); it != stores.end())
    return it->second.get();
  auto key = std::make_pair(paths, headerOnly);
  if (auto it = stores.find(key); it != stores.end())
    return it->second.get();
  auto store = std::make_unique<params::ParamStore>(headerOnly);
  for (const std::string &p : paths)
    if (!store->addArchive(p, error))
      return nullptr;
  return (stores[key] = std::move(store)).get();
}

/// The directory of the file the module was parsed from, if known.
static std::string moduleDirectory(ModuleOp module) {
  Location loc = module.getLoc();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    if (!fused.getLocations().empty())
      loc = fused.getLocations().front();
  if (auto file = dyn_cast<FileLineColRange>(loc)) {
    StringRef name = file.getFilename().getValue();
    if (name.empty() || name == "-" || name == "<stdin>")
      return "";
    return llvm::sys::path::parent_path(name).str();
  }
  return "";
}

std::vector<std::string> mlir::attn::getArchivePaths(ModuleOp module) {
  auto *dialect = module.getContext()->getOrLoadDialect<AttnDialect>();
  const ParamOptions &opts = dialect->getParamRegistry().options;
  if (!opts.archivesOverride.empty())
    return opts.archivesOverride;
  std::vector<std::string> paths;
  auto list = module->getAttrOfType<ArrayAttr>(AttnDialect::kParamsAttrName);
  if (!list)
    return paths;
  std::string dir = moduleDirectory(module);
  for (Attribute a : list) {
    auto s = dyn_cast<StringAttr>(a);
    if (!s)
      continue;
    StringRef p = s.getValue();
    if (llvm::sys::path::is_absolute(p) || dir.empty()) {
      paths.push_back(p.str());
      continue;
    }
    llvm::SmallString<256> full(dir);
    llvm::sys::path::append(full, p);
    paths.push_back(full.str().str());
  }
  return paths;
}

params::ParamStore *mlir::attn::getParamStore(ModuleOp module,
                                              bool headerOnly) {
  auto *dialect = module.getContext()->getOrLoadDialect<AttnDialect>();
  if (auto list = module->getAttr(AttnDialect::kParamsAttrName);
      list && !isa<ArrayAttr>(list)) {
    mlir::emitError(module.getLoc()) << "'" << AttnDialect::kParamsAttrName
                                     << "' must be an array of archive paths";
    return nullptr;
  }
  std::vector<std::string> paths = getArchivePaths(module);
  std::string error;
  params::ParamStore *store =
      dialect->getParamRegistry().getOrOpen(paths, headerOnly, error);
  if (!store)
    mlir::emitError(module.getLoc()) << error;
  return store;
}

void mlir::attn::setParamOptions(MLIRContext *ctx, ParamOptions options) {
  ctx->getOrLoadDialect<AttnDialect>()->getParamRegistry().options =
      std::move(options);
}

std::optional<params::DType> mlir::attn::storageDTypeOf(Type t) {
  if (t.isF32())
    return params::DType::F32;
  if (t.isF64())
    return params::DType::F64;
  if (t.isF16())
    return params::DType::F16;
  if (t.isBF16())
    return params::DType::BF16;
  if (t.isInteger(1))
    return params::DType::BOOL;
  if (t.isInteger(8))
    return params::DType::I8;
  if (t.isInteger(16))
    return params::DType::I16;
  if (t.isInteger(32))
    return params::DType::I32;
  if (t.isInteger(64))
    return params::DType::I64;
  return std::nullopt;
}

FailureOr<ParamOp> mlir::attn::floatWeightParam(Operation *at, Value w,
                                                StringRef what,
                                                StringRef pass) {
  Value src = w;
  if (auto ext = w.getDefiningOp<arith::ExtFOp>())
    src = ext.getIn();
  auto p = src.getDefiningOp<ParamOp>();
  if (!p)
    return at->emitError() << pass << ": the " << what
                           << " is not an attn.param (cannot read its weights)";
  for (Value v : {src, w}) {
    Type elt = cast<ShapedType>(v.getType()).getElementType();
    std::optional<params::DType> d = storageDTypeOf(elt);
    if (!d || !params::isFloat(*d))
      return at->emitError() << pass << ": the " << what << " \"" << p.getName()
                             << "\" has element type " << elt
                             << " (expected f32, f64, f16 or bf16)";
  }
  return p;
}

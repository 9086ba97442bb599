//===- VerifyParams.cpp - attn-verify-params ------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNVERIFYPARAMSPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The MLIR element type a stored dtype maps to, compared by name so that
/// the check needs no table of builder calls.
std::string mlirTypeName(params::DType d) {
  switch (d) {
  case params::DType::BOOL:
    return "i1";
  case params::DType::U8:
  case params::DType::I8:
    return "i8";
  case params::DType::U16:
  case params::DType::I16:
    return "i16";
  case params::DType::U32:
  case params::DType::I32:
    return "i32";
  case params::DType::U64:
  case params::DType::I64:
    return "i64";
  case params::DType::F16:
    return "f16";
  case params::DType::BF16:
    return "bf16";
  case params::DType::F32:
    return "f32";
  case params::DType::F64:
    return "f64";
  }
  return "?";
}

struct AttnVerifyParamsPass
    : mlir::attn::impl::AttnVerifyParamsPassBase<AttnVerifyParamsPass> {
  void runOnOperation() override {
    params::ParamStore *store =
        getParamStore(getOperation(), /*headerOnly=*/true);
    if (!store)
      return signalPassFailure();
    bool ok = true;
    getOperation().walk([&](ParamOp op) {
      const params::ParamRef *ref = store->lookup(op.getName().str());
      if (!ref) {
        op.emitError() << "parameter \"" << op.getName()
                       << "\" is not in any archive of the module";
        ok = false;
        return;
      }
      auto type = cast<RankedTensorType>(op.getType());
      std::string elt;
      llvm::raw_string_ostream eltOs(elt);
      eltOs << type.getElementType();
      if (ArrayRef<int64_t>(ref->shape) != type.getShape() ||
          mlirTypeName(ref->dtype) != elt) {
        std::string stored;
        llvm::raw_string_ostream os(stored);
        os << params::dtypeName(ref->dtype) << "[";
        llvm::interleave(ref->shape, os, ",");
        os << "]";
        op.emitError() << "parameter \"" << op.getName() << "\" is " << type
                       << " in the IR but " << stored << " in " << ref->source;
        ok = false;
      }
    });
    if (!ok)
      signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace

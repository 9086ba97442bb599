//===- ParamsToArgs.cpp - attn-params-to-args -----------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPARAMSTOARGSPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnParamsToArgsPass
    : mlir::attn::impl::AttnParamsToArgsPassBase<AttnParamsToArgsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbolTables;
    SymbolUserMap users(symbolTables, module);
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      // Same name, same value: one argument per distinct parameter.
      llvm::MapVector<StringRef, SmallVector<ParamOp>> params;
      fn.walk([&](ParamOp p) { params[p.getName()].push_back(p); });
      if (params.empty())
        continue;
      if (!users.getUsers(fn).empty()) {
        fn.emitError() << "attn-params-to-args: @" << fn.getSymName()
                       << " uses parameters but is called from the module; "
                          "its callers cannot supply them";
        return signalPassFailure();
      }
      Block &entry = fn.getBody().front();
      for (auto &[name, ops] : params) {
        Type type = ops.front().getType();
        for (ParamOp p : ops)
          if (p.getType() != type) {
            p.emitError() << "parameter \"" << name
                          << "\" is used with two types: " << type << " and "
                          << p.getType();
            return signalPassFailure();
          }
        unsigned idx = fn.getNumArguments();
        if (failed(fn.insertArgument(
                idx, type,
                DictionaryAttr::get(
                    &getContext(),
                    {NamedAttribute(StringAttr::get(&getContext(),
                                                    "attn.param"),
                                    StringAttr::get(&getContext(), name))}),
                ops.front().getLoc())))
          return signalPassFailure();
        for (ParamOp p : ops) {
          p.getResult().replaceAllUsesWith(entry.getArgument(idx));
          p.erase();
        }
      }
    }
  }
};
} // namespace

//===- VerifierGuard.cpp - inputs MLIR 22's own verifiers crash on --------===//

#include "attenuate/Support/VerifierGuard.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

LogicalResult mlir::attn::checkUpstreamVerifierCrashes(Operation *op) {
  bool bad = false;
  op->walk([&](Operation *nested) {
    StringRef name = nested->getName().getStringRef();
    bool reshape = llvm::StringSwitch<bool>(name)
                       .Cases({"tensor.expand_shape", "tensor.collapse_shape",
                               "memref.expand_shape", "memref.collapse_shape"},
                              true)
                       .Default(false);
    if (!reshape)
      return;
    auto groups = nested->getAttrOfType<ArrayAttr>("reassociation");
    if (!groups)
      return; // the op's own verifier reports a missing attribute
    for (auto [i, group] : llvm::enumerate(groups)) {
      auto list = dyn_cast<ArrayAttr>(group);
      if (list && list.empty()) {
        nested->emitOpError() << "has an empty reassociation group (#" << i
                              << "); every group needs at least one dimension";
        bad = true;
        return;
      }
    }
  });
  return failure(bad);
}

bool mlir::attn::mayNeedUpstreamVerifierGuard(llvm::StringRef text) {
  for (size_t i = text.find('['); i != llvm::StringRef::npos;
       i = text.find('[', i + 1)) {
    size_t next = text.find_first_not_of(" \t\r\n", i + 1);
    if (next != llvm::StringRef::npos && text[next] == ']')
      return true;
  }
  return false;
}

LogicalResult mlir::attn::verifyGuarded(Operation *op) {
  if (failed(checkUpstreamVerifierCrashes(op)))
    return failure();
  return verify(op);
}

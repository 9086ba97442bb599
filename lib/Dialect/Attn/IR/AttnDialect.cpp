//===- AttnDialect.cpp - the attn dialect ---------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnDialect.h"
#include "attenuate/Dialect/Attn/IR/AttnAttrs.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attenuate/Dialect/Attn/IR/AttnOpsDialect.cpp.inc"
#include "attenuate/Dialect/Attn/IR/AttnEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "attenuate/Dialect/Attn/IR/AttnAttrs.cpp.inc"

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attenuate/Dialect/Attn/IR/AttnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attenuate/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
  paramRegistry = std::make_unique<ParamRegistry>();
}

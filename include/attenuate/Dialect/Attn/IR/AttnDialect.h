//===- AttnDialect.h - the attn dialect -------------------------*- C++ -*-===//
#ifndef ATTENUATE_DIALECT_ATTN_IR_ATTNDIALECT_H
#define ATTENUATE_DIALECT_ATTN_IR_ATTNDIALECT_H

#include "mlir/IR/Dialect.h"

#include <memory>

namespace mlir::attn {
class ParamRegistry;
} // namespace mlir::attn

#include "attenuate/Dialect/Attn/IR/AttnOpsDialect.h.inc"

#endif // ATTENUATE_DIALECT_ATTN_IR_ATTNDIALECT_H

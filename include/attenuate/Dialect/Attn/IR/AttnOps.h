//===- AttnOps.h - operations of the attn dialect ---------------*- C++ -*-===//
#ifndef ATTENUATE_DIALECT_ATTN_IR_ATTNOPS_H
#define ATTENUATE_DIALECT_ATTN_IR_ATTNOPS_H

#include "attenuate/Dialect/Attn/IR/AttnAttrs.h"
#include "attenuate/Dialect/Attn/IR/AttnDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "attenuate/Dialect/Attn/IR/AttnOps.h.inc"

#endif // ATTENUATE_DIALECT_ATTN_IR_ATTNOPS_H

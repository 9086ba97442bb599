//===- AttnAttrs.h - attributes of the attn dialect -------------*- C++ -*-===//
#ifndef ATTENUATE_DIALECT_ATTN_IR_ATTNATTRS_H
#define ATTENUATE_DIALECT_ATTN_IR_ATTNATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "attenuate/Dialect/Attn/IR/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "attenuate/Dialect/Attn/IR/AttnAttrs.h.inc"

#endif // ATTENUATE_DIALECT_ATTN_IR_ATTNATTRS_H

//===- Passes.h - rewrite and analysis passes of attn -----------*- C++ -*-===//
#ifndef ATTENUATE_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define ATTENUATE_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTENUATE_DIALECT_ATTN_TRANSFORMS_PASSES_H

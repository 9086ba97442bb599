//===- Passes.h - conversions out of the attn dialect -----------*- C++ -*-===//
#ifndef ATTENUATE_CONVERSION_PASSES_H
#define ATTENUATE_CONVERSION_PASSES_H

#include "attenuate/Dialect/Attn/IR/AttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attenuate/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attenuate/Conversion/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTENUATE_CONVERSION_PASSES_H

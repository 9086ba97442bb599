//===- Registration.h - the C++ API for embedding Attenuate -----*- C++ -*-===//
//
// Compilers that embed Attenuate call these, as attn-opt does:
//   mlir::DialectRegistry registry;
//   mlir::attn::registerAttnDialect(registry);
//   mlir::attn::registerAttnPasses();
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_REGISTRATION_H
#define ATTENUATE_REGISTRATION_H

#include "attenuate/Dialect/Attn/IR/AttnDialect.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::attn {

/// Registers the attn dialect and the upstream dialects its IR and its
/// lowerings use (func, tensor, arith, linalg, math, scf, cf).
void registerAttnDialect(DialectRegistry &registry);

} // namespace mlir::attn

#endif // ATTENUATE_REGISTRATION_H

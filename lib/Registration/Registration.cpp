//===- Registration.cpp - the C++ API for embedding Attenuate -------------===//

#include "attenuate/Registration.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

void mlir::attn::registerAttnDialect(DialectRegistry &registry) {
  registry.insert<AttnDialect, func::FuncDialect, tensor::TensorDialect,
                  arith::ArithDialect>();
}

//===- Registration.cpp - the C++ API for embedding Attenuate -------------===//

#include "attenuate/Registration.h"
#include "attenuate/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

void mlir::attn::registerAttnDialect(DialectRegistry &registry) {
  registry.insert<AttnDialect, func::FuncDialect, tensor::TensorDialect,
                  arith::ArithDialect, linalg::LinalgDialect,
                  math::MathDialect, scf::SCFDialect,
                  cf::ControlFlowDialect>();
  registerBufferizableOpInterfaceExternalModels(registry);
}

//===- attn-opt.cpp - mlir-opt with the attn dialect and passes -----------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"

static llvm::cl::list<std::string> clParams(
    "attn-params", llvm::cl::CommaSeparated,
    llvm::cl::desc("Parameter archives (.safetensors or index.json) that "
                   "replace the ones the module lists"),
    llvm::cl::value_desc("a.safetensors,b.safetensors"));

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::attn::registerAttnPasses();
  mlir::attn::registerAttnConversionPasses();
  mlir::attn::registerAttnPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::attn::registerAttnDialect(registry);
  // Options are parsed before any context exists; hand them over when the
  // dialect loads.
  registry.addExtension(+[](mlir::MLIRContext *ctx, mlir::attn::AttnDialect *) {
    mlir::attn::ParamOptions opts;
    opts.archivesOverride.assign(clParams.begin(), clParams.end());
    mlir::attn::setParamOptions(ctx, std::move(opts));
  });

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Attenuate optimizer driver\n", registry));
}

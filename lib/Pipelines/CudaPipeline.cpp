//===- CudaPipeline.cpp - attn-lower-to-cuda ------------------------------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Pipelines/Pipelines.h"

#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::attn::buildLowerToCudaPipeline(OpPassManager &pm,
                                          const LowerToCudaOptions &options) {
  // canonicalize + cse first: dead projections (shared attention) and
  // duplicate index arithmetic never reach the plan.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  ConvertAttnToRuntimePassOptions o;
  o.planPath = options.plan.getValue();
  o.entry = options.entry.getValue();
  pm.addPass(createConvertAttnToRuntimePass(o));
}

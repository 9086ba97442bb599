//===- CpuPipeline.cpp - attn-lower-to-cpu --------------------------------===//

#include "attenuate/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace {
/// Marks public functions so the JIT exposes `_mlir_ciface_<name>` taking
/// memref descriptors by pointer, a layout the host can build portably.
struct EmitCInterfacePass
    : public PassWrapper<EmitCInterfacePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(EmitCInterfacePass)
  StringRef getArgument() const final { return "attn-emit-c-interface"; }
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        fn->setAttr("llvm.emit_c_interface", UnitAttr::get(&getContext()));
  }
};
} // namespace

void mlir::attn::buildLowerToCpuPipeline(OpPassManager &pm,
                                         const LowerToCpuOptions &options) {
  pm.addPass(std::make_unique<EmitCInterfacePass>());
  // Upstream passes by their registered names: the pipeline reads like the
  // attn-opt command line one would write by hand.
  // Bad cache positions are reported by the runtime, never aborts.
  std::string keep =
      options.reference
          ? "checks=report"
          : "checks=report keep=attn.linear,attn.mlp,attn.attention,"
            "attn.linear_grad_weight,attn.linear_grad_input,"
            "attn.pamm_compress,attn.pamm_grad_weight";
  std::string pipeline =
      "attn-params-to-args,"
      "convert-attn-to-linalg{" +
      keep +
      "},"
      "func.func(convert-elementwise-to-linalg),"
      "canonicalize,cse,"
      "one-shot-bufferize{bufferize-function-boundaries "
      "function-boundary-type-conversion=identity-layout-map},"
      "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
      "func.func(convert-linalg-to-loops),"
      "expand-strided-metadata,lower-affine,"
      "convert-scf-to-cf,"
      "convert-math-to-llvm,"
      "convert-arith-to-llvm,convert-index-to-llvm,"
      "finalize-memref-to-llvm,"
      "convert-func-to-llvm,convert-cf-to-llvm,"
      "reconcile-unrealized-casts";
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error("attn-lower-to-cpu: invalid built-in pipeline");
}

void mlir::attn::registerAttnPipelines() {
  PassPipelineRegistration<LowerToCpuOptions>(
      "attn-lower-to-cpu",
      "Lower attn IR to the LLVM dialect for the CPU JIT (runtime kernels for "
      "linear/mlp/attention, linalg loops for the rest; reference=true for "
      "loops everywhere)",
      buildLowerToCpuPipeline);
  PassPipelineRegistration<LowerToCudaOptions>(
      "attn-lower-to-cuda",
      "Lower attn IR to an attn-plan (runtime kernel calls over "
      "liveness-planned buffers) that the runtime-only attn-exec runs on the "
      "CUDA or CPU kernels; plan=PATH says where it goes",
      buildLowerToCudaPipeline);
}

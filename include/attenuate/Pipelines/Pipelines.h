//===- Pipelines.h - named pass pipelines -----------------------*- C++ -*-===//
#ifndef ATTENUATE_PIPELINES_PIPELINES_H
#define ATTENUATE_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::attn {

struct LowerToCpuOptions : public PassPipelineOptions<LowerToCpuOptions> {
  PassOptions::Option<bool> reference{
      *this, "reference",
      llvm::cl::desc("Lower every attn op through linalg loops (the "
                     "reference semantics) instead of calling the runtime's "
                     "OpenBLAS kernels for linear, mlp and attention"),
      llvm::cl::init(false)};
};

/// attn IR (tensors) -> LLVM dialect, ready for the ExecutionEngine. Public
/// functions get `llvm.emit_c_interface`; attn.param ops become trailing
/// arguments (attn-params-to-args).
void buildLowerToCpuPipeline(OpPassManager &pm,
                             const LowerToCpuOptions &options);

/// Registers `attn-lower-to-cpu`.
void registerAttnPipelines();

} // namespace mlir::attn

#endif

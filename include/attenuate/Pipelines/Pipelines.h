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

struct LowerToCudaOptions : public PassPipelineOptions<LowerToCudaOptions> {
  PassOptions::Option<std::string> plan{
      *this, "plan",
      llvm::cl::desc("Where to write the attn-plan ('-' for stdout)")};
  PassOptions::Option<std::string> entry{
      *this, "entry", llvm::cl::desc("The function to lower"),
      llvm::cl::init("forward")};
};

/// attn IR -> an attn-plan of runtime kernel calls (canonicalize, cse,
/// convert-attn-to-runtime). The plan runs on the CUDA kernels, or the CPU
/// ones, through the runtime-only attn-exec; the module is left as it is.
void buildLowerToCudaPipeline(OpPassManager &pm,
                              const LowerToCudaOptions &options);

/// Registers `attn-lower-to-cpu` and `attn-lower-to-cuda`.
void registerAttnPipelines();

} // namespace mlir::attn

#endif

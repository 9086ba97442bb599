//===- JitModule.h - compile an attn module and call it on the CPU -*- C++
//-*-===//
//
// The one execution path of attn-run, attn-eval and the Python bindings:
// lower with attn-lower-to-cpu, JIT with the MLIR ExecutionEngine, bind
// parameters from the module's archives, call with host tensors.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_EXECUTION_JITMODULE_H
#define ATTENUATE_EXECUTION_JITMODULE_H

#include "attenuate/Execution/HostTensor.h"
#include "attenuate/Params/ParamStore.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::attn {

struct JitOptions {
  /// Lower every op through linalg loops instead of the runtime kernels.
  bool reference = false;
  /// Extra shared libraries for the JIT; the runtime and MLIR's C runner
  /// utils are found automatically.
  std::vector<std::string> sharedLibs;
};

/// One argument or result of the entry function.
struct TensorSpec {
  attenuate::params::DType dtype;
  std::vector<int64_t> shape; // ShapedType::kDynamic for '?'
  std::string paramName;      // non-empty for parameter arguments
  std::string describe() const;
};

class JitModule {
public:
  /// Lowers a clone of `module` and JIT-compiles it. Errors (one line,
  /// naming the entry or the failing pass) go to `error`.
  static std::unique_ptr<JitModule> compile(ModuleOp module, StringRef entry,
                                            const JitOptions &options,
                                            std::string &error);
  /// compile() and then bindParams() from the module's archives (or the
  /// context's --attn-params override).
  static std::unique_ptr<JitModule> compileAndBind(ModuleOp module,
                                                   StringRef entry,
                                                   const JitOptions &options,
                                                   std::string &error);
  /// The whole front half of a tool: parses `path`, compiles `entry` and
  /// binds its parameters from the module's archives (or the context's
  /// --attn-params override). Errors are one line naming the file.
  static std::unique_ptr<JitModule>
  loadFile(MLIRContext *ctx, const std::string &path, StringRef entry,
           const JitOptions &options, std::string &error);
  ~JitModule();

  /// The function this module calls.
  const std::string &entry() const { return entry_; }
  /// User inputs (non-parameter arguments), in order.
  const std::vector<TensorSpec> &inputs() const { return inputs_; }
  const std::vector<TensorSpec> &params() const { return params_; }
  const std::vector<TensorSpec> &results() const { return results_; }

  /// Resolves every parameter argument in `store` (which must outlive this
  /// object): zero-copy when the stored bytes are suitably aligned.
  bool bindParams(const attenuate::params::ParamStore &store,
                  std::string &error);

  /// Calls the entry. Inputs are checked against the signature (dtype, rank,
  /// static dims); errors name the input by position.
  bool run(const std::vector<attenuate::exec::HostTensor> &inputs,
           std::vector<attenuate::exec::HostTensor> &outputs,
           std::string &error);

private:
  JitModule() = default;
  std::string entry_;
  std::unique_ptr<ExecutionEngine> engine_;
  std::vector<TensorSpec> inputs_, params_, results_;
  std::vector<const void *> paramData_;
  std::vector<std::vector<uint8_t>> paramCopies_;
};

} // namespace mlir::attn

#endif

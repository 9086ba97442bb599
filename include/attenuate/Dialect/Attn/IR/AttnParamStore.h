//===- AttnParamStore.h - resolving attn.param against archives -*- C++ -*-===//
//
// The bridge between IR and the Params library: which archives a module uses
// and the (per-context, cached) store that opens them.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_DIALECT_ATTN_IR_ATTNPARAMSTORE_H
#define ATTENUATE_DIALECT_ATTN_IR_ATTNPARAMSTORE_H

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Params/ParamStore.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

namespace params = ::attenuate::params;

/// Tool-wide parameter options (`--attn-params`, `--attn-params-out`).
struct ParamOptions {
  /// When non-empty, replaces the archives the module lists.
  std::vector<std::string> archivesOverride;
  /// Where tensors that passes create are written.
  std::string outPath;
};

/// Owned by the attn dialect of a context: the options and the stores opened
/// so far (keyed by archive list), so passes share one mmap per archive.
class ParamRegistry {
public:
  ParamOptions options;
  /// Opens (once) the store for this archive list.
  params::ParamStore *getOrOpen(const std::vector<std::string> &paths,
                                bool headerOnly, std::string &error);

private:
  std::mutex mutex;
  std::map<std::pair<std::vector<std::string>, bool>,
           std::unique_ptr<params::ParamStore>>
      stores;
};

/// Archive paths for `module`: the override if set, else the module's
/// `attn.params` attribute with relative paths resolved against the directory
/// of the module's source file.
std::vector<std::string> getArchivePaths(ModuleOp module);

/// The store for `module`. On failure emits an error on the module naming the
/// archive and returns nullptr.
params::ParamStore *getParamStore(ModuleOp module, bool headerOnly);

/// The archive dtype that stores elements of type `t`: the four float types
/// and the signless integers i1, i8, i16, i32, i64; nullopt for the rest.
std::optional<params::DType> storageDTypeOf(Type t);

/// The attn.param whose floating-point weights a pass reads for operand `w`
/// (directly, or widened by an arith.extf as imported bf16 weights are). On
/// failure emits "<pass>: the <what> ..." at `at`.
FailureOr<ParamOp> floatWeightParam(Operation *at, Value w, StringRef what,
                                    StringRef pass);

/// Sets the tool-wide options for a context (loads the attn dialect).
void setParamOptions(MLIRContext *ctx, ParamOptions options);

} // namespace mlir::attn

#endif // ATTENUATE_DIALECT_ATTN_IR_ATTNPARAMSTORE_H

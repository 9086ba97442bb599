//===- HuggingFace.h - Hugging Face checkpoint to attn IR -------*- C++ -*-===//
//
// Turns a Llama-family checkpoint directory (config.json plus
// model.safetensors or a sharded model.safetensors.index.json) into a module
// whose `@forward` function computes one prefill or decode step over explicit
// KV caches. Weights stay in the archives: the module names them with
// `attn.param` and lists the archives in `attn.params`. Only safetensors
// headers are read, so importing a 70B checkpoint takes milliseconds.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_IMPORT_HUGGINGFACE_H
#define ATTENUATE_IMPORT_HUGGINGFACE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::attn {

struct HFImportOptions {
  /// Directory the module will be written to. Archive paths in `attn.params`
  /// are made relative to it, so the module and the checkpoint can move
  /// together; empty means absolute paths (e.g. for a module printed to
  /// stdout).
  std::string outputDir;
  /// Instead of @forward, the training partition of every layer's Q/K/V
  /// projections: @qkv_forward (layer inputs X_i -> Q, K, V of every layer,
  /// then the saved X_i) and @qkv_backward (saved X_i, then dQ, dK, dV ->
  /// dX_i, dW_q, dW_k, dW_v per layer). Saved values are the forward's
  /// results and the backward's arguments marked `attn.saved = "<name>"`;
  /// the forward names its backward with `attn.backward = "qkv_backward"`.
  bool training = false;
};

/// Imports the checkpoint in `dir`. On failure returns failure() and sets
/// `error` to one line, `<file>: <message>`, naming the file at fault and
/// the config field or tensor. Loads the dialects the module uses into `ctx`.
FailureOr<OwningOpRef<ModuleOp>>
importHuggingFace(MLIRContext *ctx, StringRef dir,
                  const HFImportOptions &options, std::string &error);

/// importHuggingFace with `configText` standing for the checkpoint's
/// config.json (named `configName` in messages); the archives still come
/// from `dir`. The config fuzzer drives the importer through this.
FailureOr<OwningOpRef<ModuleOp>>
importHuggingFaceConfig(MLIRContext *ctx, StringRef dir, StringRef configText,
                        StringRef configName, const HFImportOptions &options,
                        std::string &error);

/// Prints `module` as the importer's output: the custom assembly form with
/// each op's location inline (`loc("model.layers.3.self_attn")`), except
/// the module's own, so that a parser gives the module the location of the
/// file it reads, which relative `attn.params` paths are resolved against.
void printImportedModule(ModuleOp module, raw_ostream &os);

} // namespace mlir::attn

#endif // ATTENUATE_IMPORT_HUGGINGFACE_H

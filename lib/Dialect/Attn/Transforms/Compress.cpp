//===- Compress.cpp - attn-compress ---------------------------------------===//
//
// Stacks the compression passes in one fixed order. Each stage is the
// registered pass itself, parsed from the stage's option string, so a stage
// behaves exactly as it does alone on the command line.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCOMPRESSPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

struct Stage {
  StringRef option; // the attn-compress option naming the stage
  StringRef pass;   // the pass it runs
  bool takesStats;  // whether attn-compress's stats= is passed on
};

// Share-attention first: it picks layers from the original model's
// similarity and ties their q/k, which the later stages then leave alone.
// MLA next, because its joint SVD needs the original K/V weights that
// low rank would factor. Low rank then compresses what remains, and
// sparse-kv comes last so that it encodes only the caches the other stages
// kept (dense layers, the V caches of shared layers).
constexpr Stage kStages[] = {
    {"share", "attn-share-attention", true},
    {"mla", "attn-mla-upcycle", false},
    {"lowrank", "attn-lowrank", true},
    {"sparse-kv", "attn-sparse-kv", true},
};

struct AttnCompressPass
    : mlir::attn::impl::AttnCompressPassBase<AttnCompressPass> {
  using Base::Base;

  StringRef stageOptions(const Stage &s) const {
    if (s.option == "share")
      return share;
    if (s.option == "mla")
      return mla;
    if (s.option == "lowrank")
      return lowrank;
    return sparseKv;
  }

  /// The stages given, in order; on a stage that does not parse, failure
  /// with `error` naming the option.
  LogicalResult build(OpPassManager &pm, std::string &error) const {
    for (const Stage &s : kStages) {
      std::string opts = StringRef(stageOptions(s)).trim().str();
      if (opts.empty())
        continue;
      // Explicit spans exclude statistics in attn-share-attention.
      bool wantsStats = s.takesStats && !(s.option == "share" &&
                                          StringRef(opts).contains("spans="));
      if (wantsStats && !stats.empty() && !StringRef(opts).contains("stats="))
        opts += " stats=" + stats;
      std::string text = (s.pass + "{" + opts + "}").str();
      std::string message;
      llvm::raw_string_ostream os(message);
      if (failed(parsePassPipeline(text, pm, os))) {
        // The parser's message may run over several lines; its first says
        // what is wrong.
        StringRef first = StringRef(message).trim().split('\n').first;
        error = "option '" + s.option.str() + "': " + first.trim().str();
        return failure();
      }
    }
    return success();
  }

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    // The stages' dialects must be loaded before the module is processed;
    // a bad option is reported by runOnOperation.
    OpPassManager pm(ModuleOp::getOperationName());
    std::string ignored;
    if (succeeded(build(pm, ignored)))
      pm.getDependentDialects(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpPassManager pm(ModuleOp::getOperationName());
    std::string error;
    if (failed(build(pm, error))) {
      module.emitError("attn-compress: ") << error;
      return signalPassFailure();
    }
    if (pm.size() == 0) {
      module.emitError("attn-compress: no stage given (set at least one of "
                       "share=, mla=, lowrank=, sparse-kv=)");
      return signalPassFailure();
    }
    if (failed(runPipeline(pm, module)))
      signalPassFailure();
  }
};

} // namespace

//===- attn_passes.cpp - fuzz the attn passes on IR that verifies ---------===//
//
// parse -> verify -> each rewrite/analysis pass with its default options
// (attn-share-attention with spans, since with no spans it does nothing;
// attn-pamm, for training graphs), each on a fresh clone of the module.
// MLIR's rule: no pass may crash, assert or produce invalid IR on
// verifier-valid input; a pass may fail with a diagnostic. A pass that
// succeeds must leave IR that verifies.
//
// The module's `attn.params` attribute is removed first: the input must not
// make the fuzzer open files it names (/dev/stdin would block), and
// attn-verify-params without archives must fail cleanly.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"
#include "attenuate/Support/VerifierGuard.h"

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnDialect.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstdlib>
#include <string>

using namespace mlir;

/// Pass pipelines on the module (the PassManager's anchor): written as
/// "builtin.module(...)", each would be nested one level down and run only
/// on modules inside the module, that is on nothing.
static const char *const kPipelines[] = {
    "attn-report{output=/dev/null}",
    "attn-report{format=json output=/dev/null}",
    "attn-verify-params",
    "attn-share-attention{spans=1}",
    "attn-share-attention{spans=1-2}",
    "func.func(convert-attn-to-linalg)",
    "attn-calibration-taps",
    "attn-params-to-args",
    "attn-pamm",
    "attn-quantize-kv",
    "attn-quantize-kv{bits=4 window=0 group=1}",
    "attn-sparse-kv{dictionary=identity}",
    "attn-sparse-kv{dictionary=identity k-atoms=2 v-atoms=1}",
    // Both need the weights, which the fuzzer does not give them: what runs
    // is their matching and option checking up to the first weight read.
    "attn-mla-upcycle{kv-rank=4}",
    "attn-lowrank{method=svd param-ratio=0.5}",
    "convert-attn-to-runtime{plan=/dev/null}",
};

static attn_fuzz::Contexts contexts(/*inputsPerContext=*/500);

/// Only the passes the pipelines name: the textual pipelines need them
/// registered, and nothing else needs linking in.
static bool registerOnce() {
  mlir::attn::registerAttnReportPass();
  mlir::attn::registerAttnVerifyParamsPass();
  mlir::attn::registerAttnShareAttentionPass();
  mlir::attn::registerAttnCalibrationTapsPass();
  mlir::attn::registerAttnParamsToArgsPass();
  mlir::attn::registerAttnPammPass();
  mlir::attn::registerAttnQuantizeKvPass();
  mlir::attn::registerAttnSparseKvPass();
  mlir::attn::registerAttnMlaUpcyclePass();
  mlir::attn::registerAttnLowRankPass();
  mlir::attn::registerConvertAttnToLinalgPass();
  mlir::attn::registerConvertAttnToRuntimePass();
  return true;
}

/// Aborts if `pipeline` succeeds but leaves IR that does not verify, or
/// reports one of its own bugs ("... (a bug): ..." diagnostics).
static void runPipeline(MLIRContext &ctx, ModuleOp original,
                        const char *pipeline) {
  OwningOpRef<ModuleOp> module(original.clone());
  bool selfReportedBug = false;
  ScopedDiagnosticHandler bugs(&ctx, [&](Diagnostic &diag) {
    if (diag.str().find("(a bug)") != std::string::npos)
      selfReportedBug = true;
    return failure(); // on to the context's handler
  });
  PassManager pm(&ctx);
  // Verified here instead, so that a pass that breaks the IR is told apart
  // from one that fails with a diagnostic.
  pm.enableVerifier(false);
  if (failed(parsePassPipeline(pipeline, pm)))
    attn_fuzz::fail("a fuzzer pipeline does not parse");
  LogicalResult result = pm.run(*module);
  if (std::getenv("ATTN_FUZZ_VERBOSE"))
    llvm::errs() << "attn-fuzz: " << pipeline << ": "
                 << (succeeded(result) ? "ok" : "failed") << "\n";
  if (selfReportedBug)
    attn_fuzz::fail(pipeline);
  if (failed(result))
    return; // a diagnostic, not a crash: allowed
  if (failed(mlir::attn::verifyGuarded(*module)))
    attn_fuzz::fail(pipeline);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool registered = registerOnce();
  (void)registered;
  MLIRContext &ctx = contexts.next();
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  ParserConfig config(&ctx, /*verifyAfterParse=*/false);
  OwningOpRef<ModuleOp> module = attn_fuzz::parseModule(text, config);
  if (!module || failed(mlir::attn::verifyGuarded(*module))) {
    if (std::getenv("ATTN_FUZZ_VERBOSE"))
      llvm::errs() << "attn-fuzz: the input does not parse or verify\n";
    return 0;
  }
  module->walk([](ModuleOp m) {
    m->removeAttr(mlir::attn::AttnDialect::kParamsAttrName);
  });
  for (const char *pipeline : kPipelines)
    runPipeline(ctx, *module, pipeline);
  return 0;
}

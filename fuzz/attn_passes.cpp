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

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnDialect.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <string>

using namespace mlir;

static const char *const kPipelines[] = {
    "builtin.module(attn-report{output=/dev/null})",
    "builtin.module(attn-report{format=json output=/dev/null})",
    "builtin.module(attn-verify-params)",
    "builtin.module(attn-share-attention{spans=1})",
    "builtin.module(attn-share-attention{spans=1-2})",
    "builtin.module(func.func(convert-attn-to-linalg))",
    "builtin.module(attn-calibration-taps)",
    "builtin.module(attn-params-to-args)",
    "builtin.module(attn-pamm)",
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
  mlir::attn::registerConvertAttnToLinalgPass();
  return true;
}

/// Aborts if `pipeline` succeeds but leaves IR that does not verify.
static void runPipeline(MLIRContext &ctx, ModuleOp original,
                        const char *pipeline) {
  OwningOpRef<ModuleOp> module(original.clone());
  PassManager pm(&ctx);
  // Verified here instead, so that a pass that breaks the IR is told apart
  // from one that fails with a diagnostic.
  pm.enableVerifier(false);
  if (failed(parsePassPipeline(pipeline, pm)))
    attn_fuzz::fail("a fuzzer pipeline does not parse");
  if (failed(pm.run(*module)))
    return; // a diagnostic, not a crash: allowed
  if (failed(verify(*module)))
    attn_fuzz::fail(pipeline);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool registered = registerOnce();
  (void)registered;
  MLIRContext &ctx = contexts.next();
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  ParserConfig config(&ctx, /*verifyAfterParse=*/false);
  OwningOpRef<ModuleOp> module = attn_fuzz::parseModule(text, config);
  if (!module || failed(verify(*module)))
    return 0;
  module->walk([](ModuleOp m) {
    m->removeAttr(mlir::attn::AttnDialect::kParamsAttrName);
  });
  for (const char *pipeline : kPipelines)
    runPipeline(ctx, *module, pipeline);
  return 0;
}

//===- attn-opt.cpp - mlir-opt with the attn dialect and passes -----------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"
#include "attenuate/Support/AtomicFile.h"
#include "attenuate/Support/VerifierGuard.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/ParseUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

static llvm::cl::list<std::string> clParams(
    "attn-params", llvm::cl::CommaSeparated,
    llvm::cl::desc("Parameter archives (.safetensors or index.json) that "
                   "replace the ones the module lists"),
    llvm::cl::value_desc("a.safetensors,b.safetensors"));

static llvm::cl::opt<std::string> clParamsOut(
    "attn-params-out",
    llvm::cl::desc("Write the parameters that passes create to this "
                   "safetensors file and record it in the output module"),
    llvm::cl::value_desc("new.safetensors"), llvm::cl::init(""));

/// MlirOptMain verifies what it parses, and a few MLIR 22 verifiers crash on
/// malformed input (Support/VerifierGuard.h): each input chunk is parsed
/// without verifying and checked first (only where the text may hold such a
/// case, so most inputs are parsed once). Parse errors are left to
/// MlirOptMain (with --verify-diagnostics they may be expected ones).
static bool inputPassesGuard(const llvm::MemoryBuffer &input,
                             llvm::StringRef splitMarker,
                             mlir::DialectRegistry &registry) {
  mlir::MLIRContext ctx(registry, mlir::MLIRContext::Threading::DISABLED);
  llvm::SmallVector<llvm::StringRef> chunks;
  if (splitMarker.empty())
    chunks.push_back(input.getBuffer());
  else
    input.getBuffer().split(chunks, splitMarker);
  bool ok = true;
  size_t linesBefore = 0;
  for (llvm::StringRef chunk : chunks) {
    size_t chunkLines = chunk.count('\n');
    if (!mlir::attn::mayNeedUpstreamVerifierGuard(chunk)) {
      linesBefore += chunkLines;
      continue;
    }
    // Leading newlines keep the chunk's line numbers those of the file.
    std::string text(linesBefore, '\n');
    text += chunk.str();
    linesBefore += chunkLines;
    auto sourceMgr = std::make_shared<llvm::SourceMgr>();
    sourceMgr->AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(text, input.getBufferIdentifier()),
        llvm::SMLoc());
    mlir::SourceMgrDiagnosticHandler printer(*sourceMgr, &ctx);
    bool parsing = true;
    mlir::ScopedDiagnosticHandler quietWhileParsing(
        &ctx, [&](mlir::Diagnostic &) {
          return mlir::success(parsing); // handled: dropped
        });
    mlir::OwningOpRef<mlir::Operation *> op =
        mlir::parseSourceFileForTool(sourceMgr, mlir::ParserConfig(&ctx, false),
                                     /*insertImplicitModule=*/true);
    parsing = false;
    if (op && mlir::failed(mlir::attn::checkUpstreamVerifierCrashes(*op)))
      ok = false;
  }
  return ok;
}

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::attn::registerAttnPasses();
  mlir::attn::registerAttnConversionPasses();
  mlir::attn::registerAttnPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::attn::registerAttnDialect(registry);
  // Options are parsed before any context exists; hand them over when the
  // dialect loads.
  registry.addExtension(+[](mlir::MLIRContext *ctx, mlir::attn::AttnDialect *) {
    mlir::attn::ParamOptions opts;
    opts.archivesOverride.assign(clParams.begin(), clParams.end());
    mlir::attn::setParamOptions(ctx, std::move(opts));
  });

  auto [inputFile, outputFile] = mlir::registerAndParseCLIOptions(
      argc, argv, "Attenuate optimizer driver\n", registry);
  mlir::MlirOptMainConfig config =
      mlir::MlirOptMainConfig::createFromCLOptions();
  // New parameters are written after every other pass, next to the output.
  std::string outDir;
  if (outputFile != "-")
    outDir = llvm::sys::path::parent_path(outputFile).str();
  if (outDir.empty() && outputFile != "-")
    outDir = ".";
  // Keep the command line's pipeline and append the writer after it.
  mlir::MlirOptMainConfig fromCommandLine = config;
  config.setPassPipelineSetupFn([&](mlir::PassManager &pm) {
    if (mlir::failed(fromCommandLine.setupPassPipeline(pm)))
      return mlir::failure();
    // Also without new parameters: the archives the module lists relative
    // to its input's directory must be found from the output's.
    if (clParamsOut.empty() && outDir.empty())
      return mlir::success();
    std::string spec =
        "attn-write-params{" +
        (clParamsOut.empty() ? "" : "path=" + clParamsOut.getValue() + " ") +
        (outDir.empty() ? "" : "relative-to=" + outDir) + "}";
    return mlir::parsePassPipeline(spec, pm);
  });

  std::string error;
  auto file = mlir::openInputFile(inputFile, &error);
  if (!file) {
    llvm::errs() << "attn-opt: " << error << "\n";
    return EXIT_FAILURE;
  }
  if (!inputPassesGuard(*file, config.inputSplitMarker(), registry))
    return EXIT_FAILURE;
  // The output goes to a temporary file beside it that is renamed into
  // place only once every pass succeeded and every byte is on disk, so a
  // failed or killed run leaves an existing output as it was (a
  // ToolOutputFile writes in place and deletes the output on failure).
  if (outputFile == "-")
    return mlir::failed(mlir::MlirOptMain(llvm::outs(), std::move(file),
                                          registry, config))
               ? EXIT_FAILURE
               : EXIT_SUCCESS;
  attenuate::AtomicFile output;
  if (!output.open(outputFile, error)) {
    llvm::errs() << "attn-opt: " << error << "\n";
    return EXIT_FAILURE;
  }
  std::error_code writeError;
  mlir::LogicalResult result = mlir::failure();
  {
    llvm::raw_fd_ostream os(output.fd(), /*shouldClose=*/false);
    result = mlir::MlirOptMain(os, std::move(file), registry, config);
    os.flush();
    writeError = os.error();
    // A stream destroyed with a pending error aborts the process.
    os.clear_error();
  }
  if (mlir::failed(result))
    return EXIT_FAILURE; // `output` discards the temporary
  if (writeError) {
    llvm::errs() << "attn-opt: " << outputFile
                 << ": write failed: " << writeError.message() << "\n";
    return EXIT_FAILURE;
  }
  if (!output.commit(error)) {
    llvm::errs() << "attn-opt: " << error << "\n";
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}

//===- attn-import.cpp - checkpoints to attn IR ---------------------------===//
//
//   attn-import hf <checkpoint-dir> -o model.mlir
//   attn-import hf <checkpoint-dir> --training -o train.mlir
//
// Every failure is one line on stderr, `attn-import: <file>: <message>`,
// with exit code 1; the output file is written through a temporary file and
// a rename, so it is either the complete new module or left as it was.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Import/HuggingFace.h"
#include "attenuate/Registration.h"
#include "attenuate/Support/AtomicFile.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::SubCommand
    hfCommand("hf",
              "Import a Hugging Face checkpoint directory (config.json and "
              "model.safetensors or model.safetensors.index.json)");

static cl::opt<std::string> checkpointDir(cl::Positional, cl::Required,
                                          cl::desc("<checkpoint-dir>"),
                                          cl::sub(hfCommand));

static cl::opt<std::string> outputFile("o",
                                       cl::desc("Output file ('-' for "
                                                "stdout)"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::sub(hfCommand));

static cl::opt<bool>
    training("training",
             cl::desc("Emit the training partition of the Q/K/V projections "
                      "(@qkv_forward saving each layer's input, "
                      "@qkv_backward computing dX and dW) instead of "
                      "@forward"),
             cl::init(false), cl::sub(hfCommand));

static int fail(const std::string &message) {
  llvm::errs() << "attn-import: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "Attenuate importer: checkpoints to attn IR\n");
  if (!hfCommand)
    return fail("expected a subcommand: attn-import hf <checkpoint-dir> -o "
                "model.mlir (see --help)");

  bool toStdout = outputFile == "-";
  attn::HFImportOptions options;
  options.training = training;
  if (!toStdout) {
    StringRef parent = llvm::sys::path::parent_path(outputFile);
    options.outputDir = parent.empty() ? "." : parent.str();
  }

  DialectRegistry registry;
  attn::registerAttnDialect(registry);
  MLIRContext context(registry);
  std::string error;
  auto module =
      attn::importHuggingFace(&context, checkpointDir, options, error);
  if (failed(module))
    return fail(error);

  std::string text;
  llvm::raw_string_ostream os(text);
  attn::printImportedModule(**module, os);
  if (toStdout) {
    llvm::outs() << text;
    llvm::outs().flush();
    if (llvm::outs().has_error()) {
      llvm::outs().clear_error();
      return fail("<stdout>: write failed");
    }
    return 0;
  }
  if (!attenuate::writeFileAtomically(outputFile, text, error))
    return fail(error);
  return 0;
}

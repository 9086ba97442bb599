//===- FuzzSupport.h - shared pieces of the libFuzzer targets ---*- C++ -*-===//
//
// The MLIR targets share one context per process, rebuilt every few thousand
// inputs: creating a context per input would dominate the run time, and one
// context forever grows without bound (types and attributes are uniqued in
// it and never freed).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_FUZZ_FUZZSUPPORT_H
#define ATTENUATE_FUZZ_FUZZSUPPORT_H

#include "attenuate/Registration.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace attn_fuzz {

/// A finding that is not a sanitizer report (a round trip that does not
/// round-trip, a pass that breaks valid IR): print why, then abort so that
/// libFuzzer saves the input.
[[noreturn]] inline void fail(const char *what) {
  std::fprintf(stderr, "attn-fuzz: %s\n", what);
  std::abort();
}

/// Parses `text` as the tools do: from a null-terminated copy. MLIR's lexer
/// relies on the terminator that MemoryBuffer::getFile provides;
/// parseSourceString does not copy, and on libFuzzer's exact-size buffer the
/// lexer reads past the end (a false report, in the harness, not the tools).
inline mlir::OwningOpRef<mlir::ModuleOp>
parseModule(llvm::StringRef text, const mlir::ParserConfig &config) {
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz.mlir"), llvm::SMLoc());
  return mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, config);
}

class Contexts {
public:
  explicit Contexts(unsigned inputsPerContext = 2000)
      : inputsPerContext(inputsPerContext) {
    mlir::attn::registerAttnDialect(registry);
  }

  /// The context for the next input. Diagnostics are swallowed, since
  /// printing them for every input would be most of the run time, unless
  /// ATTN_FUZZ_VERBOSE is set (for replaying one input).
  mlir::MLIRContext &next() {
    if (!context || ++used >= inputsPerContext) {
      handler.reset();
      context = std::make_unique<mlir::MLIRContext>(
          registry, mlir::MLIRContext::Threading::DISABLED);
      context->loadAllAvailableDialects();
      if (!std::getenv("ATTN_FUZZ_VERBOSE"))
        handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
            context.get(),
            [](mlir::Diagnostic &) { return mlir::success(); });
      used = 0;
    }
    return *context;
  }

  mlir::DialectRegistry registry;

private:
  unsigned inputsPerContext;
  unsigned used = 0;
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
};

} // namespace attn_fuzz

#endif // ATTENUATE_FUZZ_FUZZSUPPORT_H

//===- mlir_parse.cpp - fuzz the IR text parser with attn registered ------===//
//
// parse -> verify; for IR that verifies, the printed form must parse back,
// verify and print the same (custom assembly), and the generic form must
// parse back and verify too: the round-trip promise of every attn op.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"
#include "attenuate/Support/VerifierGuard.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace mlir;

static attn_fuzz::Contexts contexts;

static std::string print(Operation *op, bool generic) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  op->print(os, flags);
  return text;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = contexts.next();
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  ParserConfig config(&ctx, /*verifyAfterParse=*/false);
  OwningOpRef<ModuleOp> module = attn_fuzz::parseModule(text, config);
  if (!module || failed(mlir::attn::verifyGuarded(*module)))
    return 0;

  std::string custom = print(*module, /*generic=*/false);
  OwningOpRef<ModuleOp> again = attn_fuzz::parseModule(custom, config);
  if (!again)
    attn_fuzz::fail("the printed form of verified IR does not parse");
  if (failed(mlir::attn::verifyGuarded(*again)))
    attn_fuzz::fail("the printed form of verified IR does not verify");
  if (print(*again, /*generic=*/false) != custom)
    attn_fuzz::fail("print -> parse -> print changed the IR");

  std::string generic = print(*module, /*generic=*/true);
  OwningOpRef<ModuleOp> fromGeneric = attn_fuzz::parseModule(generic, config);
  if (!fromGeneric)
    attn_fuzz::fail("the generic form of verified IR does not parse");
  if (failed(mlir::attn::verifyGuarded(*fromGeneric)))
    attn_fuzz::fail("the generic form of verified IR does not verify");
  if (print(*fromGeneric, /*generic=*/false) != custom)
    attn_fuzz::fail("generic -> parse -> print differs from the custom form");
  return 0;
}

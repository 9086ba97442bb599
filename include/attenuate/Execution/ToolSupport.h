//===- ToolSupport.h - what every Attenuate tool sets up --------*- C++ -*-===//
//
// attn-run, attn-eval, attn-calibrate and the Python bindings share these:
// registering passes, a context with every dialect, reading a token stream
// from text or .npy, and parsing a module with its diagnostics as one line.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_EXECUTION_TOOLSUPPORT_H
#define ATTENUATE_EXECUTION_TOOLSUPPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::attn {

/// Upstream passes, attn passes, conversions and pipelines (idempotent).
void registerAllAttnToolPasses();

/// A context with every upstream dialect and attn (with its bufferization
/// models), all loaded, and `--attn-params` archives overriding the module's
/// when non-empty.
std::unique_ptr<MLIRContext>
makeToolContext(const std::vector<std::string> &paramsOverride = {});

/// Parses `path` ("-" for stdin). On failure `error` is one line: the file
/// and the first error diagnostic with its location.
OwningOpRef<ModuleOp> parseModuleFile(MLIRContext *ctx, const std::string &path,
                                      std::string &error);

/// The token stream of exactly one of: a text file (its bytes, for
/// byte-level models) or a 1-D .npy of integer ids. Errors name the file.
bool readTokenStream(const std::string &textPath, const std::string &npyPath,
                     std::vector<int64_t> &ids, std::string &error);

} // namespace mlir::attn

#endif

//===- VerifierGuard.h - inputs MLIR 22's own verifiers crash on -*- C++
//-*-===//
//
// A few upstream op verifiers dereference what they have not checked yet
// and crash on malformed input instead of reporting it. Our fuzzers found
// them; every place that verifies IR it did not build (the tools' parsers,
// attn-opt's input, the fuzz harnesses) runs this guard first, so such
// input gets an error at the op instead of a crash.
//
// Known cases (MLIR 22.1):
//  - tensor/memref expand_shape and collapse_shape with an empty
//    reassociation group (`[[0], [], [2, 3]]`): ExpandShapeOp::verify
//    calls getSymbolLessAffineMaps, which reads the group's first element.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_SUPPORT_VERIFIERGUARD_H
#define ATTENUATE_SUPPORT_VERIFIERGUARD_H

#include "mlir/IR/Operation.h"

namespace mlir::attn {

/// Emits an error at each op in `op` (itself included) that an upstream
/// verifier would crash on; failure if there is one.
LogicalResult checkUpstreamVerifierCrashes(Operation *op);

/// Whether IR text may hold a case the guard looks for (an empty bracket
/// pair, as an empty reassociation group is): a linear scan, so a tool can
/// skip parsing its input twice when it cannot.
bool mayNeedUpstreamVerifierGuard(llvm::StringRef text);

/// The guard, then mlir::verify.
LogicalResult verifyGuarded(Operation *op);

} // namespace mlir::attn

#endif

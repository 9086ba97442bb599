//===- MlpExpansion.h - attn.mlp as its three projections -------*- C++ -*-===//
//
// `attn.mlp` keeps the gated MLP as one op so A3 can select intermediate
// channels across gate, up and down at once. Passes that need to see (or
// replace) the projections themselves — calibration taps the intermediate,
// the SVD baselines factor each projection — expand it here, to the same
// numbers: down(silu(gate(x)) ⊙ up(x)).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_DIALECT_ATTN_TRANSFORMS_MLPEXPANSION_H
#define ATTENUATE_DIALECT_ATTN_TRANSFORMS_MLPEXPANSION_H

#include "attenuate/Dialect/Attn/IR/AttnOps.h"

namespace mlir::attn {

struct ExpandedMlp {
  LinearOp gate, up, down;
  /// The intermediate silu(x·gateᵀ) ⊙ (x·upᵀ), the input of `down`.
  Value hidden;
};

/// Replaces `mlp` by attn.linear gate/up/down and element-wise arith/math
/// ops (silu(g) = g / (1 + exp(-g))), and erases it. Every op created
/// carries the discardable attributes of `mlp` (its attn.layer), so
/// per-layer reports and later passes still see which layer it belongs to.
ExpandedMlp expandMlp(MlpOp mlp);

} // namespace mlir::attn

#endif // ATTENUATE_DIALECT_ATTN_TRANSFORMS_MLPEXPANSION_H

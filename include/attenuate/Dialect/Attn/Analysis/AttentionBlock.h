//===- AttentionBlock.h - the projections around an attention op -*- C++ -*-===//
//
// Compression passes rewrite a layer's projections, RoPE and caches, not just
// its attention op. This matcher walks from an `attn.attention` op to every
// piece of its block, accepting the shapes the importer emits and the
// variations rewrites create (no RoPE, no cache, reshapes elided).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_DIALECT_ATTN_ANALYSIS_ATTENTIONBLOCK_H
#define ATTENUATE_DIALECT_ATTN_ANALYSIS_ATTENTIONBLOCK_H

#include "attenuate/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <string>

namespace mlir::attn {

/// One path from a projection to an attention operand:
///   linear -> expand_shape (heads) -> [rope] -> [cache_update -> extract_slice]
struct ProjectionPath {
  LinearOp proj;                          // [.., H·D] projection
  tensor::ExpandShapeOp split;            // [.., H·D] -> [.., H, D]
  RopeOp rope;                            // null without RoPE
  CacheUpdateOp cache;                    // null without a cache
  tensor::ExtractSliceOp read;            // the cache read; null without cache
  /// The function argument holding the cache, if the cache is one.
  BlockArgument cacheArg;
};

struct AttentionBlock {
  AttentionOp attention;
  int64_t layer = -1; // attn.layer, or -1
  ProjectionPath q, k, v;
  tensor::CollapseShapeOp merge; // [.., Hq, Dv] -> [.., Hq·Dv]
  LinearOp out;                  // o_proj

  int64_t numQueryHeads();
  int64_t numKVHeads();
  int64_t headDimQK();
  int64_t headDimV();
};

/// Matches the block of `op`; on failure `reason` says which link is missing
/// (for a diagnostic at the op).
FailureOr<AttentionBlock> matchAttentionBlock(AttentionOp op,
                                              std::string &reason);

/// Every attention op of `fn` in program order, matched; the first failure
/// is emitted at its op and returned as failure.
FailureOr<SmallVector<AttentionBlock>> collectAttentionBlocks(func::FuncOp fn);

} // namespace mlir::attn

#endif

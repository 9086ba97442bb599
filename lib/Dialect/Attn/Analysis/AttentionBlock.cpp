//===- AttentionBlock.cpp - the projections around an attention op --------===//

#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Walks up from an attention operand to its projection. `withCache` paths
/// (k, v) may go through a cache write and read.
bool matchPath(Value operand, ProjectionPath &path, std::string &reason,
               StringRef name) {
  Value v = operand;
  if (auto read = v.getDefiningOp<tensor::ExtractSliceOp>()) {
    auto cache = read.getSource().getDefiningOp<CacheUpdateOp>();
    if (!cache) {
      reason =
          (name + " is a slice of something other than a cache update").str();
      return false;
    }
    path.read = read;
    path.cache = cache;
    path.cacheArg = dyn_cast<BlockArgument>(cache.getCache());
    v = cache.getUpdate();
  } else if (auto cache = v.getDefiningOp<CacheUpdateOp>()) {
    path.cache = cache;
    path.cacheArg = dyn_cast<BlockArgument>(cache.getCache());
    v = cache.getUpdate();
  }
  if (auto rope = v.getDefiningOp<RopeOp>()) {
    path.rope = rope;
    v = rope.getInput();
  }
  auto split = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (!split) {
    reason = (name + " is not a head split (tensor.expand_shape) of a "
                     "projection")
                 .str();
    return false;
  }
  path.split = split;
  auto proj = split.getSrc().getDefiningOp<LinearOp>();
  if (!proj) {
    reason = (name + " heads do not come from an attn.linear").str();
    return false;
  }
  path.proj = proj;
  return true;
}

int64_t dimOf(Value v, unsigned i) {
  return cast<RankedTensorType>(v.getType()).getDimSize(i);
}

} // namespace

int64_t AttentionBlock::numQueryHeads() {
  return dimOf(attention.getQuery(), 2);
}
int64_t AttentionBlock::numKVHeads() { return dimOf(attention.getKey(), 2); }
int64_t AttentionBlock::headDimQK() { return dimOf(attention.getQuery(), 3); }
int64_t AttentionBlock::headDimV() { return dimOf(attention.getValue(), 3); }

FailureOr<AttentionBlock> mlir::attn::matchAttentionBlock(AttentionOp op,
                                                          std::string &reason) {
  AttentionBlock b;
  b.attention = op;
  if (auto l = op->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName))
    b.layer = l.getInt();
  if (!matchPath(op.getQuery(), b.q, reason, "query") ||
      !matchPath(op.getKey(), b.k, reason, "key") ||
      !matchPath(op.getValue(), b.v, reason, "value"))
    return failure();
  if (!op.getResult().hasOneUse()) {
    reason = "the attention result has more than one use";
    return failure();
  }
  auto merge = dyn_cast<tensor::CollapseShapeOp>(*op->getUsers().begin());
  if (!merge || !merge.getResult().hasOneUse()) {
    reason = "the attention result is not merged (tensor.collapse_shape) "
             "into one output projection";
    return failure();
  }
  auto out = dyn_cast<LinearOp>(*merge->getUsers().begin());
  if (!out || out.getInput() != merge.getResult()) {
    reason = "the merged heads do not feed an attn.linear output projection";
    return failure();
  }
  b.merge = merge;
  b.out = out;
  for (int64_t d :
       {b.numQueryHeads(), b.numKVHeads(), b.headDimQK(), b.headDimV()})
    if (ShapedType::isDynamic(d)) {
      reason = "head counts and head dims must be static";
      return failure();
    }
  return b;
}

FailureOr<SmallVector<AttentionBlock>>
mlir::attn::collectAttentionBlocks(func::FuncOp fn) {
  SmallVector<AttentionBlock> blocks;
  bool ok = true;
  fn.walk([&](AttentionOp op) {
    if (!ok)
      return;
    std::string reason;
    FailureOr<AttentionBlock> b = matchAttentionBlock(op, reason);
    if (failed(b)) {
      op.emitError() << "cannot match the attention block: " << reason;
      ok = false;
      return;
    }
    blocks.push_back(*b);
  });
  if (!ok)
    return failure();
  return blocks;
}

//===- MlpExpansion.cpp - attn.mlp as its three projections ---------------===//

#include "attenuate/Dialect/Attn/Transforms/MlpExpansion.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

ExpandedMlp mlir::attn::expandMlp(MlpOp mlp) {
  OpBuilder b(mlp);
  Location loc = mlp.getLoc();
  auto xType = cast<RankedTensorType>(mlp.getInput().getType());
  int64_t inter = cast<RankedTensorType>(mlp.getGate().getType()).getDimSize(0);
  SmallVector<int64_t> hShape(xType.getShape());
  hShape.back() = inter;
  auto hType = RankedTensorType::get(hShape, xType.getElementType());
  // Everything built below is collected so it can get mlp's attributes.
  SmallVector<Operation *> created;
  auto track = [&](Value v) {
    created.push_back(v.getDefiningOp());
    return v;
  };
  auto g =
      LinearOp::create(b, loc, hType, mlp.getInput(), mlp.getGate(), Value());
  auto u =
      LinearOp::create(b, loc, hType, mlp.getInput(), mlp.getUp(), Value());
  created.append({g, u});
  // silu(g) = g / (1 + exp(-g)); the ones take g's (dynamic) shape.
  Value neg = track(arith::NegFOp::create(b, loc, g));
  Value e = track(math::ExpOp::create(b, loc, neg));
  SmallVector<Value> dynDims;
  for (int64_t i = 0; i < hType.getRank(); ++i)
    if (hType.isDynamicDim(i)) {
      Value index = track(arith::ConstantIndexOp::create(b, loc, i));
      dynDims.push_back(track(tensor::DimOp::create(b, loc, g, index)));
    }
  Value empty = track(tensor::EmptyOp::create(b, loc, hType, dynDims));
  Value oneScalar = track(arith::ConstantOp::create(
      b, loc, b.getFloatAttr(xType.getElementType(), 1.0)));
  Value onesLike =
      track(linalg::FillOp::create(b, loc, oneScalar, empty).getResult(0));
  Value denom = track(arith::AddFOp::create(b, loc, onesLike, e));
  Value silu = track(arith::DivFOp::create(b, loc, g, denom));
  Value h = track(arith::MulFOp::create(b, loc, silu, u));
  auto down = LinearOp::create(b, loc, xType, h, mlp.getDown(), Value());
  created.push_back(down);
  DictionaryAttr attrs = mlp->getDiscardableAttrDictionary();
  for (Operation *op : created)
    for (NamedAttribute a : attrs)
      op->setAttr(a.getName(), a.getValue());
  mlp.getResult().replaceAllUsesWith(down.getResult());
  mlp.erase();
  return {g, u, down, h};
}

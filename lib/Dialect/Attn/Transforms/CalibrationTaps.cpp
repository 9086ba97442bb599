//===- CalibrationTaps.cpp - attn-calibration-taps ------------------------===//

#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCALIBRATIONTAPSPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Replaces `mlp` by gate/up/down projections and returns the intermediate.
Value expandMlp(MlpOp mlp) {
  OpBuilder b(mlp);
  Location loc = mlp.getLoc();
  auto xType = cast<RankedTensorType>(mlp.getInput().getType());
  int64_t inter = cast<RankedTensorType>(mlp.getGate().getType()).getDimSize(0);
  SmallVector<int64_t> hShape(xType.getShape());
  hShape.back() = inter;
  auto hType = RankedTensorType::get(hShape, xType.getElementType());
  NamedAttrList attrs(mlp->getDiscardableAttrDictionary());
  Value g =
      LinearOp::create(b, loc, hType, mlp.getInput(), mlp.getGate(), Value());
  Value u =
      LinearOp::create(b, loc, hType, mlp.getInput(), mlp.getUp(), Value());
  // silu(g) = g / (1 + exp(-g)); the ones take g's (dynamic) shape.
  Value neg = arith::NegFOp::create(b, loc, g);
  Value e = math::ExpOp::create(b, loc, neg);
  SmallVector<Value> dynDims;
  for (int64_t i = 0; i < hType.getRank(); ++i)
    if (hType.isDynamicDim(i))
      dynDims.push_back(tensor::DimOp::create(b, loc, g, i));
  Value empty = tensor::EmptyOp::create(b, loc, hType, dynDims);
  Value oneScalar = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(xType.getElementType(), 1.0));
  Value onesLike =
      linalg::FillOp::create(b, loc, oneScalar, empty).getResult(0);
  Value denom = arith::AddFOp::create(b, loc, onesLike, e);
  Value silu = arith::DivFOp::create(b, loc, g, denom);
  Value h = arith::MulFOp::create(b, loc, silu, u);
  Value down = LinearOp::create(b, loc, xType, h, mlp.getDown(), Value());
  for (Operation *op :
       {g.getDefiningOp(), u.getDefiningOp(), down.getDefiningOp()})
    op->setDiscardableAttrs(attrs.getDictionary(b.getContext()));
  mlp.getResult().replaceAllUsesWith(down);
  mlp.erase();
  return h;
}

struct AttnCalibrationTapsPass
    : mlir::attn::impl::AttnCalibrationTapsPassBase<AttnCalibrationTapsPass> {
  using Base::Base;

  void runOnOperation() override {
    auto fn = getOperation().lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal()) {
      mlir::emitError(getOperation().getLoc())
          << "attn-calibration-taps: option 'entry' names no function with "
             "a body: '"
          << entry << "'";
      return signalPassFailure();
    }
    FailureOr<SmallVector<AttentionBlock>> blocks = collectAttentionBlocks(fn);
    if (failed(blocks))
      return signalPassFailure();
    if (blocks->empty()) {
      fn.emitError("attn-calibration-taps: no attention op to calibrate");
      return signalPassFailure();
    }
    SmallVector<std::pair<std::string, Value>> taps;
    for (AttentionBlock &b : *blocks) {
      if (b.layer < 0) {
        b.attention.emitError(
            "attn-calibration-taps: attention op has no attn.layer");
        return signalPassFailure();
      }
      std::string p = "layers." + std::to_string(b.layer) + ".";
      taps.push_back({p + "x_q", b.q.proj.getInput()});
      if (b.k.proj.getInput() != b.q.proj.getInput())
        taps.push_back({p + "x_kv", b.k.proj.getInput()});
      taps.push_back({p + "x_o", b.out.getInput()});
      taps.push_back({p + "q", b.attention.getQuery()});
      taps.push_back({p + "k", b.attention.getKey()});
      taps.push_back({p + "k_pre", b.k.split.getResult()});
      taps.push_back({p + "v", b.v.split.getResult()});
    }
    SmallVector<MlpOp> mlps;
    fn.walk([&](MlpOp m) { mlps.push_back(m); });
    for (MlpOp m : mlps) {
      auto layer = m->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName);
      if (!layer)
        continue;
      std::string p = "layers." + std::to_string(layer.getInt()) + ".";
      taps.push_back({p + "x_mlp", m.getInput()});
      taps.push_back({p + "h_mlp", expandMlp(m)});
    }

    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    unsigned first = ret.getNumOperands();
    SmallVector<Value> operands(ret.getOperands());
    SmallVector<Type> types(fn.getFunctionType().getResults());
    for (auto &[name, v] : taps) {
      operands.push_back(v);
      types.push_back(v.getType());
    }
    OpBuilder b(ret);
    func::ReturnOp::create(b, ret.getLoc(), operands);
    ret.erase();
    SmallVector<Attribute> resAttrs;
    for (unsigned i = 0; i < types.size(); ++i) {
      if (i < first) {
        resAttrs.push_back(fn.getResultAttrDict(i)
                               ? Attribute(fn.getResultAttrDict(i))
                               : b.getDictionaryAttr({}));
        continue;
      }
      resAttrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr("attn.tap", b.getStringAttr(taps[i - first].first))));
    }
    fn.setType(FunctionType::get(&getContext(),
                                 fn.getFunctionType().getInputs(), types));
    fn.setAllResultAttrs(resAttrs);
  }
};

} // namespace

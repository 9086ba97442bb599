//===- CalibrationTaps.cpp - attn-calibration-taps ------------------------===//

#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/MlpExpansion.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCALIBRATIONTAPSPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

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
      // Expanding erases the mlp: a tap taken of its result (an attention
      // or a later mlp reading it, found by fuzz-attn_passes) moves to the
      // down projection that replaces it.
      Value old = m.getResult();
      ExpandedMlp e = expandMlp(m);
      for (auto &tap : taps)
        if (tap.second == old)
          tap.second = e.down.getResult();
      taps.push_back({p + "h_mlp", e.hidden});
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

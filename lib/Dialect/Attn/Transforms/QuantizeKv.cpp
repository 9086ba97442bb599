//===- QuantizeKv.cpp - attn-quantize-kv (KIVI baseline) ------------------===//
//
// Every cache read feeding an attention op (`tensor.extract_slice` of an
// `attn.cache_update`) goes through attn.kv_quantize: keys per channel,
// values per token. The attention block matcher is not needed, so the pass
// also applies after rewrites that change the block's shape (MLA, shared
// attention); a latent cache read as both keys and values is skipped, since
// one cache cannot take both quantization axes.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNQUANTIZEKVPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr StringLiteral kPass = "attn-quantize-kv";

/// The cache write a value reads, if it is a slice of one.
CacheUpdateOp cacheOf(Value v) {
  auto read = v.getDefiningOp<tensor::ExtractSliceOp>();
  return read ? read.getSource().getDefiningOp<CacheUpdateOp>()
              : CacheUpdateOp();
}

struct AttnQuantizeKvPass
    : mlir::attn::impl::AttnQuantizeKvPassBase<AttnQuantizeKvPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Plain values: pass options do not print in diagnostics.
    int64_t bits = this->bits, window = this->window, group = this->group;
    auto fail = [&]() {
      return mlir::emitError(module.getLoc()) << kPass << ": ";
    };
    if (bits != 2 && bits != 4) {
      fail() << "option 'bits' must be 2 or 4, got " << bits;
      return signalPassFailure();
    }
    if (window < 0) {
      fail() << "option 'window' must be >= 0, got " << window;
      return signalPassFailure();
    }
    if (group < 1) {
      fail() << "option 'group' must be >= 1, got " << group;
      return signalPassFailure();
    }
    auto fn = module.lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal()) {
      fail() << "option 'entry' names no function with a body: '" << entry
             << "'";
      return signalPassFailure();
    }

    SmallVector<AttentionOp> ops;
    fn.walk([&](AttentionOp a) { ops.push_back(a); });
    int64_t done = 0;
    for (AttentionOp a : ops) {
      CacheUpdateOp kc = cacheOf(a.getKey()), vc = cacheOf(a.getValue());
      if (!kc || !vc) {
        emitRemark(a.getLoc()) << kPass << ": skipped (keys and values are "
                               << "not both cache reads)";
        continue;
      }
      if (kc == vc) {
        emitRemark(a.getLoc()) << kPass << ": skipped (keys and values read "
                               << "one latent cache)";
        continue;
      }
      auto vt = cast<RankedTensorType>(a.getValue().getType());
      int64_t dv = vt.getDimSize(3);
      if (!ShapedType::isDynamic(dv) && dv % group != 0) {
        a.emitError() << kPass << ": option 'group' (" << group
                      << ") must divide the value head dim " << dv;
        return signalPassFailure();
      }
      OpBuilder b(a);
      auto quantize = [&](Value v, StringRef axis) {
        auto q = KvQuantizeOp::create(
            b, v.getLoc(), v.getType(), v, b.getI64IntegerAttr(bits),
            b.getStringAttr(axis), b.getI64IntegerAttr(group),
            b.getI64IntegerAttr(window));
        if (Attribute layer = a->getAttr(AttnDialect::kLayerAttrName))
          q->setAttr(AttnDialect::kLayerAttrName, layer);
        return q.getResult();
      };
      Value k = quantize(a.getKey(), "channel");
      Value v = quantize(a.getValue(), "token");
      a.getKeyMutable().assign(k);
      a.getValueMutable().assign(v);
      ++done;
    }
    emitRemark(fn.getLoc()) << kPass << ": " << done << " of " << ops.size()
                            << " attention ops read a " << bits
                            << "-bit cache (group " << group << ", window "
                            << window << ")";
  }
};

} // namespace

//===- Pamm.cpp - attn-pamm: compressed saved inputs of weight gradients --===//
//
// The memory PAMM saves is the forward→backward boundary: what a forward
// returns for its backward is what training keeps alive between the two
// passes. So the rewrite is on the pair's signatures, not inside one
// function: X leaves the forward's results and (C, f, α) take its place,
// in both functions at once, under the same attn.saved name.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPAMMPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr StringLiteral kSavedAttr = "attn.saved";
constexpr StringLiteral kBackwardAttr = "attn.backward";

/// "1/512", "0.125" or "1"; nullopt when not a number.
std::optional<double> parseRatio(StringRef text) {
  auto [num, den] = text.trim().split('/');
  double n, d = 1.0;
  if (num.trim().getAsDouble(n))
    return std::nullopt;
  if (!den.empty() && den.trim().getAsDouble(d))
    return std::nullopt;
  return n / d;
}

struct Compressed {
  Value generators, assignment, scale;
};

struct AttnPammPass : mlir::attn::impl::AttnPammPassBase<AttnPammPass> {
  using Base::Base;

  double r = 0;
  int64_t nextSeed = 0;
  unsigned rewritten = 0;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<double> parsed = parseRatio(ratio);
    if (!parsed || !(*parsed > 0.0 && *parsed <= 1.0)) {
      emitError(module.getLoc())
          << "attn-pamm: option 'ratio' must be in (0, 1] (a number or a "
             "fraction such as 1/512), got '"
          << ratio << "'";
      return signalPassFailure();
    }
    if (!(epsilon >= 0.0) || std::isinf(epsilon)) {
      emitError(module.getLoc())
          << "attn-pamm: option 'epsilon' must be a finite number >= 0 (>= 1 "
             "drops nothing), got "
          << epsilon;
      return signalPassFailure();
    }
    r = *parsed;
    nextSeed = seed;

    // Grad ops whose input must stay saved anyway: left exact.
    llvm::DenseSet<Operation *> keep;
    for (auto fwd : module.getOps<func::FuncOp>()) {
      auto ref = fwd->getAttrOfType<StringAttr>(kBackwardAttr);
      if (!ref)
        continue;
      auto bwd = module.lookupSymbol<func::FuncOp>(ref);
      if (!bwd || bwd.isExternal() || fwd.isExternal()) {
        fwd.emitError() << "attn-pamm: @" << fwd.getSymName()
                        << " names its backward " << ref
                        << ", which is not a function with a body in this "
                           "module";
        return signalPassFailure();
      }
      if (failed(rewritePair(fwd, bwd, keep)))
        return signalPassFailure();
    }

    SmallVector<LinearGradWeightOp> rest;
    unsigned alreadyCompressed = 0;
    module.walk([&](Operation *op) {
      if (auto g = dyn_cast<LinearGradWeightOp>(op)) {
        if (!keep.contains(op))
          rest.push_back(g);
      } else if (isa<PammGradWeightOp>(op)) {
        ++alreadyCompressed;
      }
    });
    rewriteLocal(rest);

    if (rewritten == 0 && keep.empty() && alreadyCompressed == 0) {
      emitError(module.getLoc())
          << "attn-pamm: no projection backward to compress: the module has "
             "no attn.linear_grad_weight (import a training graph with "
             "`attn-import hf DIR --training`)";
      return signalPassFailure();
    }
  }

  /// The compress op for `x`, inserted by `b`.
  Compressed compress(OpBuilder &b, Location loc, Value x, IntegerAttr layer,
                      int64_t opSeed) {
    auto type = cast<RankedTensorType>(x.getType());
    ArrayRef<int64_t> tokens = type.getShape().drop_back();
    int64_t k = ShapedType::kDynamic;
    if (llvm::none_of(tokens, ShapedType::isDynamic)) {
      int64_t count = 1;
      for (int64_t d : tokens)
        count *= d;
      k = PammCompressOp::numGenerators(count, r);
    }
    Type elt = type.getElementType();
    auto cType = RankedTensorType::get({k, type.getShape().back()}, elt);
    auto fType = RankedTensorType::get(tokens, b.getI32Type());
    auto aType = RankedTensorType::get(tokens, elt);
    FloatAttr eps = epsilon < 1.0 ? b.getF64FloatAttr(epsilon) : FloatAttr();
    auto op = PammCompressOp::create(b, loc, cType, fType, aType, x,
                                     b.getF64FloatAttr(r),
                                     b.getI64IntegerAttr(opSeed), eps);
    if (layer)
      op->setAttr(AttnDialect::kLayerAttrName, layer);
    return {op.getGenerators(), op.getAssignment(), op.getScale()};
  }

  /// Replaces `grad` by the PAMM gradient from `c`.
  void replaceGrad(LinearGradWeightOp grad, const Compressed &c) {
    OpBuilder b(grad);
    auto op = PammGradWeightOp::create(b, grad.getLoc(), grad.getType(),
                                       grad.getGradOutput(), c.generators,
                                       c.assignment, c.scale);
    op->setDiscardableAttrs(grad->getDiscardableAttrDictionary());
    grad.replaceAllUsesWith(op.getResult());
    grad.erase();
    ++rewritten;
  }

  static std::optional<unsigned> savedResult(func::FuncOp fn,
                                             StringAttr name) {
    for (unsigned i = 0, e = fn.getNumResults(); i < e; ++i)
      if (fn.getResultAttrOfType<StringAttr>(i, kSavedAttr) == name)
        return i;
    return std::nullopt;
  }

  LogicalResult rewritePair(func::FuncOp fwd, func::FuncOp bwd,
                            llvm::DenseSet<Operation *> &keep) {
    SmallVector<func::ReturnOp> returns(fwd.getOps<func::ReturnOp>());
    if (returns.size() != 1 || fwd.getBody().getBlocks().size() != 1)
      return fwd.emitError()
             << "attn-pamm: forward @" << fwd.getSymName()
             << " must be a single block ending in func.return";
    func::ReturnOp ret = returns.front();

    // Saved activations whose every backward use is a weight gradient's
    // input, in argument order (which fixes their seeds).
    SmallVector<unsigned> args;
    for (unsigned i = 0, e = bwd.getNumArguments(); i < e; ++i) {
      auto name = bwd.getArgAttrOfType<StringAttr>(i, kSavedAttr);
      BlockArgument arg = bwd.getArgument(i);
      if (!name || arg.use_empty())
        continue;
      bool onlyGrads = true;
      Operation *other = nullptr;
      for (OpOperand &use : arg.getUses()) {
        auto g = dyn_cast<LinearGradWeightOp>(use.getOwner());
        if (!g || use.getOperandNumber() != 1) {
          onlyGrads = false;
          other = use.getOwner();
          break;
        }
      }
      if (!onlyGrads) {
        for (Operation *user : arg.getUsers())
          if (isa<LinearGradWeightOp>(user))
            keep.insert(user);
        mlir::emitWarning(other->getLoc())
            << "attn-pamm: saved activation " << name << " is also read by '"
            << other->getName()
            << "' in the backward, so it stays saved and its weight "
               "gradients stay exact";
        continue;
      }
      std::optional<unsigned> res = savedResult(fwd, name);
      if (!res)
        return bwd.emitError()
               << "attn-pamm: argument #" << i << " of @" << bwd.getSymName()
               << " is saved activation " << name << " but @"
               << fwd.getSymName() << " returns no result with attn.saved = "
               << name;
      if (fwd.getResultTypes()[*res] != arg.getType())
        return bwd.emitError()
               << "attn-pamm: saved activation " << name << " is "
               << fwd.getResultTypes()[*res] << " in @" << fwd.getSymName()
               << " but " << arg.getType() << " in @" << bwd.getSymName();
      args.push_back(i);
    }

    // Compress ops in argument order (which fixes their seeds) before the
    // return; then the signatures, from the last argument so that the
    // earlier indices stay valid.
    SmallVector<Compressed> compressed;
    for (unsigned i : args) {
      auto name = bwd.getArgAttrOfType<StringAttr>(i, kSavedAttr);
      unsigned res = *savedResult(fwd, name);
      IntegerAttr layer =
          fwd.getResultAttrOfType<IntegerAttr>(res, AttnDialect::kLayerAttrName);
      Value x = ret.getOperand(res);
      if (!layer)
        if (Operation *def = x.getDefiningOp())
          layer = def->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName);
      OpBuilder b(ret);
      compressed.push_back(compress(b, ret.getLoc(), x, layer, nextSeed++));
    }
    for (size_t n = args.size(); n-- > 0;) {
      unsigned i = args[n];
      auto name = bwd.getArgAttrOfType<StringAttr>(i, kSavedAttr);
      unsigned res = *savedResult(fwd, name);
      IntegerAttr layer =
          fwd.getResultAttrOfType<IntegerAttr>(res, AttnDialect::kLayerAttrName);
      const Compressed &c = compressed[n];
      OpBuilder b(ret);

      // The three values take the place of X, in both signatures.
      SmallVector<Type> types{c.generators.getType(), c.assignment.getType(),
                              c.scale.getType()};
      SmallVector<DictionaryAttr> attrs;
      for (StringRef suffix :
           {".pamm_generators", ".pamm_assignment", ".pamm_scale"}) {
        SmallVector<NamedAttribute> fields{b.getNamedAttr(
            kSavedAttr, b.getStringAttr(name.getValue() + suffix))};
        if (!layer)
          layer = c.generators.getDefiningOp()->getAttrOfType<IntegerAttr>(
              AttnDialect::kLayerAttrName);
        if (layer)
          fields.push_back(b.getNamedAttr(AttnDialect::kLayerAttrName, layer));
        attrs.push_back(b.getDictionaryAttr(fields));
      }
      SmallVector<Value> operands(ret.getOperands());
      operands.erase(operands.begin() + res);
      operands.insert(operands.begin() + res,
                      {c.generators, c.assignment, c.scale});
      SmallVector<unsigned> at(3, res + 1);
      if (failed(fwd.insertResults(at, types, attrs)) ||
          failed(fwd.eraseResult(res)))
        return fwd.emitError() << "attn-pamm: cannot update the signature of @"
                               << fwd.getSymName();
      ret->setOperands(operands);

      Location argLoc = bwd.getArgument(i).getLoc();
      SmallVector<unsigned> argAt(3, i + 1);
      SmallVector<Location> locs(3, argLoc);
      if (failed(bwd.insertArguments(argAt, types, attrs, locs)))
        return bwd.emitError() << "attn-pamm: cannot update the signature of @"
                               << bwd.getSymName();
      Compressed saved{bwd.getArgument(i + 1), bwd.getArgument(i + 2),
                       bwd.getArgument(i + 3)};
      for (Operation *user :
           llvm::make_early_inc_range(bwd.getArgument(i).getUsers()))
        replaceGrad(cast<LinearGradWeightOp>(user), saved);
      if (failed(bwd.eraseArgument(i)))
        return bwd.emitError() << "attn-pamm: cannot update the signature of @"
                               << bwd.getSymName();
    }
    return success();
  }

  /// Weight gradients of a graph that is not partitioned: X is compressed
  /// where it is defined, once for all of its gradients.
  void rewriteLocal(ArrayRef<LinearGradWeightOp> grads) {
    llvm::MapVector<Value, Compressed> done;
    for (LinearGradWeightOp g : grads) {
      Value x = g.getInput();
      auto it = done.find(x);
      if (it == done.end()) {
        OpBuilder b(g.getContext());
        IntegerAttr layer;
        if (Operation *def = x.getDefiningOp()) {
          b.setInsertionPointAfter(def);
          layer = def->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName);
        } else {
          b.setInsertionPointToStart(cast<BlockArgument>(x).getOwner());
        }
        if (!layer)
          layer = g->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName);
        it = done.insert({x, compress(b, x.getLoc(), x, layer, nextSeed++)})
                 .first;
      }
      replaceGrad(g, it->second);
    }
  }
};

} // namespace

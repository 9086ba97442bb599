//===- ShareAttention.cpp - attn-share-attention --------------------------===//

#include "attenuate/Calibration/StatsFile.h"
#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <map>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSHAREATTENTIONPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnShareAttentionPass
    : mlir::attn::impl::AttnShareAttentionPassBase<AttnShareAttentionPass> {
  using Base::Base;

  /// Parses "a-b,c" into shared layers; false with a diagnostic on error.
  bool parseSpans(ModuleOp module, std::set<int64_t> &shared) {
    SmallVector<StringRef> parts;
    StringRef(spans).split(parts, ',', -1, /*KeepEmpty=*/false);
    for (StringRef part : parts) {
      auto [a, b] = part.trim().split('-');
      int64_t s, e;
      if (a.trim().getAsInteger(10, s) ||
          (b.empty() ? (e = s, false) : b.trim().getAsInteger(10, e)) ||
          s > e) {
        mlir::emitError(module.getLoc())
            << "attn-share-attention: option 'spans': cannot "
               "parse '"
            << part << "' (expected s-e with s <= e)";
        return false;
      }
      if (s < 1) {
        mlir::emitError(module.getLoc())
            << "attn-share-attention: option 'spans': span " << part
            << " starts at layer 0, which has no source layer";
        return false;
      }
      for (int64_t l = s; l <= e; ++l)
        shared.insert(l);
    }
    return true;
  }

  /// Scores layer l against l-1 from the stats and picks shared layers.
  bool chooseFromStats(ModuleOp module, int64_t numLayers,
                       std::set<int64_t> &shared) {
    std::string error;
    auto file =
        attenuate::calibration::StatsFile::open(stats.getValue(), error);
    if (!file) {
      mlir::emitError(module.getLoc())
          << "attn-share-attention: option 'stats': " << error;
      return false;
    }
    std::string source;
    if (Attribute src = module->getAttr("attn.source")) {
      llvm::raw_string_ostream os(source);
      os << src;
    }
    if (!file->checkSource(source, error)) {
      mlir::emitError(module.getLoc())
          << "attn-share-attention: option 'stats': " << error;
      return false;
    }
    bool js = metric == "js";
    std::string key = js ? "similarity.js" : "similarity.cosine";
    const attenuate::params::TensorInfo *t = file->file().find(key);
    if (!t || t->shape.size() != 3 || t->shape[1] != t->shape[2] ||
        t->shape[1] < numLayers) {
      mlir::emitError(module.getLoc())
          << "attn-share-attention: option 'stats': " << file->path()
          << " has no " << key << " for " << numLayers
          << " layers (calibrate with similarity)";
      return false;
    }
    int64_t heads = t->shape[0], L = t->shape[1];
    std::vector<double> sim;
    if (!file->file().readAsF64(*t, sim, error)) {
      mlir::emitError(module.getLoc()) << "attn-share-attention: " << error;
      return false;
    }
    std::vector<std::pair<double, int64_t>> candidates;
    for (int64_t l = 1; l < numLayers; ++l) {
      double s = 0;
      for (int64_t h = 0; h < heads; ++h)
        s += sim[(h * L + l) * L + (l - 1)];
      s /= heads;
      bool pass =
          std::isnan(threshold) || (js ? s <= threshold : s >= threshold);
      if (pass)
        candidates.push_back({js ? -s : s, l});
    }
    std::sort(candidates.begin(), candidates.end(),
              [](auto &a, auto &b) { return a.first > b.first; });
    if (maxShared > 0 && static_cast<int64_t>(candidates.size()) > maxShared)
      candidates.resize(maxShared);
    for (auto &[score, l] : candidates)
      shared.insert(l);
    return true;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (metric != "cosine" && metric != "js") {
      mlir::emitError(module.getLoc())
          << "attn-share-attention: option 'metric' must be "
             "cosine or js, got '"
          << metric << "'";
      return signalPassFailure();
    }
    if (maxShared < 0) {
      mlir::emitError(module.getLoc(),
                      "attn-share-attention: option 'max-shared-layers' "
                      "must be >= 0");
      return signalPassFailure();
    }
    if (!spans.empty() && !stats.empty()) {
      mlir::emitError(module.getLoc(),
                      "attn-share-attention: give either option 'spans' or "
                      "option 'stats', not both");
      return signalPassFailure();
    }
    if (stats.empty() && (!std::isnan(threshold) || maxShared > 0)) {
      mlir::emitError(module.getLoc(),
                      "attn-share-attention: options 'threshold' and "
                      "'max-shared-layers' need option 'stats'");
      return signalPassFailure();
    }
    if (spans.empty() && stats.empty())
      return markAllAnalysesPreserved();
    if (!stats.empty() && std::isnan(threshold) && maxShared == 0) {
      mlir::emitError(module.getLoc(),
                      "attn-share-attention: with option 'stats' give "
                      "'threshold' and/or 'max-shared-layers'");
      return signalPassFailure();
    }

    auto fn = module.lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal()) {
      mlir::emitError(module.getLoc())
          << "attn-share-attention: option 'entry' names no "
             "function with a body: '"
          << entry << "'";
      return signalPassFailure();
    }
    FailureOr<SmallVector<AttentionBlock>> blocks = collectAttentionBlocks(fn);
    if (failed(blocks))
      return signalPassFailure();
    std::map<int64_t, AttentionBlock *> byLayer;
    for (AttentionBlock &b : *blocks)
      if (b.layer >= 0)
        byLayer[b.layer] = &b;
    int64_t numLayers = byLayer.empty() ? 0 : byLayer.rbegin()->first + 1;

    std::set<int64_t> shared;
    if (!spans.empty() ? !parseSpans(module, shared)
                       : !chooseFromStats(module, numLayers, shared))
      return signalPassFailure();
    for (int64_t l : shared)
      if (!byLayer.count(l) || !byLayer.count(l - 1)) {
        mlir::emitError(module.getLoc())
            << "attn-share-attention: layer " << l
            << " (or its predecessor) has no attention op in @" << entry;
        return signalPassFailure();
      }
    if (shared.empty())
      return markAllAnalysesPreserved();

    // Rewire: each shared layer takes q, k and scale from its span's source.
    // The source's q and k must already exist where the shared layer's
    // attention runs; IR in another order (found by fuzz-attn_passes) is
    // refused rather than left with a use before its definition.
    DominanceInfo dominance(fn);
    SmallVector<Value> deadKCaches;
    for (int64_t l : shared) {
      int64_t src = l - 1;
      while (shared.count(src))
        --src;
      AttentionBlock &b = *byLayer[l];
      AttentionOp from = byLayer[src]->attention;
      if (from.getQuery().getType() != b.attention.getQuery().getType() ||
          from.getKey().getType() != b.attention.getKey().getType()) {
        b.attention.emitError()
            << "attn-share-attention: layer " << l << " cannot use layer "
            << src << "'s probabilities: query/key types differ ("
            << from.getQuery().getType() << " vs "
            << b.attention.getQuery().getType() << ")";
        return signalPassFailure();
      }
      if (!dominance.properlyDominates(from.getQuery(), b.attention) ||
          !dominance.properlyDominates(from.getKey(), b.attention)) {
        b.attention.emitError()
            << "attn-share-attention: layer " << l << " cannot use layer "
            << src << "'s query and key: they are computed after layer " << l
            << "'s attention";
        return signalPassFailure();
      }
      b.attention.getQueryMutable().assign(from.getQuery());
      b.attention.getKeyMutable().assign(from.getKey());
      b.attention.setScale(from.getScale());
      b.attention.setCausal(from.getCausal());
      if (b.k.cache)
        deadKCaches.push_back(b.k.cache.getResult());
    }

    // The shared layers' key caches leave the signature when nothing but the
    // return reads them.
    SymbolTableCollection symbolTables;
    SymbolUserMap users(symbolTables, module);
    bool canChangeSignature = users.getUsers(fn).empty();
    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    llvm::BitVector dropResults(fn.getNumResults());
    if (canChangeSignature) {
      for (Value v : deadKCaches) {
        for (OpOperand &use : v.getUses())
          if (use.getOwner() == ret.getOperation())
            dropResults.set(use.getOperandNumber());
      }
    }
    // Erase the dead slices first so the cache writes are only returned.
    FrozenRewritePatternSet none;
    (void)applyPatternsGreedily(fn, none);
    if (dropResults.any()) {
      for (int i = dropResults.size() - 1; i >= 0; --i)
        if (dropResults.test(i)) {
          Value v = ret.getOperand(i);
          if (!llvm::all_of(v.getUsers(), [&](Operation *u) {
                return u == ret.getOperation();
              }))
            dropResults.reset(i);
        }
      ret->eraseOperands(dropResults);
      (void)fn.eraseResults(dropResults);
      (void)applyPatternsGreedily(fn, none);
      llvm::BitVector dropArgs(fn.getNumArguments());
      for (BlockArgument a : fn.getArguments())
        if (a.use_empty() && isa<RankedTensorType>(a.getType()) &&
            cast<RankedTensorType>(a.getType()).getRank() == 4)
          dropArgs.set(a.getArgNumber());
      (void)fn.eraseArguments(dropArgs);
    }
    std::string list;
    for (int64_t l : shared)
      list += (list.empty() ? "" : ",") + std::to_string(l);
    emitRemark(fn.getLoc()) << "attn-share-attention: shared layers " << list;
  }
};

} // namespace

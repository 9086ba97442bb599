//===- SparseKv.cpp - attn-sparse-kv (CSR) --------------------------------===//
//
// CSR as a rewrite of the cached attention blocks of the entry function.
// Two phases, so that a bad option, a stats file of another model or an
// unexpected block fails before the IR changes: planning checks every block
// and learns the dictionaries (Numerics/Dictionary.h), applying rewrites
// each layer's chains
//
//   k_cache' = cache_update(k_cache, rope(k_pre))  ->  read -> attention
// into
//   idx, coef = sparse_encode(k_pre, D_K)
//   k_idx' = cache_update(k_idx, idx); k_coef' = cache_update(k_coef, coef)
//   k = rope(sparse_decode(read(k_idx'), read(k_coef'), D_K), rows)
//
// (values alike, without RoPE, in v-chunks chunks), and splits each cache
// argument and result in two (indices i16, coefficients f16).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Calibration/StatsFile.h"
#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"
#include "attenuate/Numerics/Dictionary.h"
#include "attenuate/Numerics/MatchingPursuit.h"
#include "attenuate/Params/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

#include <cstdio>
#include <cstring>
#include <map>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSPARSEKVPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
namespace nm = attenuate::numerics;
namespace ap = attenuate::params;

namespace {

constexpr StringLiteral kPass = "attn-sparse-kv";

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

RankedTensorType withLast(RankedTensorType t, int64_t last, Type elt) {
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = last;
  return RankedTensorType::get(shape, elt);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

/// One dictionary: atoms as rows [N, dc] (the IR's layout), and its name.
struct Dict {
  std::vector<float> rows;
  int64_t atoms = 0, dim = 0;
  std::string name, stored;
};

struct SparseKvRewrite {
  std::string entry, stats, dictionary;
  int64_t kAtoms = 0, vAtoms = 0, vChunks = 0, atoms = 0, group = 1, rounds = 0,
          seed = 0;

  ModuleOp module;
  func::FuncOp fn;
  ap::ParamStore *store = nullptr;
  std::unique_ptr<attenuate::calibration::StatsFile> statsFile;
  SmallVector<AttentionBlock> blocks;
  std::map<int64_t, Dict> kDicts, vDicts; // by group index
  int64_t headDim = 0, vHeadDim = 0;

  InFlightDiagnostic moduleError() {
    return mlir::emitError(module.getLoc()) << kPass << ": ";
  }
  InFlightDiagnostic error(Operation *at) {
    return at->emitError() << kPass << ": ";
  }

  /// Why block `b` cannot be rewritten ("" if it can).
  std::string problem(AttentionBlock &b) {
    for (ProjectionPath *p : {&b.k, &b.v}) {
      const char *name = p == &b.k ? "key" : "value";
      if (!p->cache || !p->read || !p->cacheArg)
        return std::string("the ") + name +
               "s are not cached in an argument of @" + entry;
      if (!p->cacheArg.hasOneUse())
        return std::string("the ") + name + " cache argument has other users";
      for (Operation *u : p->cache.getResult().getUsers())
        if (u != p->read.getOperation() && !isa<func::ReturnOp>(u))
          return std::string("the ") + name +
                 " cache write has users besides its read";
      // The rewrite returns the index cache in the write's place and the
      // coefficient cache after it: one place only (fuzz-attn_passes found a
      // module returning the write twice, left with a stale f32 write).
      if (llvm::count_if(p->cache.getResult().getUses(), [](OpOperand &u) {
            return isa<func::ReturnOp>(u.getOwner());
          }) > 1)
        return std::string("the ") + name +
               " cache write is returned more than once";
      // A read may feed several attention ops (shared attention): all of
      // them get the decoded values.
      Type elt = tensorType(p->cache.getUpdate()).getElementType();
      if (!isa<FloatType>(elt))
        return std::string("the ") + name + " cache is already encoded";
      // The dictionaries are f32 and the codec ops compute in the dense
      // element type.
      if (!elt.isF32())
        return std::string("the ") + name + " cache is not f32";
    }
    if (b.k.cacheArg == b.v.cacheArg || b.k.cache == b.v.cache)
      return "keys and values share one cache";
    if (b.k.rope && b.k.cache.getUpdate() != b.k.rope.getResult())
      return "the key cache does not hold the RoPE output";
    if (b.k.rope && !b.k.rope.getResult().hasOneUse())
      return "the rotated keys have users besides the cache";
    return "";
  }

  LogicalResult checkOptions() {
    if (vChunks < 1 || vHeadDim % vChunks != 0)
      return moduleError() << "option 'v-chunks' must divide the value head "
                              "dim "
                           << vHeadDim << ", got " << vChunks;
    if (kAtoms < 1 || kAtoms > headDim)
      return moduleError() << "option 'k-atoms' must be in [1, head_dim = "
                           << headDim << "], got " << kAtoms;
    if (vAtoms < 1 || vAtoms > vHeadDim / vChunks)
      return moduleError() << "option 'v-atoms' must be in [1, head_dim / "
                              "v-chunks = "
                           << vHeadDim / vChunks << "], got " << vAtoms;
    if (group < 1)
      return moduleError() << "option 'group' must be >= 1, got " << group;
    if (rounds < 0)
      return moduleError() << "option 'rounds' must be >= 0, got " << rounds;
    if (!dictionary.empty() && dictionary != "identity")
      return moduleError() << "option 'dictionary' must be empty or "
                              "'identity', got '"
                           << dictionary << "'";
    if (dictionary.empty() && (atoms < 1 || atoms > nm::kMaxDictionaryAtoms))
      return moduleError() << "option 'atoms' must be in [1, "
                           << nm::kMaxDictionaryAtoms << "], got " << atoms;
    if (dictionary.empty() && stats.empty())
      return moduleError() << "option 'stats' is required (KV samples from "
                              "attn-calibrate), or dictionary=identity";
    return success();
  }

  LogicalResult openStats() {
    std::string err;
    statsFile = attenuate::calibration::StatsFile::open(stats, err);
    if (!statsFile)
      return moduleError() << "option 'stats': " << err;
    std::string source;
    if (Attribute src = module->getAttr("attn.source")) {
      llvm::raw_string_ostream os(source);
      os << src;
    }
    if (!statsFile->checkSource(source, err))
      return moduleError() << "option 'stats': " << err;
    return success();
  }

  /// Rows of `dim` floats from layer `layer`'s `<kind>_samples` [n, h, d],
  /// each head vector split into d / dim chunks.
  LogicalResult samples(int64_t layer, StringRef kind, int64_t d, int64_t dim,
                        std::vector<float> &out) {
    std::string key =
        "layers." + std::to_string(layer) + "." + kind.str() + "_samples";
    const ap::TensorInfo *t = statsFile->file().find(key);
    if (!t)
      return moduleError() << "option 'stats': " << statsFile->path()
                           << " has no '" << key
                           << "' (KV samples of attn-calibrate)";
    if (t->dtype != ap::DType::F32 || t->shape.size() != 3 || t->shape[2] != d)
      return moduleError() << "option 'stats': '" << key << "' in "
                           << statsFile->path() << " is not [n, heads, " << d
                           << "] f32 (stats of another model?)";
    const uint8_t *p = statsFile->file().data(*t);
    size_t count = t->numElements();
    size_t base = out.size();
    out.resize(base + count);
    std::memcpy(out.data() + base, p, count * sizeof(float));
    (void)dim; // chunks are consecutive, so rows of `dim` are the same floats
    return success();
  }

  LogicalResult learn(int64_t g, const std::vector<int64_t> &layers,
                      StringRef kind, int64_t d, int64_t chunks, int64_t s,
                      Dict &out) {
    int64_t dim = d / chunks;
    out.dim = dim;
    std::string span =
        std::to_string(layers.front()) + "-" + std::to_string(layers.back());
    out.name = "attn.csr.layers." + span + "." + kind.str() + "_dict";
    if (dictionary == "identity") {
      out.atoms = dim;
      out.rows.assign(static_cast<size_t>(dim * dim), 0.f);
      for (int64_t i = 0; i < dim; ++i)
        out.rows[i * dim + i] = 1.f;
      return success();
    }
    std::vector<float> x;
    for (int64_t l : layers)
      if (failed(samples(l, kind, d, dim, x)))
        return failure();
    int64_t n = static_cast<int64_t>(x.size()) / dim;
    nm::DictionaryResult r;
    std::string err;
    if (!nm::learnDictionary(
            x.data(), n, dim, dim, atoms, s, static_cast<int>(rounds),
            static_cast<uint64_t>(seed) + g * 2 + (kind == "v"), r, err))
      return moduleError() << "option 'atoms': " << kind
                           << " dictionary of layers " << span << ": " << err;
    out.atoms = atoms;
    out.rows.resize(static_cast<size_t>(atoms * dim));
    for (int64_t a = 0; a < atoms; ++a)
      for (int64_t j = 0; j < dim; ++j)
        out.rows[a * dim + j] = static_cast<float>(r.atoms(j, a));
    emitRemark(fn.getLoc())
        << kPass << ": " << kind << " dictionary of layers " << span << " ("
        << atoms << " atoms of " << dim << ", s = " << s << ", " << n
        << " samples): MP relative error " << fmt(r.initError)
        << " after k-means, " << fmt(r.finalError) << " after " << r.rounds
        << " refinement rounds";
    return success();
  }

  /// The dictionary as an attn.param before `before` (stored once).
  FailureOr<Value> param(OpBuilder &b, Operation *before, Dict &d,
                         Attribute layer) {
    if (d.stored.empty()) {
      std::string name = d.name;
      for (int k = 2; store->lookup(name); ++k)
        name = d.name + "." + std::to_string(k);
      std::vector<uint8_t> bytes(d.rows.size() * sizeof(float));
      std::memcpy(bytes.data(), d.rows.data(), bytes.size());
      std::string err;
      if (!store->addTensor(name, ap::DType::F32, {d.atoms, d.dim},
                            std::move(bytes), err))
        return error(before) << "cannot store \"" << name << "\": " << err;
      d.stored = name;
    }
    b.setInsertionPoint(before);
    auto p =
        ParamOp::create(b, before->getLoc(),
                        RankedTensorType::get({d.atoms, d.dim}, b.getF32Type()),
                        b.getStringAttr(d.stored));
    if (layer)
      p->setAttr(AttnDialect::kLayerAttrName, layer);
    return p.getResult();
  }

  /// Rewrites one cached path; returns the decoded (pre-RoPE) read.
  FailureOr<Value> encodePath(ProjectionPath &p, Value dense, Dict &dict,
                              int64_t s, int64_t chunks, StringRef prefix,
                              Attribute layer, func::ReturnOp ret,
                              SetVector<Operation *> &dead) {
    OpBuilder b(p.cache);
    Location loc = p.cache.getLoc();
    FailureOr<Value> d = param(b, p.cache, dict, layer);
    if (failed(d))
      return failure();
    b.setInsertionPoint(p.cache);
    int64_t codes = chunks * s;
    Type i16 = b.getI16Type(), f16 = b.getF16Type();
    RankedTensorType denseType = tensorType(dense);
    auto enc = SparseEncodeOp::create(b, loc, withLast(denseType, codes, i16),
                                      withLast(denseType, codes, f16), dense,
                                      *d, b.getI64IntegerAttr(s),
                                      b.getI64IntegerAttr(chunks));
    if (layer)
      enc->setAttr(AttnDialect::kLayerAttrName, layer);

    // The cache argument becomes the indices; the coefficients follow it.
    RankedTensorType cacheType = tensorType(p.cache.getResult());
    RankedTensorType idxCache = withLast(cacheType, codes, i16);
    RankedTensorType coefCache = withLast(cacheType, codes, f16);
    BlockArgument idxArg = p.cacheArg;
    unsigned argNo = idxArg.getArgNumber();
    std::string index = "";
    if (auto name = dyn_cast<NameLoc>(idxArg.getLoc()))
      index = name.getName().strref().rsplit("cache").second.str();
    auto named = [&](StringRef what) -> Location {
      return NameLoc::get(
          b.getStringAttr(prefix.str() + "_" + what.str() + index),
          idxArg.getLoc());
    };
    idxArg.setType(idxCache);
    Location coefLoc = named("coef");
    idxArg.setLoc(named("idx"));
    if (failed(
            fn.insertArgument(argNo + 1, coefCache, DictionaryAttr(), coefLoc)))
      return error(fn) << "cannot add the coefficient cache argument";
    BlockArgument coefArg = fn.getArgument(argNo + 1);

    Value pos = p.cache.getPosition();
    auto cuIdx =
        CacheUpdateOp::create(b, loc, idxCache, idxArg, enc.getIndices(), pos);
    auto cuCoef = CacheUpdateOp::create(b, loc, coefCache, coefArg,
                                        enc.getCoefficients(), pos);
    for (Operation *o : {cuIdx.getOperation(), cuCoef.getOperation()})
      if (layer)
        o->setAttr(AttnDialect::kLayerAttrName, layer);

    // Results: the index write replaces the old one; the coefficients go
    // right after it.
    for (OpOperand &use :
         llvm::make_early_inc_range(p.cache.getResult().getUses())) {
      if (use.getOwner() != ret.getOperation())
        continue;
      unsigned r = use.getOperandNumber();
      use.set(cuIdx.getResult());
      if (failed(fn.insertResult(r + 1, coefCache, DictionaryAttr())))
        return error(fn) << "cannot add the coefficient cache result";
      ret->insertOperands(r + 1, ValueRange{cuCoef.getResult()});
      break;
    }

    // The read: the same prefix of both code caches, decoded.
    tensor::ExtractSliceOp read = p.read;
    b.setInsertionPoint(read);
    SmallVector<OpFoldResult> sizes = read.getMixedSizes();
    sizes.back() = b.getIndexAttr(codes);
    auto slice = [&](Value src) {
      auto s = tensor::ExtractSliceOp::create(b, read.getLoc(), src,
                                              read.getMixedOffsets(), sizes,
                                              read.getMixedStrides());
      if (layer)
        s->setAttr(AttnDialect::kLayerAttrName, layer);
      return s.getResult();
    };
    Value ri = slice(cuIdx.getResult()), rc = slice(cuCoef.getResult());
    auto dec = SparseDecodeOp::create(b, read.getLoc(), read.getType(), ri, rc,
                                      *d, b.getI64IntegerAttr(chunks));
    if (layer)
      dec->setAttr(AttnDialect::kLayerAttrName, layer);
    dead.insert(read);
    dead.insert(p.cache);
    return dec.getResult();
  }

  LogicalResult run(ModuleOp m) {
    module = m;
    fn = module.lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal())
      return moduleError() << "option 'entry' names no function with a "
                              "body: '"
                           << entry << "'";
    FailureOr<SmallVector<AttentionBlock>> all = collectAttentionBlocks(fn);
    if (failed(all))
      return failure();
    SmallVector<std::string> skipped;
    for (AttentionBlock &b : *all) {
      if (std::string why = problem(b); !why.empty()) {
        skipped.push_back("layer " + std::to_string(b.layer) + " (" + why +
                          ")");
        continue;
      }
      if (b.layer < 0)
        return error(b.attention) << "attention op has no attn.layer";
      int64_t dk = tensorType(b.k.cache.getResult()).getDimSize(3);
      int64_t dv = tensorType(b.v.cache.getResult()).getDimSize(3);
      if (ShapedType::isDynamic(dk) || ShapedType::isDynamic(dv))
        return error(b.attention) << "head dims must be static";
      if ((headDim && headDim != dk) || (vHeadDim && vHeadDim != dv))
        return error(b.attention) << "layers differ in head dim";
      headDim = dk;
      vHeadDim = dv;
      blocks.push_back(b);
    }
    for (const std::string &s : skipped)
      emitRemark(fn.getLoc()) << kPass << ": skipped " << s;
    if (blocks.empty()) {
      emitRemark(fn.getLoc()) << kPass << ": no cached attention block";
      return success();
    }
    if (failed(checkOptions()))
      return failure();
    if (dictionary.empty() && failed(openStats()))
      return failure();
    SymbolTableCollection symbolTables;
    SymbolUserMap users(symbolTables, module);
    if (!users.getUsers(fn).empty())
      return error(fn) << "@" << entry
                       << " is called from the module; its cache arguments "
                          "and results cannot change";

    // Learn every dictionary before changing anything.
    std::map<int64_t, std::vector<int64_t>> groups;
    for (AttentionBlock &b : blocks)
      groups[b.layer / group].push_back(b.layer);
    for (auto &[g, layers] : groups) {
      if (failed(learn(g, layers, "k", headDim, 1, kAtoms, kDicts[g])) ||
          failed(learn(g, layers, "v", vHeadDim, vChunks, vAtoms, vDicts[g])))
        return failure();
    }
    if (!(store = getParamStore(module, /*headerOnly=*/false)))
      return failure();

    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    SetVector<Operation *> dead;
    // Shared attention: several blocks may read one cache; it is encoded
    // once, and every reader gets the decoded values.
    llvm::DenseSet<Operation *> encoded;
    int64_t bytes = 0, dense = 0;
    for (AttentionBlock &b : blocks) {
      Attribute layer = b.attention->getAttr(AttnDialect::kLayerAttrName);
      int64_t g = b.layer / group;
      if (encoded.insert(b.k.cache).second) {
        int64_t hk = tensorType(b.k.cache.getResult()).getDimSize(2);
        bytes += hk * 4 * kAtoms;
        dense += hk * headDim * 4;
        Value kPre = b.k.rope ? b.k.rope.getInput() : b.k.cache.getUpdate();
        FailureOr<Value> k =
            encodePath(b.k, kPre, kDicts[g], kAtoms, 1, "k", layer, ret, dead);
        if (failed(k))
          return failure();
        Value key = *k;
        if (RopeOp rope = b.k.rope) {
          // RoPE after reconstruction, at each cache row's position.
          OpBuilder bld(b.attention);
          Location loc = rope.getLoc();
          auto posType = tensorType(rope.getPositions());
          SmallVector<Value> extents;
          RankedTensorType pt = RankedTensorType::get(
              {tensorType(key).getDimSize(0), tensorType(key).getDimSize(1)},
              posType.getElementType());
          // Positions of every cache row read: the read's [batch, len].
          for (int64_t i = 0; i < 2; ++i)
            if (pt.isDynamicDim(i))
              extents.push_back(
                  tensor::DimOp::create(bld, loc, key, i).getResult());
          Type posElt = posType.getElementType();
          auto rows = tensor::GenerateOp::create(
              bld, loc, pt, extents,
              [&](OpBuilder &nb, Location l, ValueRange ivs) {
                Value v = arith::IndexCastOp::create(nb, l, posElt, ivs[1]);
                tensor::YieldOp::create(nb, l, v);
              });
          auto newRope = RopeOp::create(bld, loc, TypeRange{key.getType()},
                                        ValueRange{key, rows.getResult()},
                                        rope->getAttrs());
          key = newRope.getResult();
          dead.insert(rope);
        }
        b.k.read.getResult().replaceAllUsesWith(key);
      }
      if (encoded.insert(b.v.cache).second) {
        int64_t hv = tensorType(b.v.cache.getResult()).getDimSize(2);
        bytes += hv * 4 * vChunks * vAtoms;
        dense += hv * vHeadDim * 4;
        FailureOr<Value> v = encodePath(b.v, b.v.cache.getUpdate(), vDicts[g],
                                        vAtoms, vChunks, "v", layer, ret, dead);
        if (failed(v))
          return failure();
        b.v.read.getResult().replaceAllUsesWith(*v);
      }
    }
    // Old reads, writes and RoPE, users first.
    bool progress = true;
    while (progress) {
      progress = false;
      for (Operation *o : dead)
        if (o->getBlock() && o->use_empty()) {
          o->erase();
          dead.remove(o);
          progress = true;
          break;
        }
    }
    fn.setType(FunctionType::get(module.getContext(),
                                 fn.getBody().front().getArgumentTypes(),
                                 ret.getOperandTypes()));
    emitRemark(fn.getLoc())
        << kPass << ": " << blocks.size() << " layers (" << encoded.size()
        << " caches), k-atoms " << kAtoms << ", v-atoms " << vAtoms << " x "
        << vChunks << " chunks, "
        << (dictionary.empty() ? std::to_string(atoms) + "-atom dictionaries"
                               : std::string("identity dictionaries"))
        << "; KV cache " << dense << " -> " << bytes
        << " bytes/token over these layers (fp32 before)";
    return success();
  }
};

struct AttnSparseKvPass
    : mlir::attn::impl::AttnSparseKvPassBase<AttnSparseKvPass> {
  using Base::Base;

  void runOnOperation() override {
    SparseKvRewrite rw;
    rw.entry = entry;
    rw.stats = stats;
    rw.dictionary = dictionary;
    rw.kAtoms = kAtoms;
    rw.vAtoms = vAtoms;
    rw.vChunks = vChunks;
    rw.atoms = atoms;
    rw.group = group;
    rw.rounds = rounds;
    rw.seed = seed;
    if (failed(rw.run(getOperation())))
      signalPassFailure();
  }
};

} // namespace

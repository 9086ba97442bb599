//===- MlaUpcycle.cpp - attn-mla-upcycle ----------------------------------===//
//
// X-EcoMLA as a rewrite of the matched attention blocks of the entry
// function (the math is Numerics/Mla). Two phases, so that a bad option,
// an unexpected block or a non-finite weight fails before the IR changes:
// planning reads the weights and computes every new tensor; applying builds
// each layer's MLA chain next to the old one, moves the K cache argument and
// result to the latent cache, drops the V cache argument and result, and
// erases the old chain.
//
// The absorbed chain of a layer (d_r = rope-dim, r = kv-rank):
//   q  = linear(x, W_Q')          [.., Hq·(d_r + r)]  (or x → W_DQ → W_UQ')
//   qh = rope(split(q))           [.., Hq, d_r + r]   rotary_dim d_r
//   l  = rope(split(linear(x, [W_KR ; W_DKV])))      [.., 1, d_r + r]
//   L  = cache_update(latent_cache, l)
//   o  = attention(qh, L[.., 0:d_r+r], L[.., d_r:])   [.., Hq, r]
//   y  = linear(merge(o), W_O')   W_O' [d_m, Hq·r]
// The explicit chain keeps q at Hq·d_h (rows permuted to the MLA head
// order) and rebuilds K and V from the latent read with two linears.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"
#include "attenuate/Numerics/Mla.h"
#include "attenuate/Params/DType.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNMLAUPCYCLEPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
namespace nm = attenuate::numerics;
namespace ap = attenuate::params;
using nm::Matrix;

namespace {

constexpr StringLiteral kPass = "attn-mla-upcycle";

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// `t` with its last dims replaced by `tail`.
RankedTensorType withTail(RankedTensorType t, ArrayRef<int64_t> tail) {
  SmallVector<int64_t> shape(t.getShape());
  for (size_t i = 0; i < tail.size(); ++i)
    shape[shape.size() - tail.size() + i] = tail[i];
  return RankedTensorType::get(shape, t.getElementType(), t.getEncoding());
}

std::string fmtF(double v, const char *f = "%.3f") {
  char buf[32];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

/// A tensor the rewrite creates, stored as `name` (made unique when added).
struct NewWeight {
  std::string name;
  Matrix value;
  bool vector = false;
  Type elementType, computeType;
  /// The name it was stored under.
  std::string stored;
};

/// One layer's rewrite, computed before anything changes.
struct LayerPlan {
  AttentionBlock b;
  nm::MlaLayout layout;
  nm::MlaKV kv;
  double energyKept = 1.0;
  int64_t qRank = 0;
  std::optional<NewWeight> qDown, qBias, latentBias, out, keyUp, valueUp;
  NewWeight q, latent;
  // RoPE of the new chain (d_r > 0 only).
  Value positions;
  FloatAttr theta;
  RopePairingAttr pairing;
  int64_t baseDim = 0;
  SmallVector<int64_t> frequencies;
  // The caches: function arguments and the return slots of their writes.
  BlockArgument kArg, vArg;
  int kResult = -1, vResult = -1;
  int64_t oldKvPerToken = 0;
};

struct MlaRewrite {
  // Options (see Passes.td).
  std::string entry, layers, form, ropePairs;
  int64_t kvRank = 0, roundTo = 8, ropeDim = -1, qRank = 0;
  double energy = NAN;

  ModuleOp module;
  func::FuncOp fn;
  func::ReturnOp ret;
  bool absorbed = true;
  nm::MlaRopeSelect select = nm::MlaRopeSelect::Norm;
  std::set<int64_t> layerSet;
  ap::ParamStore *store = nullptr;
  std::vector<LayerPlan> plans;

  InFlightDiagnostic error(Operation *at) {
    return at->emitError() << kPass << ": ";
  }
  InFlightDiagnostic moduleError() {
    return mlir::emitError(module.getLoc()) << kPass << ": ";
  }

  //===--------------------------------------------------------------------===//
  // Options
  //===--------------------------------------------------------------------===//

  LogicalResult parseOptions() {
    if (form == "absorbed")
      absorbed = true;
    else if (form == "explicit")
      absorbed = false;
    else
      return moduleError() << "option 'form' must be absorbed or explicit, "
                              "got '"
                           << form << "'";
    if (ropePairs == "norm")
      select = nm::MlaRopeSelect::Norm;
    else if (ropePairs == "high-frequency")
      select = nm::MlaRopeSelect::HighFrequency;
    else
      return moduleError() << "option 'rope-pairs' must be norm or "
                              "high-frequency, got '"
                           << ropePairs << "'";
    if (kvRank < 0)
      return moduleError() << "option 'kv-rank' must be positive, got "
                           << kvRank;
    bool haveEnergy = !std::isnan(energy);
    if (kvRank > 0 && haveEnergy)
      return moduleError() << "give option 'kv-rank' or option 'energy', not "
                              "both";
    if (kvRank == 0 && !haveEnergy)
      return moduleError() << "give option 'kv-rank' (the latent size) or "
                              "option 'energy' (a fraction of the K/V "
                              "spectrum to keep)";
    if (haveEnergy && !(energy > 0 && energy <= 1))
      return moduleError() << "option 'energy' must be in (0, 1], got "
                           << energy;
    if (roundTo < 1)
      return moduleError() << "option 'round-to' must be >= 1, got "
                           << roundTo;
    if (ropeDim < -1)
      return moduleError() << "option 'rope-dim' must be >= 0 (or -1: half "
                              "the rotated channels), got "
                           << ropeDim;
    if (ropeDim > 0 && ropeDim % 2 != 0)
      return moduleError() << "option 'rope-dim' must be even (RoPE rotates "
                              "channels in pairs), got "
                           << ropeDim;
    if (qRank < 0)
      return moduleError() << "option 'q-rank' must be >= 0 (0: keep W_Q "
                              "full), got "
                           << qRank;
    SmallVector<StringRef> parts;
    StringRef(layers).split(parts, ',', -1, /*KeepEmpty=*/false);
    for (StringRef part : parts) {
      auto [a, b] = part.trim().split('-');
      int64_t s, e;
      if (a.trim().getAsInteger(10, s) ||
          (b.empty() ? (e = s, false) : b.trim().getAsInteger(10, e)) ||
          s < 0 || s > e)
        return moduleError() << "option 'layers': cannot parse '" << part
                             << "' (expected a layer or a range s-e)";
      for (int64_t l = s; l <= e; ++l)
        layerSet.insert(l);
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Weights
  //===--------------------------------------------------------------------===//

  /// The attn.param behind a weight operand (directly, or widened by an
  /// arith.extf as imported bf16 weights are).
  FailureOr<ParamOp> paramOf(Operation *at, Value w, StringRef what) {
    return floatWeightParam(at, w, what, kPass);
  }

  /// The tensor as fp64: a matrix, or a vector as an [n × 1] column.
  FailureOr<Matrix> read(Operation *at, ParamOp p) {
    std::vector<double> v;
    std::string err;
    std::string name = p.getName().str();
    if (!store->readAsF64(name, v, err))
      return error(at) << "cannot read \"" << name << "\": " << err;
    RankedTensorType t = tensorType(p.getResult());
    if (t.getRank() < 1 || t.getRank() > 2 ||
        static_cast<int64_t>(v.size()) != t.getNumElements())
      return error(at) << "tensor \"" << name << "\" is not a matrix or vector";
    Matrix m = t.getRank() == 2 ? Matrix(t.getDimSize(0), t.getDimSize(1))
                                : Matrix(t.getDimSize(0), 1);
    m.data = std::move(v);
    std::string where;
    if (!nm::allFinite(m, &where))
      return error(at) << "tensor \"" << name << "\" has a non-finite value "
                       << where;
    return m;
  }

  /// Reads the weight (and optional bias) of a projection.
  LogicalResult readLinear(Operation *at, LinearOp op, StringRef what,
                           ParamOp &wP, Matrix &w, ParamOp &bP, Matrix &bias) {
    FailureOr<ParamOp> p = paramOf(at, op.getWeight(), (what + " weight").str());
    if (failed(p))
      return failure();
    FailureOr<Matrix> m = read(at, *p);
    if (failed(m))
      return failure();
    wP = *p;
    w = std::move(*m);
    if (Value bv = op.getBias()) {
      FailureOr<ParamOp> q = paramOf(at, bv, (what + " bias").str());
      if (failed(q))
        return failure();
      FailureOr<Matrix> c = read(at, *q);
      if (failed(c))
        return failure();
      bP = *q;
      bias = std::move(*c);
    }
    return success();
  }

  static NewWeight newWeight(ParamOp from, Value operand, StringRef suffix,
                             Matrix value, bool vector = false) {
    NewWeight w;
    w.name = (from.getName() + suffix).str();
    w.value = std::move(value);
    w.vector = vector;
    w.elementType = tensorType(from.getResult()).getElementType();
    w.computeType = tensorType(operand).getElementType();
    return w;
  }

  //===--------------------------------------------------------------------===//
  // Planning
  //===--------------------------------------------------------------------===//

  /// True when every use of `v` is by one of `allowed` or (once) the return.
  bool onlyUsedBy(Value v, ArrayRef<Operation *> allowed,
                  bool returned = false) {
    int returns = 0;
    for (OpOperand &use : v.getUses()) {
      Operation *u = use.getOwner();
      if (returned && u == ret.getOperation()) {
        if (++returns > 1)
          return false;
        continue;
      }
      if (!llvm::is_contained(allowed, u))
        return false;
    }
    return true;
  }

  /// Why the block's chain cannot be replaced, or empty: every value on it
  /// must feed only the next link (a shared-attention layer's query/key
  /// feed two attentions), and the caches must be entry arguments written
  /// once and only returned.
  std::string chainProblem(AttentionBlock &b) {
    Operation *att = b.attention;
    auto path = [&](ProjectionPath &p, StringRef name) -> std::string {
      Operation *next = att;
      if (p.read) {
        if (!onlyUsedBy(p.read.getResult(), {next}))
          return (name + " cache read has other users").str();
        next = p.read;
      }
      if (p.cache) {
        if (!p.read)
          return (name + " cache write is read without a slice").str();
        if (!onlyUsedBy(p.cache.getResult(), {next}, /*returned=*/true))
          return (name + " cache write has users besides its read and the "
                         "return")
              .str();
        if (!p.cacheArg || p.cacheArg.getOwner() != &fn.getBody().front())
          return (name + " cache is not an argument of @" + entry).str();
        if (!onlyUsedBy(p.cacheArg, {p.cache}))
          return (name + " cache argument has other users").str();
        next = p.cache;
      }
      if (p.rope) {
        if (!onlyUsedBy(p.rope.getResult(), {next}))
          return (name + " RoPE result has other users (a shared-attention "
                         "layer?)")
              .str();
        next = p.rope;
      }
      if (!onlyUsedBy(p.split.getResult(), {next}))
        return (name + " heads have other users (a shared-attention layer?)")
            .str();
      if (!onlyUsedBy(p.proj.getResult(), {p.split}))
        return (name + " projection has other users").str();
      return "";
    };
    for (auto [p, name] : {std::pair<ProjectionPath *, StringRef>{&b.q, "query"},
                           {&b.k, "key"},
                           {&b.v, "value"}})
      if (std::string why = path(*p, name); !why.empty())
        return why;
    if (!b.k.cache || !b.v.cache)
      return "the keys and values are not both cached (the latent replaces "
             "a K and a V cache)";
    if (b.k.cacheArg == b.v.cacheArg)
      return "the key and value caches are one argument";
    if (b.k.cache.getPosition() != b.v.cache.getPosition())
      return "the key and value caches are written at different positions";
    return "";
  }

  /// A cache read must be the full prefix slice [0, n) of every dim but the
  /// token dim.
  LogicalResult checkRead(LayerPlan &lp, tensor::ExtractSliceOp read) {
    RankedTensorType src = tensorType(read.getSource());
    auto offs = read.getStaticOffsets(), sizes = read.getStaticSizes(),
         strides = read.getStaticStrides();
    if (src.getRank() != 4)
      return error(lp.b.attention) << "the cache is not rank 4";
    for (int64_t i = 0; i < 4; ++i)
      if (strides[i] != 1 || (i >= 2 && (offs[i] != 0 ||
                                          sizes[i] != src.getDimSize(i))))
        return error(lp.b.attention)
               << "layer " << lp.b.layer
               << ": the cache read is not a unit-stride slice of whole "
                  "heads";
    return success();
  }

  LogicalResult planLayer(AttentionBlock &b) {
    LayerPlan lp;
    lp.b = b;
    Operation *at = b.attention;
    const int64_t layer = b.layer;
    const int64_t hq = b.numQueryHeads(), hkv = b.numKVHeads(),
                  dh = b.headDimQK();
    if (b.headDimV() != dh)
      return error(at) << "layer " << layer << ": key head dim " << dh
                       << " differs from value head dim " << b.headDimV()
                       << " (run attn-mla-upcycle before passes that shrink "
                          "one of them)";
    if (b.v.rope)
      return error(at) << "layer " << layer << ": the values have RoPE";
    if (b.k.proj.getInput() != b.v.proj.getInput())
      return error(at) << "layer " << layer
                       << ": the key and value projections read different "
                          "inputs (one latent needs one input)";
    if (failed(checkRead(lp, b.k.read)) || failed(checkRead(lp, b.v.read)))
      return failure();
    lp.kArg = b.k.cacheArg;
    lp.vArg = b.v.cacheArg;
    for (OpOperand &o : ret->getOpOperands()) {
      if (o.get() == b.k.cache.getResult())
        lp.kResult = o.getOperandNumber();
      if (o.get() == b.v.cache.getResult())
        lp.vResult = o.getOperandNumber();
    }
    lp.oldKvPerToken = tensorType(b.k.cache.getResult()).getDimSize(2) *
                           tensorType(b.k.cache.getResult()).getDimSize(3) +
                       tensorType(b.v.cache.getResult()).getDimSize(2) *
                           tensorType(b.v.cache.getResult()).getDimSize(3);

    // RoPE geometry.
    int64_t rotary = 0;
    nm::RopePairing pairing = nm::RopePairing::RotateHalf;
    SmallVector<int64_t> origFreqs;
    if (bool(b.q.rope) != bool(b.k.rope))
      return error(at) << "layer " << layer
                       << ": RoPE on only one of the query and the key";
    if (b.q.rope) {
      RopeOp qr = b.q.rope, kr = b.k.rope;
      if (qr.getTheta() != kr.getTheta() ||
          qr.getRotaryDim() != kr.getRotaryDim() ||
          qr.getPairing() != kr.getPairing() ||
          qr.getEffectiveBaseDim() != kr.getEffectiveBaseDim() ||
          qr.getFrequencyIndices() != kr.getFrequencyIndices() ||
          qr.getPositions() != kr.getPositions())
        return error(at) << "layer " << layer
                         << ": the query and key RoPE differ";
      rotary = qr.getRotaryDim();
      pairing = qr.getPairing() == RopePairing::Interleaved
                    ? nm::RopePairing::Interleaved
                    : nm::RopePairing::RotateHalf;
      origFreqs = qr.getFrequencyIndices();
      lp.positions = qr.getPositions();
      lp.theta = qr.getThetaAttr();
      lp.pairing = qr.getPairingAttr();
      lp.baseDim = qr.getEffectiveBaseDim();
    }
    int64_t dr = ropeDim == -1 ? 2 * (rotary / 4) : ropeDim;
    if (dr > dh)
      return error(at) << "option 'rope-dim' (" << dr
                       << ") exceeds the head dim " << dh << " of layer "
                       << layer;
    if (dr > rotary)
      return error(at) << "option 'rope-dim' (" << dr << ") exceeds the "
                       << rotary << " channels RoPE rotates in layer "
                       << layer << (rotary == 0 ? " (it has no RoPE)" : "");

    // Weights.
    ParamOp wqP, bqP, wkP, bkP, wvP, bvP, woP, boP;
    Matrix wq, bq, wk, bk, wv, bv, wo, bo;
    if (failed(readLinear(at, b.q.proj, "q_proj", wqP, wq, bqP, bq)) ||
        failed(readLinear(at, b.k.proj, "k_proj", wkP, wk, bkP, bk)) ||
        failed(readLinear(at, b.v.proj, "v_proj", wvP, wv, bvP, bv)))
      return failure();
    if (absorbed) {
      FailureOr<ParamOp> p = paramOf(at, b.out.getWeight(), "o_proj weight");
      if (failed(p))
        return failure();
      FailureOr<Matrix> m = read(at, *p);
      if (failed(m))
        return failure();
      woP = *p;
      wo = std::move(*m);
    }
    if (wq.rows != hq * dh || wk.rows != hkv * dh || wv.rows != hkv * dh ||
        wk.cols != wv.cols || (absorbed && wo.cols != hq * dh))
      return error(at) << "layer " << layer
                       << ": projection shapes do not match the heads";
    const bool kvBias = bk.rows != 0 || bv.rows != 0;
    if (kvBias) {
      if (bk.rows == 0)
        bk = Matrix(hkv * dh, 1);
      if (bv.rows == 0)
        bv = Matrix(hkv * dh, 1);
    }

    // Layout and RoPE pairs.
    nm::MlaLayout &L = lp.layout;
    L.numQueryHeads = hq;
    L.numKVHeads = hkv;
    L.headDim = dh;
    L.rotaryDim = rotary;
    L.pairing = pairing;
    std::string err;
    if (dr > 0) {
      std::vector<double> scores(rotary / 2, 0.0);
      if (select == nm::MlaRopeSelect::Norm &&
          !nm::mlaRopePairScores(wq, wk, hq, hkv, rotary, pairing, scores,
                                 err))
        return error(at) << "layer " << layer << ": " << err;
      std::vector<int64_t> freqs(origFreqs.begin(), origFreqs.end());
      L.ropePairs = nm::mlaSelectRopePairs(scores, freqs, dr / 2, select);
      for (int64_t j : L.ropePairs)
        lp.frequencies.push_back(origFreqs[j]);
    }

    // The latent.
    int64_t maxRank = nm::mlaMaxKVRank(L, wk.cols, kvBias);
    if (kvRank > maxRank)
      return error(at) << "option 'kv-rank' (" << kvRank
                       << ") exceeds the largest latent rank of layer "
                       << layer << ", " << maxRank << " = min("
                       << hkv * (L.nopeDim() + dh) << " stacked K/V rows, "
                       << wk.cols + (kvBias ? 1 : 0) << " inputs)";
    nm::MlaRankRule rule;
    rule.fixedRank = kvRank;
    rule.energy = std::isnan(energy) ? 0.0 : energy;
    rule.roundTo = roundTo;
    if (!nm::mlaJointKV(wk, wv, kvBias ? bk : Matrix(), kvBias ? bv : Matrix(),
                        L, rule, lp.kv, err))
      return error(at) << "layer " << layer << ": " << err;
    double kept = 0, total = 0;
    for (size_t s = 0; s < lp.kv.spectrum.size(); ++s) {
      total += lp.kv.spectrum[s] * lp.kv.spectrum[s];
      if (static_cast<int64_t>(s) < lp.kv.rank)
        kept += lp.kv.spectrum[s] * lp.kv.spectrum[s];
    }
    lp.energyKept = total > 0 ? kept / total : 1.0;
    lp.latent = newWeight(wkP, b.k.proj.getWeight(), ".mla_latent",
                          lp.kv.latent);
    if (kvBias) {
      ParamOp from = bkP ? bkP : bvP;
      Value operand = bkP ? b.k.proj.getBias() : b.v.proj.getBias();
      lp.latentBias =
          newWeight(from, operand, ".mla_latent", lp.kv.latentBias, true);
    }

    // The query.
    Matrix qUp = wq;
    if (qRank > 0) {
      int64_t maxQ = std::min(wq.rows, wq.cols);
      if (qRank > maxQ)
        return error(at) << "option 'q-rank' (" << qRank
                         << ") exceeds min(" << wq.rows << ", " << wq.cols
                         << ") = " << maxQ << " of layer " << layer
                         << "'s q_proj";
      Matrix down;
      if (!nm::mlaQueryFactor(wq, qRank, down, qUp, err))
        return error(at) << "layer " << layer << ": " << err;
      lp.qRank = qRank;
      lp.qDown = newWeight(wqP, b.q.proj.getWeight(), ".mla_a", down);
    }
    Matrix qNew, qBiasNew;
    bool ok = absorbed ? nm::mlaAbsorbQuery(qUp, L, lp.kv, qNew, err)
                       : nm::mlaPermuteQuery(qUp, L, qNew, err);
    if (ok && bq.rows != 0)
      ok = absorbed ? nm::mlaAbsorbQuery(bq, L, lp.kv, qBiasNew, err)
                    : nm::mlaPermuteQuery(bq, L, qBiasNew, err);
    if (!ok)
      return error(at) << "layer " << layer << ": " << err;
    lp.q = newWeight(wqP, b.q.proj.getWeight(), qRank > 0 ? ".mla_b" : ".mla",
                     std::move(qNew));
    if (bq.rows != 0)
      lp.qBias = newWeight(bqP, b.q.proj.getBias(), ".mla", std::move(qBiasNew),
                           true);

    // Output (absorbed) or the K/V up-projections (explicit).
    if (absorbed) {
      Matrix woNew;
      if (!nm::mlaAbsorbOutput(wo, L, lp.kv, woNew, err))
        return error(at) << "layer " << layer << ": " << err;
      lp.out = newWeight(woP, b.out.getWeight(), ".mla", std::move(woNew));
    } else {
      Matrix ku, vu;
      if (!nm::mlaExplicitUp(L, lp.kv, ku, vu, err))
        return error(at) << "layer " << layer << ": " << err;
      lp.keyUp = newWeight(wkP, b.k.proj.getWeight(), ".mla_up", std::move(ku));
      lp.valueUp =
          newWeight(wvP, b.v.proj.getWeight(), ".mla_up", std::move(vu));
    }
    plans.push_back(std::move(lp));
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Applying
  //===--------------------------------------------------------------------===//

  /// Adds `w` to the store under a fresh name and creates its attn.param
  /// before `before`, with `layer` as its attn.layer.
  FailureOr<Value> materialize(OpBuilder &b, Operation *before, NewWeight &w,
                               Attribute layer) {
    std::string name = w.name;
    for (int k = 2; store->lookup(name); ++k)
      name = w.name + "." + std::to_string(k);
    ap::DType dtype = *storageDTypeOf(w.elementType);
    size_t n = w.value.data.size();
    std::vector<uint8_t> bytes(n * ap::dtypeSize(dtype));
    for (size_t i = 0; i < n; ++i) {
      double v = w.value.data[i];
      if (dtype == ap::DType::F64) {
        std::memcpy(bytes.data() + 8 * i, &v, 8);
      } else if (dtype == ap::DType::F32) {
        float f = static_cast<float>(v);
        std::memcpy(bytes.data() + 4 * i, &f, 4);
      } else {
        uint16_t h = dtype == ap::DType::F16
                         ? ap::floatToHalf(static_cast<float>(v))
                         : ap::floatToBf16(static_cast<float>(v));
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    std::vector<int64_t> shape =
        w.vector ? std::vector<int64_t>{w.value.rows * w.value.cols}
                 : std::vector<int64_t>{w.value.rows, w.value.cols};
    std::string err;
    if (!store->addTensor(name, dtype, shape, std::move(bytes), err))
      return error(before) << "cannot store \"" << name << "\": " << err;
    w.stored = name;
    b.setInsertionPoint(before);
    auto type = RankedTensorType::get(
        SmallVector<int64_t>(shape.begin(), shape.end()), w.elementType);
    auto p = ParamOp::create(b, before->getLoc(), type, b.getStringAttr(name));
    if (layer)
      p->setAttr(AttnDialect::kLayerAttrName, layer);
    if (w.computeType == w.elementType)
      return p.getResult();
    auto widened = arith::ExtFOp::create(
        b, before->getLoc(),
        RankedTensorType::get(type.getShape(), w.computeType), p.getResult());
    if (layer)
      widened->setAttr(AttnDialect::kLayerAttrName, layer);
    return widened.getResult();
  }

  /// Records the producers of a weight about to be dropped (its param, and
  /// the extf widening it), to erase once dead.
  static void noteOld(Value w, SetVector<Operation *> &old) {
    Operation *def = w ? w.getDefiningOp() : nullptr;
    if (!def)
      return;
    old.insert(def);
    if (auto ext = dyn_cast<arith::ExtFOp>(def))
      if (Operation *p = ext.getIn().getDefiningOp())
        old.insert(p);
  }

  /// A head split like `like` (same reassociation and leading sizes) of
  /// `src` into the trailing shape `heads` × `dim`.
  static Value split(OpBuilder &b, tensor::ExpandShapeOp like, Value src,
                     int64_t heads, int64_t dim) {
    SmallVector<OpFoldResult> shape = like.getMixedOutputShape();
    shape[shape.size() - 2] = b.getIndexAttr(heads);
    shape.back() = b.getIndexAttr(dim);
    RankedTensorType t = withTail(like.getResultType(), {heads, dim});
    return tensor::ExpandShapeOp::create(b, like.getLoc(), t, src,
                                         like.getReassociationIndices(), shape)
        .getResult();
  }

  Value linear(OpBuilder &b, LinearOp like, Value x, Value w, Value bias,
               int64_t outDim) {
    RankedTensorType t = withTail(tensorType(like.getResult()), {outDim});
    t = withTail(RankedTensorType::get(tensorType(x).getShape(),
                                       t.getElementType()),
                 {outDim});
    return LinearOp::create(b, like.getLoc(), t, x, w, bias).getResult();
  }

  Value rope(OpBuilder &b, LayerPlan &lp, RopeOp like, Value x) {
    const int64_t dr = lp.layout.ropeDim();
    if (dr == 0)
      return x;
    return RopeOp::create(b, like.getLoc(), x.getType(), x, lp.positions,
                          lp.theta, b.getI64IntegerAttr(dr), lp.pairing,
                          b.getI64IntegerAttr(lp.baseDim),
                          b.getDenseI64ArrayAttr(lp.frequencies))
        .getResult();
  }

  /// A slice of the latent cache like the old read `like`: channels
  /// [first, first + count) of the one latent head.
  static Value readLatent(OpBuilder &b, tensor::ExtractSliceOp like, Value cache,
                          int64_t first, int64_t count) {
    SmallVector<OpFoldResult> offs = like.getMixedOffsets(),
                              sizes = like.getMixedSizes(),
                              strides = like.getMixedStrides();
    offs[2] = b.getIndexAttr(0);
    offs[3] = b.getIndexAttr(first);
    sizes[2] = b.getIndexAttr(1);
    sizes[3] = b.getIndexAttr(count);
    RankedTensorType t = withTail(like.getResultType(), {1, count});
    return tensor::ExtractSliceOp::create(b, like.getLoc(), t, cache, offs,
                                          sizes, strides)
        .getResult();
  }

  /// Builds the layer's MLA chain and rewires the attention's users to it.
  LogicalResult applyLayer(LayerPlan &lp, SetVector<Operation *> &old) {
    AttentionBlock &blk = lp.b;
    OpBuilder b(module.getContext());
    Operation *at = blk.attention;
    Attribute layer = at->getAttr(AttnDialect::kLayerAttrName);
    const int64_t dr = lp.layout.ropeDim(), r = lp.kv.rank,
                  hq = lp.layout.numQueryHeads, hkv = lp.layout.numKVHeads,
                  dh = lp.layout.headDim;

    // Params first (each inserted before the attention).
    auto param = [&](std::optional<NewWeight> &w) -> FailureOr<Value> {
      if (!w)
        return Value();
      return materialize(b, at, *w, layer);
    };
    FailureOr<Value> q = materialize(b, at, lp.q, layer),
                     qDown = param(lp.qDown), qBias = param(lp.qBias),
                     latent = materialize(b, at, lp.latent, layer),
                     latentBias = param(lp.latentBias), out = param(lp.out),
                     keyUp = param(lp.keyUp), valueUp = param(lp.valueUp);
    for (FailureOr<Value> *v :
         {&q, &qDown, &qBias, &latent, &latentBias, &out, &keyUp, &valueUp})
      if (failed(*v))
        return failure();

    b.setInsertionPoint(at);
    Operation *mark = at->getPrevNode();
    // Query.
    Value xq = blk.q.proj.getInput();
    if (*qDown)
      xq = linear(b, blk.q.proj, xq, *qDown, Value(), lp.qRank);
    int64_t qHeadDim = absorbed ? dr + r : dh;
    Value qv = linear(b, blk.q.proj, xq, *q, *qBias, hq * qHeadDim);
    qv = split(b, blk.q.split, qv, hq, qHeadDim);
    qv = rope(b, lp, blk.q.rope, qv);

    // Latent [k_rope ; c] and its cache; the K cache argument becomes it.
    Value lv = linear(b, blk.k.proj, blk.k.proj.getInput(), *latent,
                      *latentBias, dr + r);
    lv = split(b, blk.k.split, lv, 1, dr + r);
    lv = rope(b, lp, blk.k.rope, lv);
    RankedTensorType cacheType =
        withTail(tensorType(blk.k.cache.getResult()), {1, dr + r});
    lp.kArg.setType(cacheType);
    if (auto name = dyn_cast<NameLoc>(lp.kArg.getLoc()))
      lp.kArg.setLoc(NameLoc::get(
          b.getStringAttr("latent_cache" +
                          name.getName().strref().rsplit("cache").second),
          name.getChildLoc()));
    auto cache = CacheUpdateOp::create(b, blk.k.cache.getLoc(), cacheType,
                                       lp.kArg, lv, blk.k.cache.getPosition());
    Value kRead = readLatent(b, blk.k.read, cache, 0, dr + r);

    Value key, value;
    if (absorbed) {
      key = kRead;
      value = readLatent(b, blk.v.read, cache, dr, r);
    } else {
      // Per-head K/V from the latent rows: collapse the one latent head,
      // project, split into Hkv heads.
      RankedTensorType rt = tensorType(kRead);
      auto flatType = RankedTensorType::get(
          {rt.getDimSize(0), rt.getDimSize(1), dr + r}, rt.getElementType());
      Value flat = tensor::CollapseShapeOp::create(
                       b, blk.k.read.getLoc(), flatType, kRead,
                       SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}})
                       .getResult();
      SmallVector<OpFoldResult> sizes = blk.k.read.getMixedSizes();
      auto expand = [&](Value v) {
        SmallVector<OpFoldResult> shape = {sizes[0], sizes[1],
                                           b.getIndexAttr(hkv),
                                           b.getIndexAttr(dh)};
        return tensor::ExpandShapeOp::create(
                   b, blk.k.read.getLoc(),
                   withTail(tensorType(blk.k.read.getResult()), {hkv, dh}), v,
                   SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}}, shape)
            .getResult();
      };
      key = expand(linear(b, blk.k.proj, flat, *keyUp, Value(), hkv * dh));
      value = expand(linear(b, blk.v.proj, flat, *valueUp, Value(), hkv * dh));
    }

    RankedTensorType attType = withTail(blk.attention.getType(),
                                        {hq, absorbed ? r : dh});
    auto att = AttentionOp::create(b, at->getLoc(), attType, qv, key, value,
                                   blk.attention.getScaleAttr(),
                                   blk.attention.getCausalAttr());
    att->setAttr("attn.mla", record(b, lp));

    if (absorbed) {
      Value merged =
          tensor::CollapseShapeOp::create(
              b, blk.merge.getLoc(),
              withTail(blk.merge.getResultType(), {hq * r}), att.getResult(),
              blk.merge.getReassociationIndices())
              .getResult();
      auto o = LinearOp::create(b, blk.out.getLoc(), blk.out.getType(), merged,
                                *out, blk.out.getBias());
      blk.out.getResult().replaceAllUsesWith(o.getResult());
      old.insert(blk.out);
      old.insert(blk.merge);
      noteOld(blk.out.getWeight(), old);
    } else {
      blk.attention.getResult().replaceAllUsesWith(att.getResult());
    }
    // Everything created carries the layer's attribute, as imported ops do
    // (the params already have it; the chain lies between them and `at`).
    if (layer)
      for (Operation *op = mark->getNextNode(); op != at;
           op = op->getNextNode())
        op->setAttr(AttnDialect::kLayerAttrName, layer);

    // The return: the K slot now returns the latent cache.
    if (lp.kResult >= 0)
      ret->setOperand(lp.kResult, cache.getResult());

    // The old chain, users before producers.
    for (Operation *op : std::initializer_list<Operation *>{
             blk.attention, blk.k.read, blk.v.read, blk.k.cache, blk.v.cache,
             blk.q.rope, blk.k.rope, blk.q.split, blk.k.split, blk.v.split,
             blk.q.proj, blk.k.proj, blk.v.proj})
      if (op)
        old.insert(op);
    for (LinearOp p : {blk.q.proj, blk.k.proj, blk.v.proj}) {
      noteOld(p.getWeight(), old);
      noteOld(p.getBias(), old);
    }
    return success();
  }

  /// The `attn.mla` record on the new attention op: what the rewrite chose
  /// and the names of the tensors it made, for tools that train or inspect
  /// the MLA weights (python/attenuate/distill_mla.py).
  DictionaryAttr record(OpBuilder &b, LayerPlan &lp) {
    SmallVector<NamedAttribute> a;
    auto add = [&](StringRef k, Attribute v) {
      a.push_back(b.getNamedAttr(k, v));
    };
    add("form", b.getStringAttr(absorbed ? "absorbed" : "explicit"));
    add("kv_rank", b.getI64IntegerAttr(lp.kv.rank));
    add("rope_dim", b.getI64IntegerAttr(lp.layout.ropeDim()));
    add("q_rank", b.getI64IntegerAttr(lp.qRank));
    add("rope_pairs", b.getDenseI64ArrayAttr(lp.layout.ropePairs));
    if (lp.layout.ropeDim() > 0) {
      add("rope_frequencies", b.getDenseI64ArrayAttr(lp.frequencies));
      add("rope_base_dim", b.getI64IntegerAttr(lp.baseDim));
      add("rope_theta", lp.theta);
      add("rope_pairing",
          b.getStringAttr(lp.layout.pairing == nm::RopePairing::Interleaved
                              ? "interleaved"
                              : "rotate_half"));
    }
    auto name = [&](StringRef k, std::optional<NewWeight> &w) {
      if (w)
        add(k, b.getStringAttr(w->stored));
    };
    add("q", b.getStringAttr(lp.q.stored));
    name("q_a", lp.qDown);
    name("q_bias", lp.qBias);
    add("latent", b.getStringAttr(lp.latent.stored));
    name("latent_bias", lp.latentBias);
    name("o", lp.out);
    name("k_up", lp.keyUp);
    name("v_up", lp.valueUp);
    return b.getDictionaryAttr(a);
  }

  //===--------------------------------------------------------------------===//
  // Driver
  //===--------------------------------------------------------------------===//

  LogicalResult run(ModuleOp op) {
    module = op;
    if (failed(parseOptions()))
      return failure();
    fn = module.lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal())
      return moduleError() << "option 'entry' names no function with a "
                              "body: '"
                           << entry << "'";
    if (!fn.getBody().hasOneBlock())
      return error(fn) << "@" << entry << " has more than one block";
    ret = dyn_cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    if (!ret)
      return error(fn) << "@" << entry << " does not end in func.return";
    FailureOr<SmallVector<AttentionBlock>> blocks = collectAttentionBlocks(fn);
    if (failed(blocks))
      return failure();
    if (blocks->empty())
      return error(fn) << "no attention block in @" << entry;

    std::set<int64_t> present;
    for (AttentionBlock &b : *blocks)
      if (b.layer >= 0)
        present.insert(b.layer);
    for (int64_t l : layerSet)
      if (!present.count(l))
        return moduleError() << "option 'layers': layer " << l
                             << " has no attention op in @" << entry;

    SmallVector<std::string> skipped;
    for (AttentionBlock &b : *blocks) {
      if (!layerSet.empty() && !layerSet.count(b.layer))
        continue;
      if (std::string why = chainProblem(b); !why.empty()) {
        // Layers another rewrite has tied to others (shared attention) stay
        // as they are unless named explicitly.
        if (!layerSet.empty())
          return error(b.attention) << "layer " << b.layer << ": " << why;
        skipped.push_back("layer " + std::to_string(b.layer) + " (" + why +
                          ")");
        continue;
      }
      // Open the archives only when there is something to read.
      if (!store && !(store = getParamStore(module, /*headerOnly=*/false)))
        return failure();
      if (failed(planLayer(b)))
        return failure();
    }
    for (const std::string &s : skipped)
      emitRemark(fn.getLoc()) << kPass << ": skipped " << s;
    if (plans.empty())
      return success();

    SymbolTableCollection symbolTables;
    SymbolUserMap users(symbolTables, module);
    if (!users.getUsers(fn).empty())
      return error(fn) << "@" << entry
                       << " is called from the module; its cache arguments "
                          "and results cannot change";

    SetVector<Operation *> old;
    for (LayerPlan &lp : plans)
      if (failed(applyLayer(lp, old)))
        return failure();

    // Signature: the K slots were retyped in place; the V slots go.
    llvm::BitVector dropArgs(fn.getNumArguments()),
        dropResults(fn.getNumResults());
    for (LayerPlan &lp : plans) {
      dropArgs.set(lp.vArg.getArgNumber());
      if (lp.vResult >= 0)
        dropResults.set(lp.vResult);
    }
    fn.setType(FunctionType::get(module.getContext(),
                                 fn.getBody().front().getArgumentTypes(),
                                 ret.getOperandTypes()));
    ret->eraseOperands(dropResults);
    if (failed(fn.eraseResults(dropResults)))
      return error(fn) << "cannot drop the value-cache results";
    for (Operation *o : old)
      if (o->use_empty())
        o->erase();
    if (failed(fn.eraseArguments(dropArgs)))
      return error(fn) << "cannot drop the value-cache arguments";

    // Summary.
    int64_t oldKv = 0, newKv = 0, rLo = INT64_MAX, rHi = 0;
    double eLo = 1, eHi = 0;
    std::string list;
    for (LayerPlan &lp : plans) {
      oldKv += lp.oldKvPerToken;
      newKv += lp.layout.ropeDim() + lp.kv.rank;
      rLo = std::min(rLo, lp.kv.rank);
      rHi = std::max(rHi, lp.kv.rank);
      eLo = std::min(eLo, lp.energyKept);
      eHi = std::max(eHi, lp.energyKept);
      list += (list.empty() ? "" : ",") + std::to_string(lp.b.layer);
    }
    std::string ranks = std::to_string(rLo) +
                        (rHi != rLo ? "-" + std::to_string(rHi) : "");
    std::string kept = fmtF(eLo) + (eHi != eLo ? "-" + fmtF(eHi) : "");
    emitRemark(fn.getLoc())
        << kPass << ": form " << form << ", layers " << list << ", kv-rank "
        << ranks << " (K/V energy kept " << kept << "), rope-dim "
        << plans.front().layout.ropeDim() << ", q-rank "
        << (qRank > 0 ? std::to_string(qRank) : std::string("full"))
        << "; KV cache " << oldKv << " -> " << newKv
        << " values/token over these layers ("
        << fmtF(static_cast<double>(oldKv) / static_cast<double>(newKv),
                "%.2f")
        << "x)";
    return success();
  }
};

struct AttnMlaUpcyclePass
    : mlir::attn::impl::AttnMlaUpcyclePassBase<AttnMlaUpcyclePass> {
  using Base::Base;

  void runOnOperation() override {
    MlaRewrite rw;
    rw.entry = entry;
    rw.layers = layers;
    rw.form = form;
    rw.ropePairs = ropePairs;
    rw.kvRank = kvRank;
    rw.roundTo = roundTo;
    rw.ropeDim = ropeDim;
    rw.qRank = qRank;
    rw.energy = energy;
    if (failed(rw.run(getOperation())))
      signalPassFailure();
  }
};

} // namespace

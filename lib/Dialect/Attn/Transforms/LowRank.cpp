//===- LowRank.cpp - attn-lowrank -----------------------------------------===//
//
// A3 (and the SVD baselines) as a rewrite of the matched attention blocks and
// MLPs of the entry function. The pass works in two phases so that a bad
// option, missing statistic or non-finite weight fails before anything is
// changed: planning reads weights and statistics and computes every new
// tensor (the numerics live in Numerics/LowRank); applying creates the
// params, replaces operands, factors projections and retypes the head
// dimension along each rewritten path (projection → head split → RoPE →
// cache and its function argument/result → cache read → attention → merge).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Numerics/LowRank.h"
#include "attenuate/Calibration/StatsFile.h"
#include "attenuate/Dialect/Attn/Analysis/AttentionBlock.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Dialect/Attn/Transforms/MlpExpansion.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"
#include "attenuate/Numerics/SpdSqrt.h"
#include "attenuate/Params/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWRANKPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
namespace nm = attenuate::numerics;
using nm::Matrix;

namespace {

constexpr StringLiteral kPass = "attn-lowrank";

enum class Method { A3, Svd, WhitenedSvd };

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

RankedTensorType withLastDim(RankedTensorType t, int64_t n) {
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = n;
  return RankedTensorType::get(shape, t.getElementType(), t.getEncoding());
}

void setLastDim(Value v, int64_t n) {
  v.setType(withLastDim(tensorType(v), n));
}

/// printf's %.3g, for remarks (Diagnostic does not take llvm::format).
std::string fmtG(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

/// Stores `v` as element `i` of `bytes` in `dtype` (a float type).
void encodeAt(std::vector<uint8_t> &bytes, size_t i, double v,
              attenuate::params::DType dtype) {
  using attenuate::params::DType;
  if (dtype == DType::F64) {
    std::memcpy(bytes.data() + 8 * i, &v, 8);
  } else if (dtype == DType::F32) {
    float f = static_cast<float>(v);
    std::memcpy(bytes.data() + 4 * i, &f, 4);
  } else {
    uint16_t h = dtype == DType::F16
                     ? attenuate::params::floatToHalf(static_cast<float>(v))
                     : attenuate::params::floatToBf16(static_cast<float>(v));
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
}

/// The little-endian bytes of `m` (row-major) in `dtype` (a float type).
std::vector<uint8_t> encode(const Matrix &m, attenuate::params::DType dtype) {
  size_t n = m.data.size();
  std::vector<uint8_t> bytes(n * attenuate::params::dtypeSize(dtype));
  for (size_t i = 0; i < n; ++i)
    encodeAt(bytes, i, m.data[i], dtype);
  return bytes;
}

/// The bytes of the submatrix of `m` with rows `rows` (all when null) and
/// columns `cols` (all when null), encoded without an fp64 copy of it.
std::vector<uint8_t> encodeSelection(const Matrix &m,
                                     const std::vector<int64_t> *rows,
                                     const std::vector<int64_t> *cols,
                                     attenuate::params::DType dtype) {
  size_t nr = rows ? rows->size() : m.rows, nc = cols ? cols->size() : m.cols;
  std::vector<uint8_t> bytes(nr * nc * attenuate::params::dtypeSize(dtype));
  for (size_t i = 0; i < nr; ++i) {
    const double *row = m.row(rows ? (*rows)[i] : static_cast<int64_t>(i));
    for (size_t j = 0; j < nc; ++j)
      encodeAt(bytes, i * nc + j, row[cols ? (*cols)[j] : j], dtype);
  }
  return bytes;
}

/// The rank nearest to `target` that is a multiple of `multiple` (doubled
/// when `even` needs it), at least one multiple and at most `max`.
int64_t roundRank(double target, int64_t multiple, int64_t max, bool even) {
  int64_t m = std::max<int64_t>(multiple, 1);
  if (even && m % 2 != 0)
    m *= 2;
  int64_t r = static_cast<int64_t>(std::llround(target / m)) * m;
  r = std::max(r, m);
  if (r > max)
    r = max;
  if (even && r % 2 != 0)
    --r;
  return std::max<int64_t>(r, even ? 2 : 1);
}

/// Rank used for one projection by the SVD baselines for parameter ratio R:
/// r·(out + in) ≈ (1 − R)·out·in, and full rank for R = 0.
int64_t svdBudgetRank(double ratio, int64_t out, int64_t in, int64_t roundTo) {
  int64_t full = std::min(out, in);
  if (ratio == 0)
    return full;
  double target = (1 - ratio) * static_cast<double>(out) *
                  static_cast<double>(in) / static_cast<double>(out + in);
  return roundRank(target, roundTo, full, /*even=*/false);
}

//===----------------------------------------------------------------------===//
// The plan
//===----------------------------------------------------------------------===//

/// A tensor the rewrite creates: stored as `<from><suffix>` (made unique),
/// 2-D, or 1-D when `vector` (a bias), in the element type of the tensor it
/// replaces (`elementType`) and widened to `computeType` when that differs,
/// as the importer does for bf16 checkpoints.
struct NewWeight {
  std::string from;
  std::string suffix;
  /// Encoded in `elementType` as soon as it is computed: planning keeps
  /// every new tensor until the rewrite is applied, and fp64 copies would
  /// take two to four times the memory.
  std::vector<uint8_t> bytes;
  /// Where `bytes` wait when large (then empty): planning all layers before
  /// applying would otherwise hold every new weight of the model at once
  /// (334 MiB a layer on an 8B model).
  std::optional<attenuate::params::SpillFile::Extent> spilled;
  std::vector<int64_t> shape;
  Type elementType, computeType;
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// Operand `index` of `owner` becomes a new param.
struct OperandEdit {
  Operation *owner;
  unsigned index;
  NewWeight weight;
};

/// `op` (x·Wᵀ + b) becomes linear(linear(x, B), A, b).
struct Factorization {
  LinearOp op;
  NewWeight a, b;
};

/// The MLP is expanded and its three projections factored.
struct MlpFactorization {
  MlpOp op;
  NewWeight gate[2], up[2], down[2]; // {A, B}
};

struct RopeEdit {
  RopeOp op;
  int64_t rotaryDim, baseDim;
  SmallVector<int64_t> frequencies;
};

struct Plan {
  std::vector<OperandEdit> operands;
  std::vector<Factorization> linears;
  std::vector<MlpFactorization> mlps;
  SmallVector<std::pair<Value, int64_t>> retypes; // value, new last dim
  SmallVector<std::pair<tensor::ExpandShapeOp, int64_t>> splits;
  SmallVector<std::pair<tensor::ExtractSliceOp, int64_t>> reads;
  SmallVector<RopeEdit> ropes;
  /// Elements of the tensors replaced and of their replacements.
  int64_t oldElements = 0, newElements = 0;
  bool changesSignature = false;
};

/// Ranks used per component kind, for the summary remark.
struct RankRange {
  int64_t lo = INT64_MAX, hi = 0, full = 0;
  void add(int64_t r, int64_t f) {
    lo = std::min(lo, r);
    hi = std::max(hi, r);
    full = std::max(full, f);
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// One run of the pass: its options, and the state planning builds up (the
/// pass itself must stay copyable, so the state lives here).
struct LowRankRewrite {
  // The pass options (see Passes.td).
  std::string entry, stats, method, components, ovStat;
  double paramRatio = NAN;
  int64_t qkRank = 0, ovRank = 0, mlpRank = 0, roundTo = 8;
  bool componentsGiven = false;

  ModuleOp module;
  func::FuncOp fn;
  Method how = Method::A3;
  bool doQk = false, doOv = false, doMlp = false;
  bool ratioGiven = false;
  attenuate::params::ParamStore *store = nullptr;
  std::unique_ptr<attenuate::calibration::StatsFile> statsFile;
  std::map<std::string, Matrix> statCache;
  std::map<std::string, nm::SqrtResult> rootCache;
  attenuate::params::SpillFile spill;
  std::map<std::string, RankRange> ranks;
  /// Projections already planned for factoring (each is replaced once).
  llvm::SmallPtrSet<Operation *, 16> factored;
  /// Shared attention: blocks whose query/key are another block's, by the
  /// block that owns them. Their attention ops read the owner's retyped
  /// query/key as they are, so the owner's QK change may reach them.
  DenseMap<Operation *, SmallVector<AttentionOp>> borrowers;
  llvm::SmallPtrSet<Operation *, 4> qkFollowers;
  Plan plan;

  void dropLayerCaches() {
    statCache.clear();
    rootCache.clear();
  }

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
    if (method == "a3")
      how = Method::A3;
    else if (method == "svd")
      how = Method::Svd;
    else if (method == "whitened-svd")
      how = Method::WhitenedSvd;
    else
      return moduleError() << "option 'method' must be a3, svd or "
                              "whitened-svd, got '"
                           << method << "'";
    ratioGiven = !std::isnan(paramRatio);
    if (ratioGiven && !(paramRatio >= 0 && paramRatio < 1))
      return moduleError() << "option 'param-ratio' must be in [0, 1), got "
                           << fmtG(paramRatio);
    for (auto [value, name] : {std::pair<int64_t, StringRef>{qkRank, "qk-rank"},
                               {ovRank, "ov-rank"},
                               {mlpRank, "mlp-rank"}})
      if (value < 0)
        return moduleError()
               << "option '" << name
               << "' must be >= 0 (0: from param-ratio), got " << value;
    if (roundTo < 1)
      return moduleError() << "option 'round-to' must be >= 1, got " << roundTo;
    if (ovStat != "rkv" && ovStat != "rp")
      return moduleError() << "option 'ov-stat' must be rkv or rp, got '"
                           << ovStat << "'";
    SmallVector<StringRef> parts;
    StringRef(components).split(parts, ',', -1, /*KeepEmpty=*/false);
    if (parts.empty())
      return moduleError() << "option 'components' lists no component";
    for (StringRef p : parts) {
      p = p.trim();
      if (p == "qk")
        doQk = true;
      else if (p == "ov")
        doOv = true;
      else if (p == "mlp")
        doMlp = true;
      else
        return moduleError() << "option 'components': unknown component '" << p
                             << "' (expected qk, ov, mlp)";
    }
    for (auto [on, rank, name] :
         {std::tuple<bool, int64_t, StringRef>{doQk, qkRank, "qk"},
          {doOv, ovRank, "ov"},
          {doMlp, mlpRank, "mlp"}})
      if (!on && rank > 0)
        return moduleError() << "option '" << name << "-rank' is given but '"
                             << name << "' is not in option 'components'";
    if (!ratioGiven) {
      if (componentsGiven) {
        for (auto [on, rank, name] :
             {std::tuple<bool, int64_t, StringRef>{doQk, qkRank, "qk"},
              {doOv, ovRank, "ov"},
              {doMlp, mlpRank, "mlp"}})
          if (on && rank == 0)
            return moduleError()
                   << "component '" << name << "' has no rank: give option '"
                   << name << "-rank' or option 'param-ratio'";
      } else {
        doQk = qkRank > 0;
        doOv = ovRank > 0;
        doMlp = mlpRank > 0;
        if (!doQk && !doOv && !doMlp)
          return moduleError() << "give option 'param-ratio' or a rank "
                                  "('qk-rank', 'ov-rank', 'mlp-rank')";
      }
    }
    if (how != Method::Svd && stats.empty())
      return moduleError() << "option 'stats' is required for method=" << method
                           << " (run attn-calibrate)";
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Statistics
  //===--------------------------------------------------------------------===//

  LogicalResult openStats() {
    if (how == Method::Svd)
      return success();
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

  /// `layers.<layer>.<name>`, checked to be dim × dim; cached.
  FailureOr<const Matrix *> stat(Operation *at, int64_t layer, StringRef name,
                                 int64_t dim) {
    std::string key = "layers." + std::to_string(layer) + "." + name.str();
    auto it = statCache.find(key);
    if (it == statCache.end()) {
      if (!statsFile->has(key))
        return error(at) << "option 'stats': " << statsFile->path()
                         << " has no " << key
                         << (name == "R_P" ? " (calibrate with --rp)" : "");
      Matrix m;
      std::string err;
      if (!statsFile->matrix(key, m, err))
        return error(at) << "option 'stats': " << err;
      it = statCache.emplace(key, std::move(m)).first;
    }
    const Matrix &m = it->second;
    if (m.rows != dim || m.cols != dim)
      return error(at) << "option 'stats': " << key << " is " << m.rows << "x"
                       << m.cols << " but layer " << layer << " needs " << dim
                       << "x" << dim << " (stats of another model shape?)";
    return &m;
  }

  /// The diagonal of `layers.<layer>.<name>`, checked to be dim × dim; read
  /// alone (R_d is 14336² doubles on an 8B model, 1.6 GB a layer).
  FailureOr<std::vector<double>> statDiagonal(Operation *at, int64_t layer,
                                              StringRef name, int64_t dim) {
    std::string key = "layers." + std::to_string(layer) + "." + name.str();
    const attenuate::params::TensorInfo *t = statsFile->file().find(key);
    if (!t)
      return error(at) << "option 'stats': " << statsFile->path() << " has no "
                       << key;
    if (t->shape.size() != 2 || t->shape[0] != dim || t->shape[1] != dim) {
      auto diag = error(at) << "option 'stats': " << key << " is ";
      for (size_t i = 0; i < t->shape.size(); ++i)
        diag << (i ? "x" : "") << t->shape[i];
      return diag << " but layer " << layer << " needs " << dim << "x" << dim
                  << " (stats of another model shape?)";
    }
    std::vector<double> d;
    std::string err;
    if (!statsFile->diagonal(key, d, err))
      return error(at) << "option 'stats': " << err;
    return d;
  }

  /// R^{±1/2} of a Gram, damped when ill-conditioned (with a remark).
  FailureOr<const nm::SqrtResult *>
  root(Operation *at, int64_t layer, const std::string &what, const Matrix &R) {
    std::string key = std::to_string(layer) + "." + what;
    auto it = rootCache.find(key);
    if (it != rootCache.end())
      return &it->second;
    nm::SqrtResult s;
    std::string err;
    if (!nm::spdSqrt(R, s, err))
      return error(at) << "layer " << layer << ": " << what << ": " << err;
    if (s.damped)
      emitRemark(at->getLoc())
          << kPass << ": layer " << layer << ": " << what
          << " is ill-conditioned (condition " << fmtG(s.conditionBefore)
          << "); damped with λ = " << fmtG(s.lambda) << " · mean(diag)";
    return &rootCache.emplace(key, std::move(s)).first->second;
  }

  //===--------------------------------------------------------------------===//
  // Weights
  //===--------------------------------------------------------------------===//

  /// The attn.param behind a weight operand (directly, or widened by an
  /// arith.extf as imported bf16 weights are), or a diagnostic.
  FailureOr<ParamOp> paramOf(Operation *at, Value w, StringRef what) {
    return floatWeightParam(at, w, what, kPass);
  }

  /// The weights of `p` as an fp64 matrix (a vector is 1 × n); non-finite
  /// values are an error naming the tensor.
  FailureOr<Matrix> read(Operation *at, ParamOp p) {
    std::vector<double> v;
    std::string err;
    std::string name = p.getName().str();
    if (!store->readAsF64(name, v, err))
      return error(at) << "cannot read \"" << name << "\": " << err;
    releasePages(name);
    RankedTensorType t = tensorType(p.getResult());
    int64_t rows = t.getRank() == 2 ? t.getDimSize(0) : 1;
    int64_t cols = t.getShape().back();
    if (t.getRank() > 2 || static_cast<int64_t>(v.size()) != rows * cols)
      return error(at) << "tensor \"" << name << "\" is not a matrix or vector";
    // Adopts the values (Matrix(rows, cols) would first allocate and zero a
    // second copy: 470 MB for an 8B MLP weight).
    Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.data = std::move(v);
    std::string where;
    if (!nm::allFinite(m, &where))
      return error(at) << "tensor \"" << name << "\" has a non-finite value "
                       << where;
    return m;
  }

  /// The checkpoint is mapped whole; once a weight is copied out, its pages
  /// go back to the kernel (read-only private mapping: nothing is lost, a
  /// later read faults them in again), so the resident set stays at one
  /// layer's weights instead of growing with every layer read.
  void releasePages(const std::string &name) {
    const attenuate::params::ParamRef *ref = store->lookup(name);
    if (!ref || !ref->data || ref->source == "<memory>")
      return;
    size_t bytes = attenuate::params::dtypeSize(ref->dtype);
    for (int64_t d : ref->shape)
      bytes *= static_cast<size_t>(d);
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    uintptr_t begin = reinterpret_cast<uintptr_t>(ref->data) & ~(page - 1);
    uintptr_t end = reinterpret_cast<uintptr_t>(ref->data) + bytes;
    if (bytes)
      ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
  }

  /// A new weight named after `from`, of `shape`, already encoded.
  NewWeight newWeight(ParamOp from, Value operand, StringRef suffix,
                      std::vector<uint8_t> bytes, std::vector<int64_t> shape) {
    NewWeight w;
    w.from = from.getName().str();
    w.suffix = suffix.str();
    w.elementType = tensorType(from.getResult()).getElementType();
    w.computeType = tensorType(operand).getElementType();
    w.bytes = std::move(bytes);
    attenuate::params::SpillFile::Extent extent;
    if (w.bytes.size() >= attenuate::params::ParamStore::kSpillBytes &&
        spill.put(w.bytes.data(), w.bytes.size(), extent)) {
      w.spilled = extent;
      std::vector<uint8_t>().swap(w.bytes);
    }
    w.shape = std::move(shape);
    return w;
  }

  NewWeight newWeight(ParamOp from, Value operand, StringRef suffix,
                      const Matrix &value, bool vector = false) {
    Type element = tensorType(from.getResult()).getElementType();
    return newWeight(from, operand, suffix,
                     encode(value, *storageDTypeOf(element)),
                     vector ? std::vector<int64_t>{value.rows * value.cols}
                            : std::vector<int64_t>{value.rows, value.cols});
  }

  /// Replaces operand `index` of `owner` (now the param `from`) by `value`.
  void replaceOperand(Operation *owner, unsigned index, ParamOp from,
                      StringRef suffix, Matrix value, bool vector = false) {
    replaceOperand(owner, index, from,
                   newWeight(from, owner->getOperand(index), suffix,
                             std::move(value), vector));
  }
  void replaceOperand(Operation *owner, unsigned index, ParamOp from,
                      NewWeight weight) {
    plan.oldElements += tensorType(from.getResult()).getNumElements();
    plan.newElements += weight.elements();
    plan.operands.push_back({owner, index, std::move(weight)});
  }

  //===--------------------------------------------------------------------===//
  // Path checks (nothing may be retyped behind an unexpected user)
  //===--------------------------------------------------------------------===//

  /// Users of `v` allowed while its type changes: `next`, tensor.dim and the
  /// entry's return (whose types are then updated).
  LogicalResult checkUsers(Operation *at, int64_t layer, Value v,
                           Operation *next, StringRef what) {
    for (Operation *user : v.getUsers()) {
      if (user == next || isa<tensor::DimOp>(user))
        continue;
      if (qkFollowers.contains(user) &&
          llvm::is_contained(user->getOperands().take_front(2), v))
        continue;
      if (isa<func::ReturnOp>(user) && user->getParentOp() == fn) {
        plan.changesSignature = true;
        continue;
      }
      return error(at) << "layer " << layer << ": the " << what
                       << " is also used by '" << user->getName()
                       << "', which the head-dim change cannot follow";
    }
    return success();
  }

  /// Checks that `path` (ending in `attention`) can change its head dim from
  /// `d` to `r` with `heads` heads, and records the retyping.
  LogicalResult planPathRetype(AttentionBlock &b, ProjectionPath &path,
                               StringRef name, int64_t heads, int64_t d,
                               int64_t r) {
    Operation *at = b.attention;
    Operation *afterSplit = path.rope    ? path.rope.getOperation()
                            : path.cache ? path.cache.getOperation()
                                         : at;
    if (failed(checkUsers(at, b.layer, path.proj.getResult(), path.split,
                          (name + " projection").str())) ||
        failed(checkUsers(at, b.layer, path.split.getResult(), afterSplit,
                          (name + " head split").str())))
      return failure();
    ArrayRef<int64_t> out = path.split.getStaticOutputShape();
    if (tensorType(path.split.getSrc()).getRank() != 3 || out.size() != 4 ||
        out[2] != heads || out[3] != d)
      return error(at) << "layer " << b.layer << ": the " << name
                       << " head split is not [.., " << heads * d
                       << "] -> [.., " << heads << ", " << d << "]";
    plan.retypes.push_back({path.proj.getResult(), heads * r});
    plan.retypes.push_back({path.split.getResult(), r});
    plan.splits.push_back({path.split, r});
    if (path.rope) {
      Operation *next = path.cache ? path.cache.getOperation() : at;
      if (failed(checkUsers(at, b.layer, path.rope.getResult(), next,
                            (name + " RoPE").str())))
        return failure();
      plan.retypes.push_back({path.rope.getResult(), r});
    }
    if (path.cache) {
      auto arg = dyn_cast<BlockArgument>(path.cache.getCache());
      if (!arg || arg.getOwner() != &fn.getBody().front())
        return error(at) << "layer " << b.layer << ": the " << name
                         << " cache is not an argument of @" << fn.getName()
                         << ", so its type cannot change";
      for (Operation *user : arg.getUsers())
        if (user != path.cache && !isa<tensor::DimOp>(user))
          return error(at) << "layer " << b.layer << ": the " << name
                           << " cache argument is also used by '"
                           << user->getName() << "'";
      Operation *next = path.read ? path.read.getOperation() : at;
      if (failed(checkUsers(at, b.layer, path.cache.getResult(), next,
                            (name + " cache").str())))
        return failure();
      plan.retypes.push_back({arg, r});
      plan.retypes.push_back({path.cache.getResult(), r});
      plan.changesSignature = true;
    }
    if (path.read) {
      ArrayRef<int64_t> offsets = path.read.getStaticOffsets(),
                        sizes = path.read.getStaticSizes(),
                        strides = path.read.getStaticStrides();
      if (tensorType(path.read.getResult()).getRank() != 4 ||
          sizes.size() != 4 || offsets[3] != 0 || sizes[3] != d ||
          strides[3] != 1)
        return error(at) << "layer " << b.layer << ": the " << name
                         << " cache read does not take whole heads";
      if (failed(checkUsers(at, b.layer, path.read.getResult(), at,
                            (name + " cache read").str())))
        return failure();
      plan.retypes.push_back({path.read.getResult(), r});
      plan.reads.push_back({path.read, r});
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // a3
  //===--------------------------------------------------------------------===//

  /// The rank of a component: the option, else from the ratio; checked
  /// against the dimension.
  FailureOr<int64_t> a3Rank(Operation *at, int64_t layer, int64_t option,
                            StringRef name, int64_t dim, bool even,
                            StringRef dimName) {
    if (option > 0) {
      if (option > dim)
        return error(at) << "option '" << name << "': " << option
                         << " exceeds the " << dimName << " " << dim
                         << " of layer " << layer;
      if (even && option % 2 != 0)
        return error(at) << "option '" << name << "': " << option
                         << " must be even (RoPE keeps whole frequency "
                            "pairs)";
      return option;
    }
    return roundRank(static_cast<double>(dim) * (1 - paramRatio), roundTo, dim,
                     even);
  }

  LogicalResult planA3QueryKey(AttentionBlock &b) {
    Operation *at = b.attention;
    int64_t hq = b.numQueryHeads(), hkv = b.numKVHeads(), d = b.headDimQK();
    if (b.q.proj == b.k.proj)
      return error(at) << "layer " << b.layer
                       << ": query and key share one projection";
    if (static_cast<bool>(b.q.rope) != static_cast<bool>(b.k.rope))
      return error(at) << "layer " << b.layer
                       << ": RoPE on only one of query and key";
    bool rope = static_cast<bool>(b.q.rope);
    FailureOr<int64_t> r =
        a3Rank(at, b.layer, qkRank, "qk-rank", d, rope, "QK head dim");
    if (failed(r))
      return failure();
    FailureOr<ParamOp> wqP = paramOf(at, b.q.proj.getWeight(), "q_proj weight");
    FailureOr<ParamOp> wkP = paramOf(at, b.k.proj.getWeight(), "k_proj weight");
    if (failed(wqP) || failed(wkP))
      return failure();
    FailureOr<Matrix> wq = read(at, *wqP), wk = read(at, *wkP);
    if (failed(wq) || failed(wk))
      return failure();
    int64_t dmq = wq->cols, dmkv = wk->cols;
    FailureOr<const Matrix *> rq = stat(at, b.layer, "R_q", dmq);
    FailureOr<const Matrix *> rkv = stat(at, b.layer, "R_kv", dmkv);
    if (failed(rq) || failed(rkv))
      return failure();

    if (rope) {
      RopeOp qr = b.q.rope, kr = b.k.rope;
      if (qr.getTheta() != kr.getTheta() ||
          qr.getPairing() != kr.getPairing() ||
          qr.getRotaryDim() != kr.getRotaryDim() ||
          qr.getEffectiveBaseDim() != kr.getEffectiveBaseDim() ||
          qr.getFrequencyIndices() != kr.getFrequencyIndices())
        return error(at) << "layer " << b.layer
                         << ": query and key RoPE differ (theta, pairing, "
                            "rotary_dim, base_dim or frequencies)";
      if (static_cast<int64_t>(qr.getRotaryDim()) != d)
        return error(at) << "layer " << b.layer << ": partial rotary ("
                         << qr.getRotaryDim() << " of " << d
                         << " channels) is not supported by the QK pair "
                            "selection; leave 'qk' out of option "
                            "'components'";
      nm::RopePairing pairing = qr.getPairing() == RopePairing::RotateHalf
                                    ? nm::RopePairing::RotateHalf
                                    : nm::RopePairing::Interleaved;
      std::vector<int64_t> kept;
      std::vector<double> scores;
      std::string err;
      if (!nm::a3RopePairs(*wq, *wk, hq, hkv, **rq, **rkv, pairing, *r / 2,
                           kept, scores, err))
        return error(at) << "layer " << b.layer << ": " << err;
      // Channels of a head that survive, in their new order: RoPE's pairing
      // of the new head dim r must pair them as before.
      SmallVector<int64_t> channels;
      if (pairing == nm::RopePairing::RotateHalf) {
        for (int64_t j : kept)
          channels.push_back(j);
        for (int64_t j : kept)
          channels.push_back(j + d / 2);
      } else {
        for (int64_t j : kept)
          channels.append({2 * j, 2 * j + 1});
      }
      auto sliceHeads = [&](const Matrix &w, int64_t heads) {
        Matrix out(heads * *r, w.cols);
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < *r; ++i)
            std::memcpy(out.row(h * *r + i), w.row(h * d + channels[i]),
                        sizeof(double) * w.cols);
        return out;
      };
      replaceOperand(b.q.proj, 1, *wqP, ".a3", sliceHeads(*wq, hq));
      replaceOperand(b.k.proj, 1, *wkP, ".a3", sliceHeads(*wk, hkv));
      for (auto [path, heads, what] :
           {std::tuple<ProjectionPath *, int64_t, StringRef>{&b.q, hq,
                                                             "q_proj bias"},
            {&b.k, hkv, "k_proj bias"}}) {
        if (!path->proj.getBias())
          continue;
        FailureOr<ParamOp> bp = paramOf(at, path->proj.getBias(), what);
        if (failed(bp))
          return failure();
        FailureOr<Matrix> bias = read(at, *bp);
        if (failed(bias))
          return failure();
        Matrix asRows = bias->transpose(); // one bias value per row
        Matrix sliced = sliceHeads(asRows, heads).transpose();
        replaceOperand(path->proj, 2, *bp, ".a3", std::move(sliced),
                       /*vector=*/true);
      }
      SmallVector<int64_t> oldFreqs = qr.getFrequencyIndices(), freqs;
      for (int64_t j : kept)
        freqs.push_back(oldFreqs[j]);
      for (RopeOp op : {qr, kr})
        plan.ropes.push_back({op, *r, qr.getEffectiveBaseDim(), freqs});
    } else {
      for (auto [path, what] :
           {std::pair<ProjectionPath *, StringRef>{&b.q, "q_proj"},
            {&b.k, "k_proj"}})
        if (path->proj.getBias())
          return error(at) << "layer " << b.layer << ": " << what
                           << " has a bias, which the closed-form QK "
                              "factorisation (no RoPE) cannot keep";
      FailureOr<const nm::SqrtResult *> sq = root(at, b.layer, "R_q", **rq);
      if (failed(sq))
        return failure();
      FailureOr<const nm::SqrtResult *> skv = root(at, b.layer, "R_kv", **rkv);
      if (failed(skv))
        return failure();
      nm::QueryKeyFactors f;
      std::string err;
      if (!nm::a3QueryKey(*wq, *wk, hq, hkv, **sq, **skv, *r, f, err))
        return error(at) << "layer " << b.layer << ": " << err;
      replaceOperand(b.q.proj, 1, *wqP, ".a3", std::move(f.query));
      replaceOperand(b.k.proj, 1, *wkP, ".a3", std::move(f.key));
    }
    if (failed(planPathRetype(b, b.q, "query", hq, d, *r)) ||
        failed(planPathRetype(b, b.k, "key", hkv, d, *r)))
      return failure();
    ranks["qk"].add(*r, d);
    return success();
  }

  LogicalResult planA3ValueOutput(AttentionBlock &b) {
    Operation *at = b.attention;
    int64_t hq = b.numQueryHeads(), hkv = b.numKVHeads(), d = b.headDimV();
    if (b.v.rope)
      return error(at) << "layer " << b.layer
                       << ": the values go through RoPE; the OV "
                          "factorisation needs them unrotated";
    if (b.v.proj == b.k.proj || b.v.proj == b.q.proj)
      return error(at) << "layer " << b.layer
                       << ": the value projection is shared with query/key";
    FailureOr<int64_t> r =
        a3Rank(at, b.layer, ovRank, "ov-rank", d, false, "V head dim");
    if (failed(r))
      return failure();
    FailureOr<ParamOp> wvP = paramOf(at, b.v.proj.getWeight(), "v_proj weight");
    FailureOr<ParamOp> woP = paramOf(at, b.out.getWeight(), "o_proj weight");
    if (failed(wvP) || failed(woP))
      return failure();
    FailureOr<Matrix> wv = read(at, *wvP), wo = read(at, *woP);
    if (failed(wv) || failed(wo))
      return failure();
    Matrix vBias;
    std::optional<ParamOp> vBiasP;
    if (Value bias = b.v.proj.getBias()) {
      FailureOr<ParamOp> bp = paramOf(at, bias, "v_proj bias");
      if (failed(bp))
        return failure();
      FailureOr<Matrix> m = read(at, *bp);
      if (failed(m))
        return failure();
      vBias = std::move(*m);
      vBiasP = *bp;
    }
    int64_t dm = wv->cols;
    std::vector<nm::SqrtResult> roots;
    if (ovStat == "rkv") {
      FailureOr<const Matrix *> rkv = stat(at, b.layer, "R_kv", dm);
      if (failed(rkv))
        return failure();
      FailureOr<const nm::SqrtResult *> s = root(at, b.layer, "R_kv", **rkv);
      if (failed(s))
        return failure();
      // OV is the layer's last user of R_kv^{±1/2} (QK, which may share it,
      // is planned first): moved out of the cache, not copied (2·d_m²
      // doubles, 268 MB on an 8B model).
      auto cached = rootCache.find(std::to_string(b.layer) + ".R_kv");
      roots.push_back(std::move(cached->second));
      rootCache.erase(cached);
      statCache.clear(); // nor R_kv itself, once its root is taken
    } else {
      std::string key = "layers." + std::to_string(b.layer) + ".R_P";
      const attenuate::params::TensorInfo *t = statsFile->file().find(key);
      if (!t)
        return error(at) << "option 'ov-stat=rp': " << statsFile->path()
                         << " has no " << key << " (calibrate with --rp)";
      if (t->shape.size() != 3 || t->shape[0] != hq || t->shape[1] != dm ||
          t->shape[2] != dm)
        return error(at) << "option 'ov-stat=rp': " << key << " does not hold "
                         << hq << " heads of " << dm << "x" << dm;
      // A KV group shares one value head: its Gram is the mean of the
      // group's per-head R_P.
      int64_t group = hq / hkv;
      for (int64_t g = 0; g < hkv; ++g) {
        Matrix mean(dm, dm);
        for (int64_t i = 0; i < group; ++i) {
          Matrix slice;
          std::string err;
          if (!statsFile->matrixSlice(key, g * group + i, slice, err))
            return error(at) << "option 'stats': " << err;
          for (size_t p = 0; p < mean.data.size(); ++p)
            mean.data[p] += slice.data[p] / static_cast<double>(group);
        }
        FailureOr<const nm::SqrtResult *> s =
            root(at, b.layer, "R_P (KV group " + std::to_string(g) + ")", mean);
        if (failed(s))
          return failure();
        roots.push_back(**s);
      }
    }
    nm::ValueOutputFactors f;
    std::string err;
    if (!nm::a3ValueOutput(*wv, *wo, vBias, hq, hkv, roots, *r, f, err))
      return error(at) << "layer " << b.layer << ": " << err;
    replaceOperand(b.v.proj, 1, *wvP, ".a3", std::move(f.value));
    replaceOperand(b.out, 1, *woP, ".a3", std::move(f.output));
    if (vBiasP)
      replaceOperand(b.v.proj, 2, *vBiasP, ".a3", std::move(f.valueBias),
                     /*vector=*/true);
    if (failed(planPathRetype(b, b.v, "value", hkv, d, *r)))
      return failure();
    // The attention result and the merged heads follow the V head dim (the
    // matcher checked they have exactly these users).
    plan.retypes.push_back({b.attention.getResult(), *r});
    plan.retypes.push_back({b.merge.getResult(), hq * *r});
    ranks["ov"].add(*r, d);
    return success();
  }

  LogicalResult planA3Mlp(MlpOp m, int64_t layer) {
    int64_t inter = tensorType(m.getGate()).getDimSize(0);
    FailureOr<int64_t> r = a3Rank(m, layer, mlpRank, "mlp-rank", inter, false,
                                  "intermediate size");
    if (failed(r))
      return failure();
    FailureOr<ParamOp> gP = paramOf(m, m.getGate(), "MLP gate weight");
    FailureOr<ParamOp> uP = paramOf(m, m.getUp(), "MLP up weight");
    FailureOr<ParamOp> dP = paramOf(m, m.getDown(), "MLP down weight");
    if (failed(gP) || failed(uP) || failed(dP))
      return failure();
    FailureOr<std::vector<double>> rd = statDiagonal(m, layer, "R_d", inter);
    if (failed(rd))
      return failure();
    // One fp64 weight at a time (each is d_m × inter doubles, 470 MB on an
    // 8B model), and the kept rows/columns are encoded straight from it.
    std::vector<int64_t> kept;
    NewWeight gateW, upW, downW;
    {
      FailureOr<Matrix> down = read(m, *dP);
      if (failed(down))
        return failure();
      std::vector<double> scores;
      std::string err;
      if (!nm::a3MlpChannels(*rd, *down, *r, kept, scores, err))
        return error(m) << "layer " << layer << ": " << err;
      downW = newWeight(
          *dP, m.getDown(), ".a3",
          encodeSelection(
              *down, nullptr, &kept,
              *storageDTypeOf(tensorType(dP->getResult()).getElementType())),
          {down->rows, *r});
    }
    for (auto [p, w, out] :
         {std::tuple<ParamOp, Value, NewWeight *>{*gP, m.getGate(), &gateW},
          {*uP, m.getUp(), &upW}}) {
      FailureOr<Matrix> full = read(m, p);
      if (failed(full))
        return failure();
      *out = newWeight(
          p, w, ".a3",
          encodeSelection(
              *full, &kept, nullptr,
              *storageDTypeOf(tensorType(p.getResult()).getElementType())),
          {*r, full->cols});
    }
    replaceOperand(m, 1, *gP, std::move(gateW));
    replaceOperand(m, 2, *uP, std::move(upW));
    replaceOperand(m, 3, *dP, std::move(downW));
    ranks["mlp"].add(*r, inter);
    return success();
  }

  //===--------------------------------------------------------------------===//
  // svd / whitened-svd
  //===--------------------------------------------------------------------===//

  /// Factor rank of one projection: the option capped at min(out, in)
  /// (an option above every projection of its component was rejected), or
  /// the budget rank.
  int64_t svdRank(int64_t option, int64_t out, int64_t in) {
    if (option > 0)
      return std::min({option, out, in});
    return svdBudgetRank(paramRatio, out, in, roundTo);
  }

  /// A rank option larger than every projection of its component can use.
  LogicalResult checkSvdOption(Operation *at, int64_t layer, int64_t option,
                               StringRef name,
                               ArrayRef<std::pair<int64_t, int64_t>> shapes) {
    if (option <= 0)
      return success();
    int64_t best = 0;
    for (auto [out, in] : shapes)
      best = std::max(best, std::min(out, in));
    if (option > best)
      return error(at) << "option '" << name << "': " << option
                       << " exceeds min(out, in) = " << best
                       << " of every projection of layer " << layer;
    return success();
  }

  /// Factors of W with the method's SVD; `gram` names the input statistic.
  FailureOr<std::pair<Matrix, Matrix>> factor(Operation *at, int64_t layer,
                                              StringRef what, const Matrix &w,
                                              int64_t rank, StringRef gram) {
    Matrix a, b;
    std::string err;
    if (how == Method::Svd) {
      if (!nm::truncatedSvd(w, rank, a, b, err))
        return error(at) << "layer " << layer << ": " << what << ": " << err;
      return std::make_pair(std::move(a), std::move(b));
    }
    FailureOr<const Matrix *> R = stat(at, layer, gram, w.cols);
    if (failed(R))
      return failure();
    double lambda = 0;
    if (!nm::whitenedSvd(w, **R, rank, a, b, err, &lambda))
      return error(at) << "layer " << layer << ": " << what << ": " << err;
    if (lambda > 0)
      emitRemark(at->getLoc())
          << kPass << ": layer " << layer << ": " << gram << " (for " << what
          << ") is not positive definite; Cholesky damped with λ = "
          << fmtG(lambda) << " · mean(diag)";
    return std::make_pair(std::move(a), std::move(b));
  }

  StringRef suffixA() { return how == Method::Svd ? ".svd_a" : ".wsvd_a"; }
  StringRef suffixB() { return how == Method::Svd ? ".svd_b" : ".wsvd_b"; }

  LogicalResult planSvdLinear(Operation *at, int64_t layer, LinearOp op,
                              StringRef what, int64_t option, StringRef gram,
                              StringRef kind) {
    if (!factored.insert(op).second)
      return error(at) << "layer " << layer << ": the " << what
                       << " projection is shared with another projection";
    FailureOr<ParamOp> wP =
        paramOf(at, op.getWeight(), (what + " weight").str());
    if (failed(wP))
      return failure();
    FailureOr<Matrix> w = read(at, *wP);
    if (failed(w))
      return failure();
    int64_t rank = svdRank(option, w->rows, w->cols);
    auto f = factor(at, layer, what, *w, rank, gram);
    if (failed(f))
      return failure();
    plan.oldElements += w->rows * w->cols;
    plan.newElements += rank * (w->rows + w->cols);
    plan.linears.push_back(
        {op, newWeight(*wP, op.getWeight(), suffixA(), std::move(f->first)),
         newWeight(*wP, op.getWeight(), suffixB(), std::move(f->second))});
    ranks[kind.str()].add(rank, std::min(w->rows, w->cols));
    return success();
  }

  static std::pair<int64_t, int64_t> shapeOf(Value w) {
    RankedTensorType t = tensorType(w);
    return {t.getDimSize(0), t.getDimSize(1)};
  }

  /// `qk`: false for a block whose query/key another block owns.
  LogicalResult planSvdBlock(AttentionBlock &b, bool qk) {
    Operation *at = b.attention;
    if (doQk && qk) {
      if (failed(checkSvdOption(at, b.layer, qkRank, "qk-rank",
                                {shapeOf(b.q.proj.getWeight()),
                                 shapeOf(b.k.proj.getWeight())})) ||
          failed(planSvdLinear(at, b.layer, b.q.proj, "q_proj", qkRank, "R_q",
                               "q_proj")) ||
          failed(planSvdLinear(at, b.layer, b.k.proj, "k_proj", qkRank, "R_kv",
                               "k_proj")))
        return failure();
    }
    if (doOv) {
      if (failed(checkSvdOption(
              at, b.layer, ovRank, "ov-rank",
              {shapeOf(b.v.proj.getWeight()), shapeOf(b.out.getWeight())})) ||
          failed(planSvdLinear(at, b.layer, b.v.proj, "v_proj", ovRank, "R_kv",
                               "v_proj")) ||
          failed(planSvdLinear(at, b.layer, b.out, "o_proj", ovRank, "R_o",
                               "o_proj")))
        return failure();
    }
    return success();
  }

  LogicalResult planSvdMlp(MlpOp m, int64_t layer) {
    if (failed(checkSvdOption(
            m, layer, mlpRank, "mlp-rank",
            {shapeOf(m.getGate()), shapeOf(m.getUp()), shapeOf(m.getDown())})))
      return failure();
    MlpFactorization mf;
    mf.op = m;
    struct Part {
      Value w;
      StringRef what, kind, gram;
      NewWeight *out;
    } parts[] = {{m.getGate(), "MLP gate", "gate_proj", "R_mlp", mf.gate},
                 {m.getUp(), "MLP up", "up_proj", "R_mlp", mf.up},
                 {m.getDown(), "MLP down", "down_proj", "R_d", mf.down}};
    for (Part &p : parts) {
      FailureOr<ParamOp> wP = paramOf(m, p.w, (p.what + " weight").str());
      if (failed(wP))
        return failure();
      FailureOr<Matrix> w = read(m, *wP);
      if (failed(w))
        return failure();
      int64_t rank = svdRank(mlpRank, w->rows, w->cols);
      auto f = factor(m, layer, p.what, *w, rank, p.gram);
      if (failed(f))
        return failure();
      plan.oldElements += w->rows * w->cols;
      plan.newElements += rank * (w->rows + w->cols);
      p.out[0] = newWeight(*wP, p.w, suffixA(), std::move(f->first));
      p.out[1] = newWeight(*wP, p.w, suffixB(), std::move(f->second));
      ranks[p.kind.str()].add(rank, std::min(w->rows, w->cols));
    }
    plan.mlps.push_back(std::move(mf));
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Applying the plan
  //===--------------------------------------------------------------------===//

  /// Adds `w` to the store under a fresh name and creates its attn.param
  /// before `before`, with `before`'s attn.layer.
  FailureOr<Value> materialize(OpBuilder &b, Operation *before, NewWeight &w) {
    std::string name = w.from + w.suffix;
    for (int k = 2; store->lookup(name); ++k)
      name = w.from + w.suffix + "." + std::to_string(k);
    auto dtype = *storageDTypeOf(w.elementType);
    const std::vector<int64_t> &shape = w.shape;
    std::string err;
    if (w.spilled && !spill.read(*w.spilled, w.bytes, err))
      return error(before) << "cannot store \"" << name << "\": " << err;
    // Moved, not copied: the plan's bytes are not needed after this, and a
    // copy would hold every new weight twice while the rewrite is applied.
    if (!store->addTensor(name, dtype, shape, std::move(w.bytes), err))
      return error(before) << "cannot store \"" << name << "\": " << err;
    b.setInsertionPoint(before);
    auto type = RankedTensorType::get(
        SmallVector<int64_t>(shape.begin(), shape.end()), w.elementType);
    auto p = ParamOp::create(b, before->getLoc(), type, b.getStringAttr(name));
    Attribute layer = before->getAttr(AttnDialect::kLayerAttrName);
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

  /// Records the producers of a weight about to be replaced (its param, and
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

  /// x·Wᵀ + b → linear(linear(x, B), A, b), both with `op`'s attributes.
  LogicalResult factorLinear(OpBuilder &b, LinearOp op, NewWeight &wa,
                             NewWeight &wb, SetVector<Operation *> &oldParams) {
    FailureOr<Value> A = materialize(b, op, wa), B = materialize(b, op, wb);
    if (failed(A) || failed(B))
      return failure();
    noteOld(op.getWeight(), oldParams);
    b.setInsertionPoint(op);
    RankedTensorType x = tensorType(op.getInput());
    auto inner = LinearOp::create(b, op.getLoc(), withLastDim(x, wb.shape[0]),
                                  op.getInput(), *B, Value());
    auto outer =
        LinearOp::create(b, op.getLoc(), op.getType(), inner, *A, op.getBias());
    for (Operation *created : {inner.getOperation(), outer.getOperation()})
      for (NamedAttribute a : op->getDiscardableAttrDictionary())
        created->setAttr(a.getName(), a.getValue());
    op.getResult().replaceAllUsesWith(outer.getResult());
    op.erase();
    return success();
  }

  LogicalResult apply() {
    OpBuilder b(module.getContext());
    SetVector<Operation *> oldParams;
    for (OperandEdit &e : plan.operands) {
      noteOld(e.owner->getOperand(e.index), oldParams);
      FailureOr<Value> v = materialize(b, e.owner, e.weight);
      if (failed(v))
        return failure();
      e.owner->setOperand(e.index, *v);
    }
    for (Factorization &f : plan.linears)
      if (failed(factorLinear(b, f.op, f.a, f.b, oldParams)))
        return failure();
    for (MlpFactorization &m : plan.mlps) {
      for (Value w : {m.op.getGate(), m.op.getUp(), m.op.getDown()})
        noteOld(w, oldParams);
      ExpandedMlp e = expandMlp(m.op);
      if (failed(factorLinear(b, e.gate, m.gate[0], m.gate[1], oldParams)) ||
          failed(factorLinear(b, e.up, m.up[0], m.up[1], oldParams)) ||
          failed(factorLinear(b, e.down, m.down[0], m.down[1], oldParams)))
        return failure();
    }
    for (auto [v, n] : plan.retypes)
      setLastDim(v, n);
    for (auto [split, r] : plan.splits) {
      SmallVector<int64_t> shape(split.getStaticOutputShape());
      shape.back() = r;
      split.setStaticOutputShape(shape);
    }
    for (auto [read, r] : plan.reads) {
      SmallVector<int64_t> sizes(read.getStaticSizes());
      sizes.back() = r;
      read.setStaticSizes(sizes);
    }
    for (RopeEdit &e : plan.ropes) {
      e.op.setRotaryDimAttr(b.getI64IntegerAttr(e.rotaryDim));
      e.op.setBaseDimAttr(b.getI64IntegerAttr(e.baseDim));
      e.op.setFrequenciesAttr(b.getDenseI64ArrayAttr(e.frequencies));
    }
    if (plan.changesSignature) {
      auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
      fn.setType(FunctionType::get(module.getContext(),
                                   fn.getBody().front().getArgumentTypes(),
                                   ret.getOperandTypes()));
    }
    // Widening ops first (they were noted before their params), so the
    // params they read are dead by the time they are visited.
    for (Operation *op : oldParams)
      if (op->use_empty())
        op->erase();
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Shared attention
  //===--------------------------------------------------------------------===//

  /// Blocks that read one query projection (attn-share-attention gives a
  /// shared layer its source's query and key): the block of the
  /// projection's layer owns them (else the first), the others follow its
  /// QK change. Their keys must be the owner's too.
  LogicalResult
  findSharedQueryKey(SmallVector<AttentionBlock> &blocks,
                     DenseMap<Operation *, int64_t> &followsLayer) {
    llvm::MapVector<Operation *, SmallVector<AttentionBlock *>> byQuery;
    for (AttentionBlock &b : blocks)
      byQuery[b.q.proj].push_back(&b);
    for (auto &[proj, group] : byQuery) {
      if (group.size() < 2)
        continue;
      auto l = proj->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName);
      AttentionBlock *owner = group.front();
      for (AttentionBlock *b : group)
        if (l && b->layer == l.getInt())
          owner = b;
      for (AttentionBlock *b : group) {
        if (b == owner)
          continue;
        if (b->k.proj != owner->k.proj) {
          if (!doQk)
            continue;
          return error(b->attention)
                 << "layer " << b->layer << ": reads layer " << owner->layer
                 << "'s query but not its key, so QK cannot be factored "
                    "for both; leave 'qk' out of option 'components'";
        }
        borrowers[owner->attention].push_back(b->attention);
        followsLayer[b->attention] = owner->layer;
      }
    }
    return success();
  }

  /// After planning: every attention op reads query and key of one new
  /// head dim (a follower whose owner's change did not reach both would not
  /// verify).
  LogicalResult checkQueryKeyAgree() {
    DenseMap<Value, int64_t> newDim(plan.retypes.begin(), plan.retypes.end());
    WalkResult r = fn.walk([&](AttentionOp op) {
      auto q = newDim.find(op.getQuery()), k = newDim.find(op.getKey());
      bool qNew = q != newDim.end(), kNew = k != newDim.end();
      if (qNew == kNew && (!qNew || q->second == k->second))
        return WalkResult::advance();
      error(op) << "the rewrite would give this attention op a query and a "
                   "key of different head dims (a bug)";
      return WalkResult::interrupt();
    });
    return failure(r.wasInterrupted());
  }

  //===--------------------------------------------------------------------===//
  // Driver
  //===--------------------------------------------------------------------===//

  LogicalResult run(ModuleOp op) {
    module = op;
    if (failed(parseOptions()))
      return failure();
    fn = module.lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal()) {
      moduleError() << "option 'entry' names no function with a body: '"
                    << entry << "'";
      return failure();
    }
    if (failed(openStats()))
      return failure();
    store = getParamStore(module, /*headerOnly=*/false);
    if (!store)
      return failure();

    FailureOr<SmallVector<AttentionBlock>> blocks = collectAttentionBlocks(fn);
    if (failed(blocks))
      return failure();
    SmallVector<std::pair<MlpOp, int64_t>> mlps;
    fn.walk([&](MlpOp m) {
      auto l = m->getAttrOfType<IntegerAttr>(AttnDialect::kLayerAttrName);
      mlps.push_back({m, l ? l.getInt() : -1});
    });
    if ((doQk || doOv) && blocks->empty()) {
      error(fn) << "no attention block in @" << fn.getName()
                << " for components qk/ov";
      return failure();
    }
    if (doMlp && mlps.empty()) {
      error(fn) << "no attn.mlp in @" << fn.getName() << " for component 'mlp'";
      return failure();
    }
    bool needLayer = how != Method::Svd;
    for (AttentionBlock &b : *blocks)
      if (needLayer && b.layer < 0 && (doQk || doOv)) {
        error(b.attention) << "attention op has no attn.layer (needed to "
                              "find its statistics)";
        return failure();
      }
    for (auto [m, l] : mlps)
      if (needLayer && l < 0 && doMlp) {
        error(m) << "attn.mlp has no attn.layer (needed to find its "
                    "statistics)";
        return failure();
      }

    DenseMap<Operation *, int64_t> followsLayer;
    if (failed(findSharedQueryKey(*blocks, followsLayer)))
      return failure();

    // Totals before, for the achieved ratio: every attention and MLP weight
    // (a projection shared attention gives two blocks counts once).
    int64_t total = 0;
    auto count = [&](Value v) {
      if (v)
        total += tensorType(v).getNumElements();
    };
    llvm::SmallPtrSet<Operation *, 32> counted;
    for (AttentionBlock &b : *blocks)
      for (LinearOp op : {b.q.proj, b.k.proj, b.v.proj, b.out}) {
        if (!counted.insert(op).second)
          continue;
        count(op.getWeight());
        count(op.getBias());
      }
    for (auto [m, l] : mlps)
      for (Value w : {m.getGate(), m.getUp(), m.getDown()})
        count(w);

    for (AttentionBlock &b : *blocks) {
      bool ownsQk = !followsLayer.count(b.attention);
      if (how == Method::A3) {
        qkFollowers.clear();
        for (AttentionOp f : borrowers.lookup(b.attention))
          qkFollowers.insert(f);
        if (doQk && ownsQk && failed(planA3QueryKey(b)))
          return failure();
        qkFollowers.clear();
        // OV needs none of QK's Grams (only R_kv's root, cached when QK
        // computed it; else R_kv is read again): one d_m² Gram less held
        // through OV's eigendecomposition.
        statCache.clear();
        if (doOv && failed(planA3ValueOutput(b)))
          return failure();
      } else if (failed(planSvdBlock(b, ownsQk))) {
        return failure();
      }
      // A layer's statistics are not needed by the next one; dropping them
      // keeps memory at one layer's Grams (d_m² doubles each).
      dropLayerCaches();
    }
    if (doMlp)
      for (auto [m, l] : mlps) {
        if (failed(how == Method::A3 ? planA3Mlp(m, l) : planSvdMlp(m, l)))
          return failure();
        dropLayerCaches();
      }

    if (doQk && failed(checkQueryKeyAgree()))
      return failure();
    if (doQk)
      for (AttentionBlock &b : *blocks)
        if (auto it = followsLayer.find(b.attention); it != followsLayer.end())
          emitRemark(b.attention->getLoc())
              << kPass << ": layer " << b.layer << ": QK follows layer "
              << it->second << "'s (shared attention)";
    if (plan.changesSignature) {
      SymbolTableCollection symbolTables;
      SymbolUserMap users(symbolTables, module);
      if (!users.getUsers(fn).empty()) {
        error(fn) << "@" << fn.getName()
                  << " is called from the module; its cache arguments and "
                     "results cannot change type";
        return failure();
      }
    }
    if (failed(apply()))
      return failure();

    std::string list;
    llvm::raw_string_ostream os(list);
    for (auto &[kind, range] : ranks) {
      os << (list.empty() ? "" : ", ") << kind << " " << range.lo;
      if (range.hi != range.lo)
        os << "-" << range.hi;
      os << " of " << range.full;
    }
    int64_t after = total - plan.oldElements + plan.newElements;
    double achieved =
        total > 0 ? 1.0 - static_cast<double>(after) / total : 0.0;
    emitRemark(fn.getLoc())
        << kPass << ": method " << method << ", ranks " << list
        << "; attention+MLP parameters " << total << " -> " << after
        << " (removed " << fmtG(100 * achieved) << "%)";
    return success();
  }
};

struct AttnLowRankPass
    : mlir::attn::impl::AttnLowRankPassBase<AttnLowRankPass> {
  using Base::Base;

  void runOnOperation() override {
    LowRankRewrite rewrite;
    rewrite.entry = entry;
    rewrite.stats = stats;
    rewrite.method = method;
    rewrite.components = components;
    rewrite.ovStat = ovStat;
    rewrite.paramRatio = paramRatio;
    rewrite.qkRank = qkRank;
    rewrite.ovRank = ovRank;
    rewrite.mlpRank = mlpRank;
    rewrite.roundTo = roundTo;
    rewrite.componentsGiven = components.hasValue();
    if (failed(rewrite.run(getOperation())))
      signalPassFailure();
  }
};

} // namespace

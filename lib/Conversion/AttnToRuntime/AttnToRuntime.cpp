//===- AttnToRuntime.cpp - attn ops to a plan of runtime kernel calls -----===//
//
// convert-attn-to-runtime: the entry function of a module of attn ops (the
// inference graph attn-import makes) becomes an attn-plan (Plan/Plan.h):
// kernel calls over buffers whose slots are planned by liveness, parameters
// by name, and the index arithmetic that sizes everything evaluated by the
// runtime from the inputs. The module itself is left unchanged; the plan is
// what the runtime-only attn-exec runs, on the CPU or CUDA kernels.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/IR/AttnParamStore.h"
#include "attenuate/Plan/Plan.h"
#include "attenuate/Support/AtomicFile.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTORUNTIMEPASS
#include "attenuate/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
namespace plan = attenuate::plan;
using plan::Dim;

namespace {

std::string locString(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (llvm::sys::path::filename(file.getFilename().getValue()) + ":" +
            Twine(file.getLine()) + ":" + Twine(file.getColumn()))
        .str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location l : fused.getLocations())
      if (std::string s = locString(l); !s.empty())
        return s;
  return "";
}

/// Builds the plan while walking the entry function once.
class PlanBuilder {
public:
  explicit PlanBuilder(plan::Plan &p) : p(p) {}

  LogicalResult build(func::FuncOp fn);

private:
  plan::Plan &p;
  DenseMap<Value, Dim> scalars;    // index/integer SSA values
  DenseMap<Value, int64_t> values; // tensor SSA values -> plan value id
  std::vector<bool> contiguous;    // per plan value
  std::vector<int64_t> root;       // per plan value: the value owning storage
  std::vector<int64_t> definedAt;  // per plan value: defining step (buffers)

  int64_t addValue(plan::Value v, bool isContiguous, int64_t rootOf) {
    int64_t id = static_cast<int64_t>(p.values.size());
    p.values.push_back(std::move(v));
    contiguous.push_back(isContiguous);
    root.push_back(rootOf < 0 ? id : root[rootOf]);
    definedAt.push_back(static_cast<int64_t>(p.steps.size()));
    return id;
  }
  int64_t addBuffer(std::vector<Dim> shape) {
    plan::Value v;
    v.kind = plan::Value::Kind::Buffer;
    v.dtype = attenuate::params::DType::F32;
    v.shape = std::move(shape);
    return addValue(std::move(v), true, -1);
  }
  Dim newScalar(plan::Scalar s) {
    p.scalars.push_back(std::move(s));
    return Dim::scalar(static_cast<int64_t>(p.scalars.size()) - 1);
  }

  FailureOr<Dim> scalarOf(Operation *user, Value v, StringRef what);
  FailureOr<Dim> foldedOf(Operation *user, OpFoldResult ofr, StringRef what);
  FailureOr<int64_t> tensorOf(Operation *user, Value v, StringRef what);
  LogicalResult checkElementType(Operation *op, Type t, StringRef what);
  /// Shape of `v`'s plan value, with the static dims of `type` taking over.
  std::vector<Dim> shapeOf(int64_t id) { return p.values[id].shape; }
  LogicalResult addStep(Operation *op, plan::Step step,
                        std::vector<Dim> resultShape);
  int64_t ensureContiguous(Operation *op, int64_t id);

  LogicalResult visit(Operation *op);
  LogicalResult visitScalarOp(Operation *op);
  void planSlots();
};

LogicalResult PlanBuilder::checkElementType(Operation *op, Type t,
                                            StringRef what) {
  auto rt = dyn_cast<RankedTensorType>(t);
  if (!rt)
    return op->emitOpError() << what << " has type " << t
                             << ": the runtime plan takes ranked tensors";
  if (!rt.getElementType().isF32())
    return op->emitOpError()
           << what << " has element type " << rt.getElementType()
           << ": the runtime plan runs f32 modules";
  return success();
}

FailureOr<Dim> PlanBuilder::scalarOf(Operation *user, Value v, StringRef what) {
  auto it = scalars.find(v);
  if (it != scalars.end())
    return it->second;
  InFlightDiagnostic d = user->emitOpError()
                         << "has a dynamic " << what
                         << " that the runtime plan cannot compute from the "
                            "inputs";
  if (auto arg = dyn_cast<BlockArgument>(v))
    d << " (it is block argument #" << arg.getArgNumber() << ")";
  else if (Operation *def = v.getDefiningOp())
    d << " (it comes from '" << def->getName() << "')";
  return failure();
}

FailureOr<Dim> PlanBuilder::foldedOf(Operation *user, OpFoldResult ofr,
                                     StringRef what) {
  if (auto attr = dyn_cast<Attribute>(ofr)) {
    if (auto i = dyn_cast<IntegerAttr>(attr)) {
      // Upstream verifiers let some negative static sizes through (e.g.
      // tensor.expand_shape's static_output_shape); the plan format cannot
      // hold them, so they stop here rather than in the plan's reader.
      if (i.getInt() < 0)
        return user->emitOpError()
               << "has a negative static " << what << " (" << i.getInt() << ")";
      return Dim::constant(i.getInt());
    }
    return user->emitOpError() << "has a non-integer " << what;
  }
  return scalarOf(user, cast<Value>(ofr), what);
}

FailureOr<int64_t> PlanBuilder::tensorOf(Operation *user, Value v,
                                         StringRef what) {
  auto it = values.find(v);
  if (it != values.end())
    return it->second;
  return user->emitOpError()
         << "reads " << what << " that the runtime plan does not hold";
}

static Dim mulDims(Dim a, Dim b, std::vector<plan::Scalar> &scalars) {
  if (!a.isScalar && !b.isScalar)
    return Dim::constant(a.value * b.value);
  if (!a.isScalar && a.value == 1)
    return b;
  if (!b.isScalar && b.value == 1)
    return a;
  plan::Scalar s;
  s.kind = plan::Scalar::Kind::Mul;
  s.lhs = a;
  s.rhs = b;
  scalars.push_back(s);
  return Dim::scalar(static_cast<int64_t>(scalars.size()) - 1);
}

LogicalResult PlanBuilder::addStep(Operation *op, plan::Step step,
                                   std::vector<Dim> resultShape) {
  Value result = op->getResult(0);
  if (failed(checkElementType(op, result.getType(), "its result")))
    return failure();
  auto type = cast<RankedTensorType>(result.getType());
  if (static_cast<int64_t>(resultShape.size()) != type.getRank())
    return op->emitOpError()
           << "result rank " << type.getRank() << " differs from the runtime's "
           << resultShape.size();
  // Static dims of the result type are facts; the runtime checks the rest.
  for (int64_t k = 0; k < type.getRank(); ++k)
    if (!type.isDynamicDim(k))
      resultShape[k] = Dim::constant(type.getDimSize(k));
  step.out = addBuffer(std::move(resultShape));
  step.loc = locString(op->getLoc());
  values[result] = step.out;
  p.steps.push_back(std::move(step));
  return success();
}

int64_t PlanBuilder::ensureContiguous(Operation *op, int64_t id) {
  if (contiguous[id])
    return id;
  plan::Step copy;
  copy.op = "copy";
  copy.in = {id};
  copy.out = addBuffer(p.values[id].shape);
  copy.loc = locString(op->getLoc());
  p.steps.push_back(copy);
  return copy.out;
}

LogicalResult PlanBuilder::visitScalarOp(Operation *op) {
  Value r = op->getResult(0);
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    if (auto i = dyn_cast<IntegerAttr>(c.getValue())) {
      scalars[r] = Dim::constant(i.getInt());
      return success();
    }
    return op->emitOpError()
           << "is a " << c.getType()
           << " constant: the runtime plan takes index/integer constants only";
  }
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp>(op)) {
    FailureOr<Dim> d = scalarOf(op, op->getOperand(0), "operand");
    if (failed(d))
      return failure();
    scalars[r] = *d;
    return success();
  }
  if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(op)) {
    FailureOr<Dim> a = scalarOf(op, op->getOperand(0), "operand");
    if (failed(a))
      return failure();
    FailureOr<Dim> b = scalarOf(op, op->getOperand(1), "operand");
    if (failed(b))
      return failure();
    plan::Scalar s;
    s.kind = isa<arith::AddIOp>(op)   ? plan::Scalar::Kind::Add
             : isa<arith::SubIOp>(op) ? plan::Scalar::Kind::Sub
                                      : plan::Scalar::Kind::Mul;
    if (!a->isScalar && !b->isScalar) {
      int64_t v = s.kind == plan::Scalar::Kind::Add   ? a->value + b->value
                  : s.kind == plan::Scalar::Kind::Sub ? a->value - b->value
                                                      : a->value * b->value;
      scalars[r] = Dim::constant(v);
      return success();
    }
    s.lhs = *a;
    s.rhs = *b;
    scalars[r] = newScalar(s);
    return success();
  }
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    FailureOr<int64_t> src = tensorOf(op, dim.getSource(), "a tensor");
    if (failed(src))
      return failure();
    FailureOr<Dim> axis = scalarOf(op, dim.getIndex(), "dimension index");
    if (failed(axis))
      return failure();
    const auto &shape = p.values[*src].shape;
    if (axis->isScalar || axis->value < 0 ||
        axis->value >= static_cast<int64_t>(shape.size()))
      return op->emitOpError()
             << "needs a constant dimension index within the rank";
    scalars[r] = shape[axis->value];
    return success();
  }
  if (auto ex = dyn_cast<tensor::ExtractOp>(op)) {
    FailureOr<int64_t> src = tensorOf(op, ex.getTensor(), "a tensor");
    if (failed(src))
      return failure();
    const plan::Value &v = p.values[*src];
    if (v.kind != plan::Value::Kind::Input ||
        (v.dtype != attenuate::params::DType::I64 &&
         v.dtype != attenuate::params::DType::I32))
      return op->emitOpError() << "reads a computed or floating-point tensor: "
                                  "the runtime plan reads scalars only from "
                                  "integer inputs";
    plan::Scalar s;
    s.kind = plan::Scalar::Kind::Extract;
    s.input = v.source;
    for (Value idx : ex.getIndices()) {
      FailureOr<Dim> d = scalarOf(op, idx, "index");
      if (failed(d))
        return failure();
      s.index.push_back(*d);
    }
    scalars[r] = newScalar(s);
    return success();
  }
  return failure();
}

LogicalResult PlanBuilder::visit(Operation *op) {
  using attenuate::params::DType;
  // Scalars (index arithmetic that sizes the tensors).
  if (isa<arith::ConstantOp, arith::IndexCastOp, arith::IndexCastUIOp,
          arith::AddIOp, arith::SubIOp, arith::MulIOp, tensor::DimOp,
          tensor::ExtractOp>(op)) {
    if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(op) &&
        isa<ShapedType>(op->getResult(0).getType()))
      return op->emitOpError()
             << "on tensors is not supported by the runtime plan";
    return visitScalarOp(op);
  }

  if (auto param = dyn_cast<ParamOp>(op)) {
    if (failed(checkElementType(op, param.getType(), "the parameter")))
      return failure();
    auto type = cast<RankedTensorType>(param.getType());
    if (!type.hasStaticShape())
      return op->emitOpError()
             << "has a dynamic shape " << type << ": parameters must be static";
    plan::Value v;
    v.kind = plan::Value::Kind::Param;
    v.name = param.getName().str();
    for (int64_t d : type.getShape())
      v.shape.push_back(Dim::constant(d));
    values[param.getResult()] = addValue(std::move(v), true, -1);
    return success();
  }

  auto operand = [&](Value v) { return tensorOf(op, v, "a tensor"); };
  auto operands = [&](ValueRange vs, std::vector<int64_t> &ids) {
    for (Value v : vs) {
      if (failed(checkElementType(op, v.getType(), "an operand")))
        return failure();
      FailureOr<int64_t> id = operand(v);
      if (failed(id))
        return failure();
      ids.push_back(*id);
    }
    return success();
  };

  if (auto embed = dyn_cast<EmbedOp>(op)) {
    plan::Step s;
    s.op = "embed";
    FailureOr<int64_t> table = operand(embed.getTable());
    FailureOr<int64_t> tokens = operand(embed.getTokens());
    if (failed(table) || failed(tokens))
      return failure();
    if (failed(checkElementType(op, embed.getTable().getType(), "the table")))
      return failure();
    DType t = p.values[*tokens].dtype;
    if (t != DType::I64 && t != DType::I32)
      return op->emitOpError() << "takes i64 or i32 token ids in the plan";
    s.in = {*table, *tokens};
    std::vector<Dim> shape = shapeOf(*tokens);
    shape.push_back(shapeOf(*table)[1]);
    return addStep(op, std::move(s), std::move(shape));
  }
  if (auto norm = dyn_cast<RmsNormOp>(op)) {
    plan::Step s;
    s.op = "rms_norm";
    s.epsilon = norm.getEpsilon().convertToDouble();
    if (failed(operands(op->getOperands(), s.in)))
      return failure();
    std::vector<Dim> shape = shapeOf(s.in[0]);
    return addStep(op, std::move(s), std::move(shape));
  }
  if (auto lin = dyn_cast<LinearOp>(op)) {
    plan::Step s;
    s.op = "linear";
    if (failed(operands(op->getOperands(), s.in)))
      return failure();
    std::vector<Dim> shape = shapeOf(s.in[0]);
    shape.back() = shapeOf(s.in[1])[0];
    return addStep(op, std::move(s), std::move(shape));
  }
  if (isa<MlpOp>(op)) {
    plan::Step s;
    s.op = "mlp";
    if (failed(operands(op->getOperands(), s.in)))
      return failure();
    std::vector<Dim> shape = shapeOf(s.in[0]);
    return addStep(op, std::move(s), std::move(shape));
  }
  if (auto rope = dyn_cast<RopeOp>(op)) {
    plan::Step s;
    s.op = "rope";
    if (failed(checkElementType(op, rope.getInput().getType(), "the input")))
      return failure();
    FailureOr<int64_t> x = operand(rope.getInput());
    FailureOr<int64_t> pos = operand(rope.getPositions());
    if (failed(x) || failed(pos))
      return failure();
    DType t = p.values[*pos].dtype;
    if (t != DType::I64 && t != DType::I32)
      return op->emitOpError() << "takes i64 or i32 positions in the plan";
    s.in = {*x, *pos};
    s.theta = rope.getTheta().convertToDouble();
    s.rotaryDim = rope.getRotaryDim();
    s.baseDim = rope.getEffectiveBaseDim();
    s.interleaved = rope.getPairing() == RopePairing::Interleaved;
    if (rope.getFrequencies())
      for (int64_t f : rope.getFrequencyIndices())
        s.frequencies.push_back(f);
    std::vector<Dim> shape = shapeOf(*x);
    return addStep(op, std::move(s), std::move(shape));
  }
  if (auto att = dyn_cast<AttentionOp>(op)) {
    plan::Step s;
    s.op = "attention";
    s.scale = att.getScale().convertToDouble();
    s.causal = att.getCausal();
    if (failed(operands(op->getOperands(), s.in)))
      return failure();
    std::vector<Dim> shape = shapeOf(s.in[0]);
    shape.back() = shapeOf(s.in[2]).back();
    return addStep(op, std::move(s), std::move(shape));
  }
  if (auto add = dyn_cast<arith::AddFOp>(op)) {
    plan::Step s;
    s.op = "add";
    if (!isa<RankedTensorType>(add.getType()))
      return op->emitOpError()
             << "on scalars is not supported by the runtime plan";
    if (failed(operands(op->getOperands(), s.in)))
      return failure();
    std::vector<Dim> shape = shapeOf(s.in[0]);
    return addStep(op, std::move(s), std::move(shape));
  }
  if (auto upd = dyn_cast<CacheUpdateOp>(op)) {
    if (failed(checkElementType(op, upd.getType(), "the cache")))
      return failure();
    FailureOr<int64_t> cache = operand(upd.getCache());
    FailureOr<int64_t> update = operand(upd.getUpdate());
    if (failed(cache) || failed(update))
      return failure();
    FailureOr<Dim> pos = scalarOf(op, upd.getPosition(), "position");
    if (failed(pos))
      return failure();
    // In place when nothing else reads this version of the cache (the
    // imported graph: each cache argument is updated once); otherwise the
    // update goes to a copy, as value semantics demand.
    int64_t target = *cache;
    plan::Value::Kind k = p.values[target].kind;
    bool inPlace = upd.getCache().hasOneUse() && contiguous[target] &&
                   k != plan::Value::Kind::Param &&
                   k != plan::Value::Kind::Reshape;
    if (!inPlace) {
      plan::Step copy;
      copy.op = "copy";
      copy.in = {target};
      copy.out = addBuffer(p.values[target].shape);
      copy.loc = locString(op->getLoc());
      p.steps.push_back(copy);
      target = copy.out;
    }
    plan::Value alias;
    alias.kind = plan::Value::Kind::Alias;
    alias.source = target;
    alias.shape = p.values[target].shape;
    int64_t out = addValue(std::move(alias), true, target);
    plan::Step s;
    s.op = "cache_update";
    s.in = {target, *update};
    s.out = out;
    s.position = *pos;
    s.loc = locString(op->getLoc());
    p.steps.push_back(std::move(s));
    values[upd.getResult()] = out;
    return success();
  }
  if (auto ex = dyn_cast<tensor::ExpandShapeOp>(op)) {
    FailureOr<int64_t> src = operand(ex.getSrc());
    if (failed(src) || failed(checkElementType(op, ex.getType(), "its result")))
      return failure();
    plan::Value v;
    v.kind = plan::Value::Kind::Reshape;
    v.source = ensureContiguous(op, *src);
    ArrayRef<int64_t> resultDims = ex.getResultType().getShape();
    for (auto [k, ofr] : llvm::enumerate(ex.getMixedOutputShape())) {
      FailureOr<Dim> d = foldedOf(op, ofr, "output size");
      if (failed(d))
        return failure();
      // The verifier does not tie static output sizes to the result type;
      // a plan built from a disagreeing one would reshape to the wrong size.
      if (!d->isScalar && !ShapedType::isDynamic(resultDims[k]) &&
          d->value != resultDims[k])
        return op->emitOpError()
               << "has output size " << d->value << " in dimension " << k
               << " but its result type says " << resultDims[k];
      v.shape.push_back(*d);
    }
    int64_t s = v.source;
    values[ex.getResult()] = addValue(std::move(v), true, s);
    return success();
  }
  if (auto col = dyn_cast<tensor::CollapseShapeOp>(op)) {
    FailureOr<int64_t> src = operand(col.getSrc());
    if (failed(src) ||
        failed(checkElementType(op, col.getType(), "its result")))
      return failure();
    plan::Value v;
    v.kind = plan::Value::Kind::Reshape;
    v.source = ensureContiguous(op, *src);
    std::vector<Dim> srcShape = p.values[v.source].shape;
    for (const ReassociationIndices &group : col.getReassociationIndices()) {
      Dim d = Dim::constant(1);
      for (int64_t k : group)
        d = mulDims(d, srcShape[k], p.scalars);
      v.shape.push_back(d);
    }
    int64_t s = v.source;
    values[col.getResult()] = addValue(std::move(v), true, s);
    return success();
  }
  if (auto sl = dyn_cast<tensor::ExtractSliceOp>(op)) {
    FailureOr<int64_t> src = operand(sl.getSource());
    if (failed(src) || failed(checkElementType(op, sl.getType(), "its result")))
      return failure();
    if (sl.getType().getRank() != sl.getSourceType().getRank())
      return op->emitOpError()
             << "reduces the rank: the runtime plan slices at full rank";
    for (OpFoldResult st : sl.getMixedStrides()) {
      auto attr = dyn_cast<Attribute>(st);
      if (!attr || cast<IntegerAttr>(attr).getInt() != 1)
        return op->emitOpError()
               << "has a non-unit stride: the runtime plan slices with unit "
                  "strides";
    }
    plan::Value v;
    v.kind = plan::Value::Kind::Slice;
    v.source = *src;
    const auto &srcShape = p.values[*src].shape;
    auto offs = sl.getMixedOffsets();
    auto sizes = sl.getMixedSizes();
    // Contiguous when only the outermost dim is partial.
    bool isContig = contiguous[*src];
    for (size_t k = 0; k < offs.size(); ++k) {
      FailureOr<Dim> o = foldedOf(op, offs[k], "offset");
      FailureOr<Dim> z = foldedOf(op, sizes[k], "size");
      if (failed(o) || failed(z))
        return failure();
      v.offsets.push_back(*o);
      v.shape.push_back(*z);
      if (k > 0 && !(*z == srcShape[k] && *o == Dim::constant(0)))
        isContig = false;
    }
    int64_t s = *src;
    values[sl.getResult()] = addValue(std::move(v), isContig, s);
    return success();
  }
  if (auto cast = dyn_cast<tensor::CastOp>(op)) {
    FailureOr<int64_t> src = operand(cast.getSource());
    if (failed(src))
      return failure();
    values[cast.getResult()] = *src;
    return success();
  }
  if (auto ret = dyn_cast<func::ReturnOp>(op)) {
    for (Value v : ret.getOperands()) {
      FailureOr<int64_t> id = operand(v);
      if (failed(id))
        return failure();
      p.outputs.push_back(*id);
    }
    return success();
  }
  return op->emitOpError()
         << "is not supported by the runtime plan (convert-attn-to-runtime "
            "lowers attn.embed, rms_norm, linear, mlp, rope, attention, "
            "cache_update and param, arith.addf on tensors, tensor "
            "reshapes/slices and index arithmetic)";
}

/// Liveness over steps: a buffer's slot is free once the last step that
/// reads or writes any view of it has run (outputs live to the end). The
/// result of a step never shares a slot with its operands.
void PlanBuilder::planSlots() {
  size_t nv = p.values.size();
  const int64_t kForever = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> lastUse(nv, -1);
  for (size_t t = 0; t < p.steps.size(); ++t) {
    for (int64_t v : p.steps[t].in)
      lastUse[root[v]] = std::max<int64_t>(lastUse[root[v]], t);
    lastUse[root[p.steps[t].out]] =
        std::max<int64_t>(lastUse[root[p.steps[t].out]], t);
  }
  for (int64_t v : p.outputs)
    lastUse[root[v]] = kForever;

  // Buffers by defining step, in order.
  std::vector<int64_t> slotOwner; // root using each slot
  std::vector<int64_t> order;
  for (size_t v = 0; v < nv; ++v)
    if (p.values[v].kind == plan::Value::Kind::Buffer)
      order.push_back(v);
  for (int64_t v : order) {
    int64_t t = definedAt[v];
    int64_t slot = -1;
    for (size_t s = 0; s < slotOwner.size(); ++s)
      if (slotOwner[s] < 0 || lastUse[slotOwner[s]] < t) {
        slot = static_cast<int64_t>(s);
        break;
      }
    if (slot < 0) {
      slot = static_cast<int64_t>(slotOwner.size());
      slotOwner.push_back(-1);
    }
    slotOwner[slot] = v;
    p.values[v].source = slot;
  }
  p.numSlots = static_cast<int64_t>(slotOwner.size());
}

LogicalResult PlanBuilder::build(func::FuncOp fn) {
  if (!fn.getBody().hasOneBlock())
    return fn.emitOpError()
           << "has several blocks: the runtime plan is straight-line code";
  for (BlockArgument arg : fn.getArguments()) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    Type et = type ? type.getElementType() : Type();
    using attenuate::params::DType;
    DType dt;
    if (type && et.isF32())
      dt = DType::F32;
    else if (type && et.isSignlessInteger(64))
      dt = DType::I64;
    else if (type && et.isSignlessInteger(32))
      dt = DType::I32;
    else
      return fn.emitOpError()
             << "argument #" << arg.getArgNumber() << " has type "
             << arg.getType()
             << ": runtime plan inputs are ranked f32, i64 or i32 tensors";
    plan::Input in;
    in.name = locString(arg.getLoc());
    if (in.name.empty() || in.name.find(':') != std::string::npos)
      in.name = "arg" + std::to_string(arg.getArgNumber());
    in.dtype = dt;
    int64_t index = static_cast<int64_t>(p.inputs.size());
    for (int64_t k = 0; k < type.getRank(); ++k) {
      if (!type.isDynamicDim(k)) {
        in.shape.push_back(Dim::constant(type.getDimSize(k)));
        continue;
      }
      plan::Scalar s;
      s.kind = plan::Scalar::Kind::Dim;
      s.input = index;
      s.axis = k;
      in.shape.push_back(newScalar(s));
    }
    plan::Value v;
    v.kind = plan::Value::Kind::Input;
    v.source = index;
    v.dtype = dt;
    v.shape = in.shape;
    p.inputs.push_back(std::move(in));
    values[arg] = addValue(std::move(v), true, -1);
  }
  for (Operation &op : fn.getBody().front())
    if (failed(visit(&op)))
      return failure();
  planSlots();
  return success();
}

struct ConvertAttnToRuntimePass
    : public mlir::attn::impl::ConvertAttnToRuntimePassBase<
          ConvertAttnToRuntimePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (planPath.empty()) {
      module.emitError("convert-attn-to-runtime: the 'plan' option (where to "
                       "write the plan, '-' for stdout) is required");
      return signalPassFailure();
    }
    auto fn = module.lookupSymbol<func::FuncOp>(entry);
    if (!fn || fn.isExternal()) {
      module.emitError() << "convert-attn-to-runtime: no function @" << entry
                         << " with a body (option 'entry')";
      return signalPassFailure();
    }
    plan::Plan pl;
    pl.entry = entry;
    for (const std::string &path : getArchivePaths(module)) {
      SmallString<256> abs(path);
      (void)llvm::sys::fs::make_absolute(abs);
      llvm::sys::path::remove_dots(abs, /*remove_dot_dot=*/true);
      pl.archives.push_back(abs.str().str());
    }
    PlanBuilder builder(pl);
    if (failed(builder.build(fn)))
      return signalPassFailure();
    std::string error;
    if (!plan::validate(pl, error)) {
      fn.emitOpError() << "produced an invalid plan (a bug): " << error;
      return signalPassFailure();
    }
    std::string text = plan::toJson(pl);
    if (planPath == "-") {
      llvm::outs() << text;
      llvm::outs().flush();
      return;
    }
    if (!attenuate::writeFileAtomically(planPath, text, error)) {
      module.emitError() << "convert-attn-to-runtime: " << error;
      return signalPassFailure();
    }
  }
};

} // namespace

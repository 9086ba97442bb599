//===- AttnOps.cpp - verifiers and helpers of attn operations -------------===//
//
// Verifier messages name the operand at fault and print the types involved:
// users meet them on imported models with hundreds of ops.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Two dims agree unless both are static and differ.
bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

RankedTensorType rt(Value v) { return cast<RankedTensorType>(v.getType()); }

LogicalResult checkSameElementType(Operation *op, Value ref, StringRef refName,
                                   Value other, StringRef otherName) {
  Type a = rt(ref).getElementType(), b = rt(other).getElementType();
  if (a != b)
    return op->emitOpError() << otherName << " element type " << b
                             << " differs from " << refName << " element type "
                             << a;
  return success();
}

LogicalResult checkRank(Operation *op, Value v, StringRef name, int64_t rank) {
  if (rt(v).getRank() != rank)
    return op->emitOpError() << "expects " << name << " of rank " << rank
                             << ", got " << v.getType();
  return success();
}

/// `actual` must equal `expected` up to dynamic dims, else the op names the
/// value and both shapes.
LogicalResult checkShape(Operation *op, Value v, StringRef name,
                         ArrayRef<int64_t> expected) {
  ArrayRef<int64_t> actual = rt(v).getShape();
  bool ok = actual.size() == expected.size();
  for (size_t i = 0; ok && i < actual.size(); ++i)
    ok = compatible(actual[i], expected[i]);
  if (ok)
    return success();
  std::string want = "[";
  for (size_t i = 0; i < expected.size(); ++i)
    want += (i ? "x" : "") + dimStr(expected[i]);
  want += "]";
  return op->emitOpError() << name << " type " << v.getType()
                           << " does not match expected shape " << want;
}

std::string shapeStr(ArrayRef<int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? "x" : "") + dimStr(dims[i]);
  return s + "]";
}

/// `v` must be indexed by the tokens of `ref` (its leading dims), followed by
/// one feature dim when `features` is set. Training ops pair per-token
/// values of different widths, so only the token dims must agree.
LogicalResult checkTokens(Operation *op, Value v, StringRef name, Value ref,
                          StringRef refName, bool features) {
  ArrayRef<int64_t> tokens = rt(ref).getShape().drop_back();
  ArrayRef<int64_t> shape = rt(v).getShape();
  bool ok = !features || !shape.empty();
  if (ok && features)
    shape = shape.drop_back();
  ok = ok && shape.size() == tokens.size();
  for (size_t i = 0; ok && i < shape.size(); ++i)
    ok = compatible(shape[i], tokens[i]);
  if (ok)
    return success();
  return op->emitOpError() << name << " " << v.getType()
                           << " must have the token dims " << shapeStr(tokens)
                           << " of " << refName << " " << ref.getType();
}
} // namespace

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("parameter name must not be empty");
  auto type = cast<RankedTensorType>(getResult().getType());
  // Archives store only integer and float dtypes; without this check
  // `attn-report` would ask a complex or index type for its bit width.
  if (!type.getElementType().isIntOrFloat())
    return emitOpError() << "parameter \"" << getName()
                         << "\" must have an integer or float element type, got "
                         << type;
  if (!type.hasStaticShape())
    return emitOpError() << "parameter \"" << getName()
                         << "\" must have a static shape, got " << type;
  return success();
}

//===----------------------------------------------------------------------===//
// EmbedOp
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::verify() {
  if (failed(checkRank(*this, getTable(), "table", 2)))
    return failure();
  if (failed(checkSameElementType(*this, getTable(), "table", getResult(),
                                  "result")))
    return failure();
  SmallVector<int64_t> expected(rt(getTokens()).getShape());
  expected.push_back(rt(getTable()).getDimSize(1));
  return checkShape(*this, getResult(), "result", expected);
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  RankedTensorType x = rt(getInput()), w = rt(getWeight());
  if (x.getRank() < 1)
    return emitOpError() << "expects input of rank >= 1, got " << x;
  if (failed(checkRank(*this, getWeight(), "weight", 2)))
    return failure();
  if (failed(checkSameElementType(*this, getInput(), "input", getWeight(),
                                  "weight")) ||
      failed(checkSameElementType(*this, getInput(), "input", getResult(),
                                  "result")))
    return failure();
  int64_t in = x.getShape().back();
  if (!compatible(in, w.getDimSize(1)))
    return emitOpError() << "weight " << w << " has " << w.getDimSize(1)
                         << " input features but input " << x << " has "
                         << dimStr(in) << " (weight layout is [out, in])";
  int64_t out = w.getDimSize(0);
  if (Value b = getBias()) {
    if (failed(checkSameElementType(*this, getInput(), "input", b, "bias")) ||
        failed(checkShape(*this, b, "bias", {out})))
      return failure();
    // A static bias fixes the output width when the weight's is dynamic.
    if (ShapedType::isDynamic(out))
      out = rt(b).getDimSize(0);
  }
  SmallVector<int64_t> expected(x.getShape());
  expected.back() = out;
  return checkShape(*this, getResult(), "result", expected);
}

//===----------------------------------------------------------------------===//
// RmsNormOp
//===----------------------------------------------------------------------===//

LogicalResult RmsNormOp::verify() {
  RankedTensorType x = rt(getInput());
  if (x.getRank() < 1)
    return emitOpError() << "expects input of rank >= 1, got " << x;
  if (failed(checkSameElementType(*this, getInput(), "input", getWeight(),
                                  "weight")) ||
      failed(checkShape(*this, getWeight(), "weight", {x.getShape().back()})))
    return failure();
  if (!(getEpsilon().convertToDouble() >= 0.0))
    return emitOpError() << "epsilon must be non-negative, got "
                         << getEpsilon().convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// MlpOp
//===----------------------------------------------------------------------===//

LogicalResult MlpOp::verify() {
  RankedTensorType x = rt(getInput());
  if (x.getRank() < 1)
    return emitOpError() << "expects input of rank >= 1, got " << x;
  for (auto [v, name] : {std::pair<Value, StringRef>{getGate(), "gate"},
                         {getUp(), "up"},
                         {getDown(), "down"}}) {
    if (failed(checkRank(*this, v, name, 2)) ||
        failed(checkSameElementType(*this, getInput(), "input", v, name)))
      return failure();
  }
  // d and the intermediate width are whichever operand has them static, so
  // that a dynamic gate cannot hide an up/down mismatch.
  int64_t d = x.getShape().back();
  for (int64_t o : {rt(getGate()).getDimSize(1), rt(getUp()).getDimSize(1),
                    rt(getDown()).getDimSize(0)})
    if (ShapedType::isDynamic(d))
      d = o;
  int64_t inter = rt(getGate()).getDimSize(0);
  for (int64_t o : {rt(getUp()).getDimSize(0), rt(getDown()).getDimSize(1)})
    if (ShapedType::isDynamic(inter))
      inter = o;
  if (failed(checkShape(*this, getGate(), "gate", {inter, d})) ||
      failed(checkShape(*this, getUp(), "up", {inter, d})) ||
      failed(checkShape(*this, getDown(), "down", {d, inter})))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

int64_t RopeOp::getEffectiveBaseDim() {
  return getBaseDim() ? *getBaseDim() : getRotaryDim();
}

SmallVector<int64_t> RopeOp::getFrequencyIndices() {
  if (auto f = getFrequencies())
    return SmallVector<int64_t>(f->begin(), f->end());
  SmallVector<int64_t> idx;
  for (int64_t j = 0; j < getRotaryDim() / 2; ++j)
    idx.push_back(j);
  return idx;
}

LogicalResult RopeOp::verify() {
  if (failed(checkRank(*this, getInput(), "input", 4)) ||
      failed(checkRank(*this, getPositions(), "positions", 2)))
    return failure();
  RankedTensorType x = rt(getInput());
  if (failed(checkShape(*this, getPositions(), "positions",
                        {x.getDimSize(0), x.getDimSize(1)})))
    return failure();
  if (!(getTheta().convertToDouble() > 0.0))
    return emitOpError() << "theta must be positive, got "
                         << getTheta().convertToDouble();
  int64_t r = getRotaryDim();
  if (r % 2 != 0)
    return emitOpError() << "rotary_dim must be even, got " << r;
  int64_t headDim = x.getDimSize(3);
  if (!ShapedType::isDynamic(headDim) && r > headDim)
    return emitOpError() << "rotary_dim " << r << " exceeds the head dim "
                         << headDim << " of input " << x;
  int64_t base = getEffectiveBaseDim();
  if (base <= 0 || base % 2 != 0)
    return emitOpError() << "base_dim must be positive and even, got " << base;
  if (auto freqs = getFrequencies()) {
    if (static_cast<int64_t>(freqs->size()) * 2 != r)
      return emitOpError() << "frequencies lists " << freqs->size()
                           << " pairs but rotary_dim " << r << " rotates "
                           << r / 2;
    int64_t prev = -1;
    for (int64_t f : *freqs) {
      if (f < 0 || f >= base / 2)
        return emitOpError() << "frequency index " << f
                             << " is outside [0, " << base / 2
                             << ") for base_dim " << base;
      if (f <= prev)
        return emitOpError() << "frequencies must be strictly increasing, got "
                             << f << " after " << prev;
      prev = f;
    }
  } else if (r > base) {
    return emitOpError() << "rotary_dim " << r << " exceeds base_dim " << base
                         << " without a frequencies list";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  if (failed(checkRank(*this, getQuery(), "query", 4)) ||
      failed(checkRank(*this, getKey(), "key", 4)) ||
      failed(checkRank(*this, getValue(), "value", 4)))
    return failure();
  if (failed(checkSameElementType(*this, getQuery(), "query", getKey(),
                                  "key")) ||
      failed(checkSameElementType(*this, getQuery(), "query", getValue(),
                                  "value")) ||
      failed(checkSameElementType(*this, getQuery(), "query", getResult(),
                                  "result")))
    return failure();
  ArrayRef<int64_t> q = rt(getQuery()).getShape(), k = rt(getKey()).getShape(),
                    v = rt(getValue()).getShape();
  // The batch is whichever of the three is static: comparing only against
  // the query would let key and value disagree when the query's is dynamic.
  int64_t batch = q[0];
  for (int64_t b : {k[0], v[0]})
    if (ShapedType::isDynamic(batch))
      batch = b;
  if (!compatible(q[0], batch) || !compatible(k[0], batch) ||
      !compatible(v[0], batch))
    return emitOpError() << "batch sizes differ: query " << getQuery().getType()
                         << ", key " << getKey().getType() << ", value "
                         << getValue().getType();
  if (!compatible(k[1], v[1]) || !compatible(k[2], v[2]))
    return emitOpError() << "key " << getKey().getType() << " and value "
                         << getValue().getType()
                         << " differ in kv_len or kv_heads";
  if (!compatible(q[3], k[3]))
    return emitOpError() << "query head dim " << dimStr(q[3])
                         << " differs from key head dim " << dimStr(k[3]);
  if (!ShapedType::isDynamic(q[2]) && !ShapedType::isDynamic(k[2])) {
    if (k[2] == 0 || q[2] % k[2] != 0)
      return emitOpError() << "key/value head count " << k[2]
                           << " does not divide query head count " << q[2];
  }
  if (!(getScale().convertToDouble() > 0.0) ||
      !std::isfinite(getScale().convertToDouble()))
    return emitOpError() << "scale must be positive and finite, got "
                         << getScale().convertToDouble();
  return checkShape(*this, getResult(), "result", {batch, q[1], q[2], v[3]});
}

//===----------------------------------------------------------------------===//
// CacheUpdateOp
//===----------------------------------------------------------------------===//

LogicalResult CacheUpdateOp::verify() {
  if (failed(checkRank(*this, getCache(), "cache", 4)) ||
      failed(checkSameElementType(*this, getCache(), "cache", getUpdate(),
                                  "update")))
    return failure();
  ArrayRef<int64_t> c = rt(getCache()).getShape();
  if (failed(checkShape(*this, getUpdate(), "update",
                        {c[0], ShapedType::kDynamic, c[2], c[3]})))
    return failure();
  int64_t n = rt(getUpdate()).getDimSize(1);
  if (!ShapedType::isDynamic(n) && !ShapedType::isDynamic(c[1]) && n > c[1])
    return emitOpError() << "update of " << n
                         << " tokens exceeds the cache capacity " << c[1];
  return success();
}

//===----------------------------------------------------------------------===//
// LinearGradWeightOp
//===----------------------------------------------------------------------===//

LogicalResult LinearGradWeightOp::verify() {
  RankedTensorType dy = rt(getGradOutput()), x = rt(getInput());
  if (dy.getRank() < 1)
    return emitOpError() << "expects grad_output of rank >= 1, got " << dy;
  if (failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getInput(), "input")) ||
      failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getResult(), "result")) ||
      failed(checkTokens(*this, getInput(), "input", getGradOutput(),
                         "grad_output", /*features=*/true)))
    return failure();
  return checkShape(*this, getResult(), "result",
                    {dy.getShape().back(), x.getShape().back()});
}

//===----------------------------------------------------------------------===//
// LinearGradInputOp
//===----------------------------------------------------------------------===//

LogicalResult LinearGradInputOp::verify() {
  RankedTensorType dy = rt(getGradOutput()), w = rt(getWeight());
  if (dy.getRank() < 1)
    return emitOpError() << "expects grad_output of rank >= 1, got " << dy;
  if (failed(checkRank(*this, getWeight(), "weight", 2)) ||
      failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getWeight(), "weight")) ||
      failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getResult(), "result")))
    return failure();
  int64_t out = dy.getShape().back();
  if (!compatible(out, w.getDimSize(0)))
    return emitOpError() << "weight " << w << " has " << w.getDimSize(0)
                         << " output features but grad_output " << dy
                         << " has " << dimStr(out)
                         << " (weight layout is [out, in])";
  SmallVector<int64_t> expected(dy.getShape());
  expected.back() = w.getDimSize(1);
  return checkShape(*this, getResult(), "result", expected);
}

//===----------------------------------------------------------------------===//
// PammCompressOp
//===----------------------------------------------------------------------===//

int64_t PammCompressOp::numGenerators(int64_t tokens, double ratio) {
  if (tokens <= 0)
    return 0;
  double want = std::ceil(ratio * static_cast<double>(tokens));
  if (want >= static_cast<double>(tokens))
    return tokens;
  return std::max<int64_t>(1, static_cast<int64_t>(want));
}

LogicalResult PammCompressOp::verify() {
  RankedTensorType x = rt(getInput());
  if (x.getRank() < 1)
    return emitOpError() << "expects input of rank >= 1, got " << x;
  if (failed(checkRank(*this, getGenerators(), "generators", 2)) ||
      failed(checkSameElementType(*this, getInput(), "input", getGenerators(),
                                  "generators")) ||
      failed(checkSameElementType(*this, getInput(), "input", getScale(),
                                  "scale")) ||
      failed(checkTokens(*this, getAssignment(), "assignment", getInput(),
                         "input", /*features=*/false)) ||
      failed(checkTokens(*this, getScale(), "scale", getInput(), "input",
                         /*features=*/false)))
    return failure();
  double ratio = getRatio().convertToDouble();
  if (!(ratio > 0.0 && ratio <= 1.0))
    return emitOpError() << "ratio must be in (0, 1], got " << ratio;
  if (auto eps = getEpsilon())
    if (!(eps->convertToDouble() >= 0.0) || eps->isInfinity())
      return emitOpError() << "epsilon must be non-negative and finite, got "
                           << eps->convertToDouble();
  // k is known when every token dim is.
  int64_t k = ShapedType::kDynamic;
  ArrayRef<int64_t> tokens = x.getShape().drop_back();
  if (llvm::none_of(tokens, ShapedType::isDynamic)) {
    int64_t b = 1;
    for (int64_t d : tokens)
      b *= d;
    k = numGenerators(b, ratio);
  }
  return checkShape(*this, getGenerators(), "generators",
                    {k, x.getShape().back()});
}

//===----------------------------------------------------------------------===//
// PammGradWeightOp
//===----------------------------------------------------------------------===//

LogicalResult PammGradWeightOp::verify() {
  RankedTensorType dz = rt(getGradOutput()), c = rt(getGenerators());
  if (dz.getRank() < 1)
    return emitOpError() << "expects grad_output of rank >= 1, got " << dz;
  if (failed(checkRank(*this, getGenerators(), "generators", 2)) ||
      failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getGenerators(), "generators")) ||
      failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getScale(), "scale")) ||
      failed(checkSameElementType(*this, getGradOutput(), "grad_output",
                                  getResult(), "result")) ||
      failed(checkTokens(*this, getAssignment(), "assignment",
                         getGradOutput(), "grad_output",
                         /*features=*/false)) ||
      failed(checkTokens(*this, getScale(), "scale", getGradOutput(),
                         "grad_output", /*features=*/false)))
    return failure();
  return checkShape(*this, getResult(), "result",
                    {dz.getShape().back(), c.getDimSize(1)});
}

#define GET_OP_CLASSES
#include "attenuate/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// SparseEncodeOp, SparseDecodeOp (CSR)
//===----------------------------------------------------------------------===//

namespace {
/// The checks shared by encode and decode: dense `[b, t, h, d]`, dictionary
/// `[atoms, d / chunks]` with at most 32768 atoms (int16 indices), codes
/// `[b, t, h, chunks · s]`.
LogicalResult checkSparseCodes(Operation *op, Value dense, StringRef denseName,
                               Value dict, Value indices, Value coefs,
                               int64_t chunks, int64_t sparsity) {
  if (failed(checkRank(op, dense, denseName, 4)) ||
      failed(checkRank(op, dict, "dictionary", 2)) ||
      failed(checkRank(op, indices, "indices", 4)) ||
      failed(checkRank(op, coefs, "coefficients", 4)) ||
      failed(checkSameElementType(op, dense, denseName, dict, "dictionary")))
    return failure();
  ArrayRef<int64_t> x = rt(dense).getShape();
  ArrayRef<int64_t> dshape = rt(dict).getShape();
  if (!ShapedType::isDynamic(dshape[0]) && dshape[0] > int64_t(32768))
    return op->emitOpError() << "dictionary has " << dshape[0]
                             << " atoms; int16 indices address at most 32768";
  if (!ShapedType::isDynamic(x[3])) {
    if (x[3] % chunks != 0)
      return op->emitOpError() << denseName << " head dim " << x[3]
                               << " is not divisible by chunks = " << chunks;
    if (failed(checkShape(op, dict, "dictionary",
                          {ShapedType::kDynamic, x[3] / chunks})))
      return failure();
  }
  int64_t codes = sparsity > 0 ? chunks * sparsity : ShapedType::kDynamic;
  if (failed(checkShape(op, indices, "indices", {x[0], x[1], x[2], codes})) ||
      failed(checkShape(op, coefs, "coefficients",
                        {x[0], x[1], x[2], rt(indices).getDimSize(3)})))
    return failure();
  return success();
}
} // namespace

LogicalResult SparseEncodeOp::verify() {
  return checkSparseCodes(*this, getInput(), "input", getDictionary(),
                          getIndices(), getCoefficients(), getChunks(),
                          getSparsity());
}

LogicalResult SparseDecodeOp::verify() {
  if (failed(checkSparseCodes(*this, getResult(), "result", getDictionary(),
                              getIndices(), getCoefficients(), getChunks(),
                              /*sparsity=*/0)))
    return failure();
  int64_t n = rt(getIndices()).getDimSize(3);
  if (!ShapedType::isDynamic(n) && n % getChunks() != 0)
    return emitOpError() << "indices hold " << n
                         << " codes per head, not a multiple of chunks = "
                         << getChunks();
  return success();
}

//===----------------------------------------------------------------------===//
// KvQuantizeOp (KIVI)
//===----------------------------------------------------------------------===//

LogicalResult KvQuantizeOp::verify() {
  if (failed(checkRank(*this, getInput(), "input", 4)))
    return failure();
  if (getBits() > 8)
    return emitOpError() << "bits must be in [1, 8], got " << getBits();
  if (getAxis() != "channel" && getAxis() != "token")
    return emitOpError() << "axis must be \"channel\" or \"token\", got \""
                         << getAxis() << "\"";
  int64_t d = rt(getInput()).getDimSize(3);
  if (getAxis() == "token" && !ShapedType::isDynamic(d) &&
      d % getGroup() != 0)
    return emitOpError() << "group " << getGroup()
                         << " does not divide the head dim " << d
                         << " (axis \"token\" groups channels)";
  return success();
}

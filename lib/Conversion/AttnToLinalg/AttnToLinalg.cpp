//===- AttnToLinalg.cpp - attn ops to linalg on tensors -------------------===//
//
// The reference semantics of the attn ops. The fused kernels, the runtime
// calls and every rewrite are checked against what this lowering computes,
// so each pattern transcribes its op description literally and keeps the
// arithmetic in the op's element type; speed is not a goal here.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "attenuate/Conversion/Passes.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_CONVERTATTNTOLINALGPASS
#include "attenuate/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

using utils::IteratorType;

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

Value floatConst(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value negInf(OpBuilder &b, Location loc, Type type) {
  auto ft = cast<FloatType>(type);
  return arith::ConstantOp::create(
      b, loc,
      b.getFloatAttr(ft, APFloat::getInf(ft.getFloatSemantics(),
                                         /*Negative=*/true)));
}

void yield(OpBuilder &b, Location loc, Value value) {
  linalg::YieldOp::create(b, loc, ValueRange{value});
}

Value indexConst(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value dimValue(OpBuilder &b, Location loc, Value tensor, int64_t dim) {
  return b.createOrFold<tensor::DimOp>(loc, tensor, dim);
}

/// A tensor of `sizes` filled with `value`: the initial accumulator of a
/// reduction.
Value filled(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
             Type elementType, Value value) {
  Value empty = tensor::EmptyOp::create(b, loc, sizes, elementType);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty})
      .getResult(0);
}

/// The map (d0, ..., d{n-1}) -> (d{dims[0]}, d{dims[1]}, ...).
AffineMap dimsMap(MLIRContext *ctx, unsigned numDims, ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

SmallVector<unsigned> range(unsigned n) {
  SmallVector<unsigned> r;
  for (unsigned i = 0; i < n; ++i)
    r.push_back(i);
  return r;
}

SmallVector<IteratorType> reductionLast(unsigned numDims) {
  SmallVector<IteratorType> it(numDims, IteratorType::parallel);
  it.back() = IteratorType::reduction;
  return it;
}

/// Passes the value through a tensor.cast when the lowering inferred a more
/// or less static shape than the op's declared result (both are valid for
/// the op's verifier, which accepts dynamic-vs-static matches).
Value castTo(OpBuilder &b, Location loc, Value v, Type type) {
  if (v.getType() == type)
    return v;
  return tensor::CastOp::create(b, loc, type, v);
}

/// Whether `x : [..., k]` may be viewed as a matrix `[m, k]` and the result
/// expanded back. The expansion of one dim into several dynamic ones is valid
/// IR, but LLVM 22's expand-strided-metadata crashes on it
/// (llvm/llvm-project#186830, fixed in 23), so such inputs keep their rank.
bool canFlatten(Value x) {
  ArrayRef<int64_t> shape = tensorType(x).getShape();
  return llvm::count_if(shape.drop_back(), ShapedType::isDynamic) <= 1;
}

/// `x : [..., k]` viewed as a matrix `[m, k]`: linear and mlp act on the last
/// dim only, and a 2-D matmul is the form library lowerings recognise.
Value toMatrix(OpBuilder &b, Location loc, Value x) {
  RankedTensorType type = tensorType(x);
  int64_t rank = type.getRank();
  if (rank == 2)
    return x;
  if (rank == 1) {
    auto matrix =
        RankedTensorType::get({1, type.getDimSize(0)}, type.getElementType());
    SmallVector<OpFoldResult> shape = {b.getIndexAttr(1),
                                       tensor::getMixedSize(b, loc, x, 0)};
    return tensor::ExpandShapeOp::create(b, loc, matrix, x,
                                         {ReassociationIndices{0, 1}}, shape);
  }
  ReassociationIndices leading;
  for (int64_t i = 0; i + 1 < rank; ++i)
    leading.push_back(i);
  return tensor::CollapseShapeOp::create(
      b, loc, x, {leading, ReassociationIndices{rank - 1}});
}

/// The inverse of toMatrix for a result `[m, n]` whose leading dims are
/// those of `x`.
Value fromMatrix(OpBuilder &b, Location loc, Value y, Value x) {
  RankedTensorType xType = tensorType(x), yType = tensorType(y);
  int64_t rank = xType.getRank();
  if (rank == 2)
    return y;
  if (rank == 1)
    return tensor::CollapseShapeOp::create(b, loc, y,
                                           {ReassociationIndices{0, 1}});
  SmallVector<OpFoldResult> shape = tensor::getMixedSizes(b, loc, x);
  shape.back() = tensor::getMixedSize(b, loc, y, 1);
  SmallVector<int64_t> staticShape(xType.getShape());
  staticShape.back() = yType.getDimSize(1);
  ReassociationIndices leading;
  for (int64_t i = 0; i + 1 < rank; ++i)
    leading.push_back(i);
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(staticShape, yType.getElementType()), y,
      {leading, ReassociationIndices{rank - 1}}, shape);
}

/// `y[..., n] = Σ_k x[..., k] · w[n, k]`, accumulated from zero in the
/// element type. A matrix `x` gets linalg.matmul with the transposed-B
/// indexing map, which reads the Hugging Face `[out, in]` weight in place;
/// other ranks get the same contraction as a linalg.generic over the leading
/// dims.
Value contractLastDim(OpBuilder &b, Location loc, Value x, Value w) {
  MLIRContext *ctx = b.getContext();
  Type elementType = tensorType(x).getElementType();
  unsigned rank = tensorType(x).getRank();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  sizes.back() = tensor::getMixedSize(b, loc, w, 0);
  Value init =
      filled(b, loc, sizes, elementType, floatConst(b, loc, elementType, 0.0));
  if (rank == 2)
    return linalg::MatmulTransposeBOp::create(b, loc, TypeRange{init.getType()},
                                              ValueRange{x, w},
                                              ValueRange{init})
        .getResult(0);

  // Loops (lead..., n, k).
  unsigned numLoops = rank + 1;
  SmallVector<unsigned> xDims = range(rank - 1), outDims = range(rank);
  xDims.push_back(rank);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{x, w},
             ValueRange{init},
             SmallVector<AffineMap>{dimsMap(ctx, numLoops, xDims),
                                    dimsMap(ctx, numLoops, {rank - 1, rank}),
                                    dimsMap(ctx, numLoops, outDims)},
             reductionLast(numLoops),
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value prod = arith::MulFOp::create(nb, l, args[0], args[1]);
               yield(nb, l, arith::AddFOp::create(nb, l, args[2], prod));
             })
      .getResult(0);
}

/// An element-wise linalg.generic over tensors of `like`'s shape.
Value elementwise(OpBuilder &b, Location loc, ValueRange inputs, Value like,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> fn) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = tensorType(like).getRank();
  Value init =
      tensor::EmptyOp::create(b, loc, tensor::getMixedSizes(b, loc, like),
                              tensorType(like).getElementType());
  SmallVector<AffineMap> maps(inputs.size() + 1,
                              AffineMap::getMultiDimIdentityMap(rank, ctx));
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
             SmallVector<IteratorType>(rank, IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               yield(nb, l, fn(nb, l, args));
             })
      .getResult(0);
}

//===----------------------------------------------------------------------===//
// attn.embed
//===----------------------------------------------------------------------===//

struct EmbedOpLowering : OpConversionPattern<EmbedOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EmbedOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value table = adaptor.getTable(), tokens = adaptor.getTokens();
    auto tokensType = tensorType(tokens);
    Type elementType = tensorType(table).getElementType();
    unsigned rank = tokensType.getRank() + 1;
    MLIRContext *ctx = rewriter.getContext();

    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, tokens);
    sizes.push_back(tensor::getMixedSize(rewriter, loc, table, 1));
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, elementType);
    // Out-of-range ids are undefined behaviour in the op; clamping keeps the
    // gather in bounds instead of reading arbitrary memory.
    Value zero = indexConst(rewriter, loc, 0);
    Value lastRow =
        arith::SubIOp::create(rewriter, loc, dimValue(rewriter, loc, table, 0),
                              indexConst(rewriter, loc, 1));

    SmallVector<AffineMap> maps = {
        dimsMap(ctx, rank, range(rank - 1)),
        AffineMap::getMultiDimIdentityMap(rank, ctx)};
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()}, ValueRange{tokens},
        ValueRange{init}, maps,
        SmallVector<IteratorType>(rank, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value id =
              arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          id = arith::MaxSIOp::create(b, l, id, zero);
          id = arith::MinSIOp::create(b, l, id, lastRow);
          Value col = linalg::IndexOp::create(b, l, rank - 1);
          Value v = tensor::ExtractOp::create(b, l, table, ValueRange{id, col});
          yield(b, l, v);
        });
    rewriter.replaceOp(
        op, castTo(rewriter, loc, generic.getResult(0), op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.linear
//===----------------------------------------------------------------------===//

struct LinearOpLowering : OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput();
    bool flatten = canFlatten(x);
    Value y =
        contractLastDim(rewriter, loc, flatten ? toMatrix(rewriter, loc, x) : x,
                        adaptor.getWeight());
    if (Value bias = adaptor.getBias()) {
      unsigned rank = tensorType(y).getRank();
      SmallVector<AffineMap> maps = {
          dimsMap(ctx, rank, {rank - 1}),
          AffineMap::getMultiDimIdentityMap(rank, ctx)};
      y = linalg::GenericOp::create(
              rewriter, loc, TypeRange{y.getType()}, ValueRange{bias},
              ValueRange{y}, maps,
              SmallVector<IteratorType>(rank, IteratorType::parallel),
              [](OpBuilder &b, Location l, ValueRange args) {
                yield(b, l, arith::AddFOp::create(b, l, args[1], args[0]));
              })
              .getResult(0);
    }
    if (flatten)
      y = fromMatrix(rewriter, loc, y, x);
    rewriter.replaceOp(op, castTo(rewriter, loc, y, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.rms_norm
//===----------------------------------------------------------------------===//

struct RmsNormOpLowering : OpConversionPattern<RmsNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RmsNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput(), weight = adaptor.getWeight();
    RankedTensorType type = tensorType(x);
    Type elementType = type.getElementType();
    unsigned rank = type.getRank();

    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, x);
    SmallVector<OpFoldResult> rowSizes(sizes.begin(), sizes.end() - 1);
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap rowMap = dimsMap(ctx, rank, range(rank - 1));
    AffineMap lastMap = dimsMap(ctx, rank, {rank - 1});

    Value sumInit = filled(rewriter, loc, rowSizes, elementType,
                           floatConst(rewriter, loc, elementType, 0.0));
    Value sumSq =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{sumInit.getType()}, ValueRange{x},
            ValueRange{sumInit}, SmallVector<AffineMap>{identity, rowMap},
            reductionLast(rank),
            [](OpBuilder &b, Location l, ValueRange args) {
              Value sq = arith::MulFOp::create(b, l, args[0], args[0]);
              Value acc = arith::AddFOp::create(b, l, args[1], sq);
              yield(b, l, acc);
            })
            .getResult(0);

    Value width;
    int64_t d = type.getShape().back();
    if (ShapedType::isDynamic(d)) {
      Value n =
          arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                     dimValue(rewriter, loc, x, rank - 1));
      width = arith::SIToFPOp::create(rewriter, loc, elementType, n);
    } else {
      width = floatConst(rewriter, loc, elementType, static_cast<double>(d));
    }
    Value eps = floatConst(rewriter, loc, elementType,
                           op.getEpsilon().convertToDouble());

    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, elementType);
    Value y = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{init.getType()},
                  ValueRange{x, sumSq, weight}, ValueRange{init},
                  SmallVector<AffineMap>{identity, rowMap, lastMap, identity},
                  SmallVector<IteratorType>(rank, IteratorType::parallel),
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    Value mean = arith::DivFOp::create(b, l, args[1], width);
                    Value rms = math::SqrtOp::create(
                        b, l, arith::AddFOp::create(b, l, mean, eps));
                    Value normed = arith::DivFOp::create(b, l, args[0], rms);
                    yield(b, l, arith::MulFOp::create(b, l, normed, args[2]));
                  })
                  .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, y, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.mlp
//===----------------------------------------------------------------------===//

struct MlpOpLowering : OpConversionPattern<MlpOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MlpOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    bool flatten = canFlatten(x);
    Value xv = flatten ? toMatrix(rewriter, loc, x) : x;
    Value gate = contractLastDim(rewriter, loc, xv, adaptor.getGate());
    Value up = contractLastDim(rewriter, loc, xv, adaptor.getUp());

    Value one = floatConst(rewriter, loc, tensorType(x).getElementType(), 1.0);
    // silu(z) = z / (1 + exp(-z)): for very negative z, exp overflows to +inf
    // and the quotient is -0, where z · (1 / (1 + exp(-z))) would be too.
    Value hidden = elementwise(
        rewriter, loc, ValueRange{gate, up}, gate,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value z = args[0];
          Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, z));
          Value silu = arith::DivFOp::create(
              b, l, z, arith::AddFOp::create(b, l, one, e));
          return arith::MulFOp::create(b, l, silu, args[1]);
        });

    Value y = contractLastDim(rewriter, loc, hidden, adaptor.getDown());
    if (flatten)
      y = fromMatrix(rewriter, loc, y, x);
    rewriter.replaceOp(op, castTo(rewriter, loc, y, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.rope
//===----------------------------------------------------------------------===//

/// ω_j = theta^(-2 f_j / base_dim), step by step in f32 as Hugging Face's
/// `1.0 / (base ** (arange(0, dim, 2).float() / dim))` rounds it: a torch
/// Llama then agrees with this lowering to f32 rounding even at positions in
/// the thousands, where one ulp of ω moves the angle by ~1e-4.
SmallVector<float> ropeInverseFrequencies(RopeOp op) {
  float theta = static_cast<float>(op.getTheta().convertToDouble());
  float base = static_cast<float>(op.getEffectiveBaseDim());
  SmallVector<float> omegas;
  for (int64_t f : op.getFrequencyIndices()) {
    float exponent = static_cast<float>(2 * f) / base;
    omegas.push_back(1.0f / std::pow(theta, exponent));
  }
  return omegas;
}

struct RopeOpLowering : OpConversionPattern<RopeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput(), positions = adaptor.getPositions();
    Type elementType = tensorType(x).getElementType();
    Type f32 = rewriter.getF32Type();
    int64_t rotary = op.getRotaryDim(), half = rotary / 2;
    bool interleaved = op.getPairing() == RopePairing::Interleaved;

    SmallVector<float> omegas = ropeInverseFrequencies(op);
    auto omegaType = RankedTensorType::get({half}, f32);
    Value omegaTable =
        arith::ConstantOp::create(rewriter, loc,
                                  cast<TypedAttr>(DenseElementsAttr::get(
                                      omegaType, ArrayRef<float>(omegas))));

    Value zero = indexConst(rewriter, loc, 0);
    Value rotaryDim = indexConst(rewriter, loc, rotary);
    Value one, two, halfDim;
    if (interleaved) {
      one = indexConst(rewriter, loc, 1);
      two = indexConst(rewriter, loc, 2);
    } else {
      halfDim = indexConst(rewriter, loc, half);
    }

    Value init = tensor::EmptyOp::create(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, x), elementType);
    AffineMap identity = AffineMap::getMultiDimIdentityMap(4, ctx);
    auto castFromF32 = [&](OpBuilder &b, Location l, Value v) -> Value {
      unsigned width = elementType.getIntOrFloatBitWidth();
      if (elementType == f32)
        return v;
      if (width < 32)
        return arith::TruncFOp::create(b, l, elementType, v);
      return arith::ExtFOp::create(b, l, elementType, v);
    };

    Value y =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()}, ValueRange{x, positions},
            ValueRange{init},
            SmallVector<AffineMap>{identity, dimsMap(ctx, 4, {0, 1}), identity},
            SmallVector<IteratorType>(4, IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              using arith::CmpIPredicate;
              Value c = linalg::IndexOp::create(b, l, 3);
              Value rotated =
                  arith::CmpIOp::create(b, l, CmpIPredicate::ult, c, rotaryDim);
              // `first` is the channel of its pair that receives
              // -x_partner·sin.
              Value first, pair, partner;
              if (interleaved) {
                Value odd = arith::RemUIOp::create(b, l, c, two);
                first =
                    arith::CmpIOp::create(b, l, CmpIPredicate::eq, odd, zero);
                pair = arith::DivUIOp::create(b, l, c, two);
                partner = arith::SelectOp::create(
                    b, l, first, arith::AddIOp::create(b, l, c, one),
                    arith::SubIOp::create(b, l, c, one));
              } else {
                first =
                    arith::CmpIOp::create(b, l, CmpIPredicate::ult, c, halfDim);
                Value upper = arith::SubIOp::create(b, l, c, halfDim);
                pair = arith::SelectOp::create(b, l, first, c, upper);
                partner = arith::SelectOp::create(
                    b, l, first, arith::AddIOp::create(b, l, c, halfDim),
                    upper);
              }
              // Pass-through channels still index in bounds, so one body
              // serves every channel without control flow.
              pair = arith::SelectOp::create(b, l, rotated, pair, zero);
              partner = arith::SelectOp::create(b, l, rotated, partner, c);

              Value omega =
                  tensor::ExtractOp::create(b, l, omegaTable, ValueRange{pair});
              Value pos = arith::SIToFPOp::create(b, l, f32, args[1]);
              Value angle = arith::MulFOp::create(b, l, pos, omega);
              Value cos = castFromF32(b, l, math::CosOp::create(b, l, angle));
              Value sin = castFromF32(b, l, math::SinOp::create(b, l, angle));

              SmallVector<Value> at = {linalg::IndexOp::create(b, l, 0),
                                       linalg::IndexOp::create(b, l, 1),
                                       linalg::IndexOp::create(b, l, 2),
                                       partner};
              Value other = tensor::ExtractOp::create(b, l, x, at);
              Value term = arith::MulFOp::create(b, l, other, sin);
              term = arith::SelectOp::create(
                  b, l, first, arith::NegFOp::create(b, l, term), term);
              Value out = arith::AddFOp::create(
                  b, l, arith::MulFOp::create(b, l, args[0], cos), term);
              yield(b, l, arith::SelectOp::create(b, l, rotated, out, args[0]));
            })
            .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, y, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

/// How a contraction reads K or V, `[batch, kv_len, kv_heads, dim]`, from
/// the query-head loop. With static head counts the GQA group is a floordiv
/// in the indexing map; with dynamic ones it cannot be (affine divisors are
/// constants), so the body computes the head and extracts the element.
struct KvAccess {
  Value tensor;
  int64_t group; // q_heads / kv_heads, or 0 when only known at run time
  Value groupValue;
};

KvAccess kvAccess(OpBuilder &b, Location loc, OpFoldResult qHeads, Value kv) {
  std::optional<int64_t> hq = getConstantIntValue(qHeads);
  int64_t hkv = tensorType(kv).getDimSize(2);
  if (hq && !ShapedType::isDynamic(hkv))
    return {kv, *hq / hkv, Value()};
  Value group = arith::DivUIOp::create(
      b, loc, getValueOrCreateConstantIndexOp(b, loc, qHeads),
      dimValue(b, loc, kv, 2));
  return {kv, 0, group};
}

/// Emits `out[o] = Σ_r lhs[lhsDims] · kv[b, token, head / group, channel]`,
/// accumulating from zero over the last loop of `numLoops`. `kvDims` names
/// the loops for (batch, token, query head, channel).
Value contractWithKv(OpBuilder &b, Location loc, Value lhs,
                     ArrayRef<unsigned> lhsDims, const KvAccess &kv,
                     ArrayRef<unsigned> kvDims, ArrayRef<OpFoldResult> outSizes,
                     unsigned numLoops) {
  MLIRContext *ctx = b.getContext();
  Type elementType = tensorType(lhs).getElementType();
  Value init = filled(b, loc, outSizes, elementType,
                      floatConst(b, loc, elementType, 0.0));
  SmallVector<Value> inputs = {lhs};
  SmallVector<AffineMap> maps = {dimsMap(ctx, numLoops, lhsDims)};
  if (kv.group) {
    AffineExpr head = getAffineDimExpr(kvDims[2], ctx);
    if (kv.group != 1)
      head = head.floorDiv(kv.group);
    inputs.push_back(kv.tensor);
    maps.push_back(AffineMap::get(numLoops, 0,
                                  {getAffineDimExpr(kvDims[0], ctx),
                                   getAffineDimExpr(kvDims[1], ctx), head,
                                   getAffineDimExpr(kvDims[3], ctx)},
                                  ctx));
  }
  maps.push_back(dimsMap(ctx, numLoops, range(numLoops - 1)));
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
             reductionLast(numLoops),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value kvValue;
               if (kv.group) {
                 kvValue = args[1];
               } else {
                 Value head = arith::DivUIOp::create(
                     nb, l, linalg::IndexOp::create(nb, l, kvDims[2]),
                     kv.groupValue);
                 kvValue = tensor::ExtractOp::create(
                     nb, l, kv.tensor,
                     ValueRange{linalg::IndexOp::create(nb, l, kvDims[0]),
                                linalg::IndexOp::create(nb, l, kvDims[1]), head,
                                linalg::IndexOp::create(nb, l, kvDims[3])});
               }
               Value prod = arith::MulFOp::create(nb, l, args[0], kvValue);
               yield(nb, l, arith::AddFOp::create(nb, l, args.back(), prod));
             })
      .getResult(0);
}

struct AttentionOpLowering : OpConversionPattern<AttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    Type elementType = tensorType(q).getElementType();
    // Masking and the empty-row test rely on -inf.
    if (!APFloat::semanticsHasInf(
            cast<FloatType>(elementType).getFloatSemantics()))
      return rewriter.notifyMatchFailure(
          op, "element type has no infinity to mask scores with");

    SmallVector<OpFoldResult> qSizes = tensor::getMixedSizes(rewriter, loc, q);
    OpFoldResult batch = qSizes[0], qLen = qSizes[1], qHeads = qSizes[2];
    OpFoldResult kvLen = tensor::getMixedSize(rewriter, loc, k, 1);
    OpFoldResult vDim = tensor::getMixedSize(rewriter, loc, v, 3);
    // Scores and probabilities are [batch, q_heads, q_len, kv_len].
    SmallVector<OpFoldResult> scoreSizes = {batch, qHeads, qLen, kvLen};
    SmallVector<OpFoldResult> rowSizes = {batch, qHeads, qLen};

    // K and V share kv_heads (verified), so they share the head mapping.
    KvAccess keys = kvAccess(rewriter, loc, qHeads, k);
    KvAccess values = keys;
    values.tensor = v;

    // Loops (b, h, i, j, d): raw[b,h,i,j] = Σ_d q[b,i,h,d] · k[b,j,g,d].
    Value raw = contractWithKv(rewriter, loc, q, {0, 2, 1, 4}, keys,
                               {0, 3, 1, 4}, scoreSizes, 5);

    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    AffineMap rowMap = dimsMap(ctx, 4, {0, 1, 2});
    SmallVector<IteratorType> parallel4(4, IteratorType::parallel);
    Value minusInf = negInf(rewriter, loc, elementType);
    Value zeroF = floatConst(rewriter, loc, elementType, 0.0);
    Value scale =
        floatConst(rewriter, loc, elementType, op.getScale().convertToDouble());
    // Bottom-right alignment: query i sees keys j <= i + kv_len - q_len. The
    // offset is negative when q_len > kv_len, so the compare is signed.
    Value offset;
    if (op.getCausal())
      offset =
          arith::SubIOp::create(rewriter, loc, dimValue(rewriter, loc, k, 1),
                                dimValue(rewriter, loc, q, 1));

    Value scoresInit =
        tensor::EmptyOp::create(rewriter, loc, scoreSizes, elementType);
    Value scores =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{scoresInit.getType()}, ValueRange{raw},
            ValueRange{scoresInit}, SmallVector<AffineMap>{id4, id4}, parallel4,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value s = arith::MulFOp::create(b, l, scale, args[0]);
              if (offset) {
                Value i = linalg::IndexOp::create(b, l, 2);
                Value j = linalg::IndexOp::create(b, l, 3);
                Value last = arith::AddIOp::create(b, l, i, offset);
                Value masked = arith::CmpIOp::create(
                    b, l, arith::CmpIPredicate::sgt, j, last);
                s = arith::SelectOp::create(b, l, masked, minusInf, s);
              }
              yield(b, l, s);
            })
            .getResult(0);

    Value maxInit = filled(rewriter, loc, rowSizes, elementType, minusInf);
    Value rowMax =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{maxInit.getType()}, ValueRange{scores},
            ValueRange{maxInit}, SmallVector<AffineMap>{id4, rowMap},
            reductionLast(4),
            [](OpBuilder &b, Location l, ValueRange args) {
              yield(b, l, arith::MaximumFOp::create(b, l, args[1], args[0]));
            })
            .getResult(0);

    // A row that sees no key has max -inf and exp(-inf - -inf) = NaN; the op
    // defines its output as zeros, so its weights are zeros.
    Value expInit =
        tensor::EmptyOp::create(rewriter, loc, scoreSizes, elementType);
    Value weights =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{expInit.getType()},
            ValueRange{scores, rowMax}, ValueRange{expInit},
            SmallVector<AffineMap>{id4, rowMap, id4}, parallel4,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value e = math::ExpOp::create(
                  b, l, arith::SubFOp::create(b, l, args[0], args[1]));
              Value empty = arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::OEQ, args[1], minusInf);
              yield(b, l, arith::SelectOp::create(b, l, empty, zeroF, e));
            })
            .getResult(0);

    Value sumInit = filled(rewriter, loc, rowSizes, elementType, zeroF);
    Value rowSum =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{sumInit.getType()}, ValueRange{weights},
            ValueRange{sumInit}, SmallVector<AffineMap>{id4, rowMap},
            reductionLast(4),
            [](OpBuilder &b, Location l, ValueRange args) {
              yield(b, l, arith::AddFOp::create(b, l, args[1], args[0]));
            })
            .getResult(0);

    Value probsInit =
        tensor::EmptyOp::create(rewriter, loc, scoreSizes, elementType);
    Value probs =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{probsInit.getType()},
            ValueRange{weights, rowSum}, ValueRange{probsInit},
            SmallVector<AffineMap>{id4, rowMap, id4}, parallel4,
            [&](OpBuilder &b, Location l, ValueRange args) {
              // The sum is >= 1 (the max term is exp(0)) unless the row is
              // fully masked, where every weight is 0.
              Value p = arith::DivFOp::create(b, l, args[0], args[1]);
              Value empty = arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::OEQ, args[1], zeroF);
              yield(b, l, arith::SelectOp::create(b, l, empty, zeroF, p));
            })
            .getResult(0);

    // Loops (b, i, h, e, j): out[b,i,h,e] = Σ_j p[b,h,i,j] · v[b,j,g,e].
    SmallVector<OpFoldResult> outSizes = {batch, qLen, qHeads, vDim};
    Value out = contractWithKv(rewriter, loc, probs, {0, 2, 1, 4}, values,
                               {0, 4, 2, 3}, outSizes, 5);
    rewriter.replaceOp(op, castTo(rewriter, loc, out, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.cache_update
//===----------------------------------------------------------------------===//

struct CacheUpdateOpLowering : OpConversionPattern<CacheUpdateOp> {
  CacheUpdateOpLowering(MLIRContext *ctx, RuntimeChecks checks)
      : OpConversionPattern(ctx), checks(checks) {}

  /// Codes understood by attn_rt_report_error (lib/Runtime/cpu/Error.cpp).
  enum : int64_t { kPastCapacity = 1, kNegativePosition = 2 };

  LogicalResult
  matchAndRewrite(CacheUpdateOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value cache = adaptor.getCache(), update = adaptor.getUpdate();
    Value pos = adaptor.getPosition();
    using arith::CmpIPredicate;

    // insert_slice out of bounds is undefined behaviour after bufferization,
    // so a bad position must never reach the write.
    Value end = arith::AddIOp::create(rewriter, loc, pos,
                                      dimValue(rewriter, loc, update, 1));
    Value fits = arith::CmpIOp::create(rewriter, loc, CmpIPredicate::sle, end,
                                       dimValue(rewriter, loc, cache, 1));
    Value nonNegative = arith::CmpIOp::create(
        rewriter, loc, CmpIPredicate::sge, pos, indexConst(rewriter, loc, 0));

    OpFoldResult zero = rewriter.getIndexAttr(0),
                 one = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> offsets = {zero, pos, zero, zero};
    SmallVector<OpFoldResult> strides(4, one);
    auto write = [&](OpBuilder &b, Location l) {
      return tensor::InsertSliceOp::create(b, l, update, cache, offsets,
                                           tensor::getMixedSizes(b, l, update),
                                           strides)
          .getResult();
    };

    if (checks == RuntimeChecks::Assert) {
      cf::AssertOp::create(
          rewriter, loc, fits,
          rewriter.getStringAttr(
              "attn.cache_update: write past the cache capacity"));
      cf::AssertOp::create(
          rewriter, loc, nonNegative,
          rewriter.getStringAttr("attn.cache_update: negative position"));
      rewriter.replaceOp(op,
                         castTo(rewriter, loc, write(rewriter, loc),
                                op.getType()));
      return success();
    }

    // Report mode: skip the write, tell the runtime why, return the cache
    // unchanged; the host turns the recorded error into a message.
    auto module = op->getParentOfType<ModuleOp>();
    auto reportFn =
        module.lookupSymbol<func::FuncOp>("attn_rt_report_error");
    if (!reportFn) {
      OpBuilder mb(module.getBodyRegion());
      reportFn = func::FuncOp::create(
          mb, module.getLoc(), "attn_rt_report_error",
          mb.getFunctionType({mb.getI64Type()}, {}));
      reportFn.setPrivate();
    }
    Value ok = arith::AndIOp::create(rewriter, loc, fits, nonNegative);
    auto ifOp = scf::IfOp::create(
        rewriter, loc, ok,
        [&](OpBuilder &b, Location l) {
          scf::YieldOp::create(b, l, write(b, l));
        },
        [&](OpBuilder &b, Location l) {
          Value code = arith::SelectOp::create(
              b, l, nonNegative,
              arith::ConstantIntOp::create(b, l, b.getI64Type(), kPastCapacity),
              arith::ConstantIntOp::create(b, l, b.getI64Type(),
                                           kNegativePosition));
          func::CallOp::create(b, l, reportFn, ValueRange{code});
          scf::YieldOp::create(b, l, cache);
        });
    rewriter.replaceOp(op,
                       castTo(rewriter, loc, ifOp.getResult(0), op.getType()));
    return success();
  }

  RuntimeChecks checks;
};

//===----------------------------------------------------------------------===//
// Training: attn.linear_grad_weight, attn.linear_grad_input
//===----------------------------------------------------------------------===//

struct LinearGradWeightOpLowering : OpConversionPattern<LinearGradWeightOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearGradWeightOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value dy = adaptor.getGradOutput(), x = adaptor.getInput();
    Type elementType = tensorType(dy).getElementType();
    unsigned lead = tensorType(dy).getRank() - 1;
    SmallVector<OpFoldResult> sizes = {
        tensor::getMixedSize(rewriter, loc, dy, lead),
        tensor::getMixedSize(rewriter, loc, x, lead)};
    Value init = filled(rewriter, loc, sizes, elementType,
                        floatConst(rewriter, loc, elementType, 0.0));
    // Loops (o, i, tokens...): dw[o, i] = Σ_t dy[t, o] · x[t, i].
    unsigned numLoops = lead + 2;
    SmallVector<unsigned> dyDims, xDims;
    for (unsigned d = 0; d < lead; ++d) {
      dyDims.push_back(d + 2);
      xDims.push_back(d + 2);
    }
    dyDims.push_back(0);
    xDims.push_back(1);
    SmallVector<IteratorType> iterators(numLoops, IteratorType::reduction);
    iterators[0] = iterators[1] = IteratorType::parallel;
    Value dw =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()}, ValueRange{dy, x},
            ValueRange{init},
            SmallVector<AffineMap>{dimsMap(ctx, numLoops, dyDims),
                                   dimsMap(ctx, numLoops, xDims),
                                   dimsMap(ctx, numLoops, {0, 1})},
            iterators,
            [](OpBuilder &b, Location l, ValueRange args) {
              Value prod = arith::MulFOp::create(b, l, args[0], args[1]);
              yield(b, l, arith::AddFOp::create(b, l, args[2], prod));
            })
            .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, dw, op.getType()));
    return success();
  }
};

struct LinearGradInputOpLowering : OpConversionPattern<LinearGradInputOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearGradInputOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value dy = adaptor.getGradOutput(), w = adaptor.getWeight();
    Type elementType = tensorType(dy).getElementType();
    unsigned rank = tensorType(dy).getRank();
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, dy);
    sizes.back() = tensor::getMixedSize(rewriter, loc, w, 1);
    Value init = filled(rewriter, loc, sizes, elementType,
                        floatConst(rewriter, loc, elementType, 0.0));
    // Loops (tokens..., i, o): dx[t, i] = Σ_o dy[t, o] · w[o, i].
    unsigned numLoops = rank + 1;
    SmallVector<unsigned> dyDims = range(rank - 1);
    dyDims.push_back(rank);
    Value dx = linalg::GenericOp::create(
                   rewriter, loc, TypeRange{init.getType()}, ValueRange{dy, w},
                   ValueRange{init},
                   SmallVector<AffineMap>{
                       dimsMap(ctx, numLoops, dyDims),
                       dimsMap(ctx, numLoops, {rank, rank - 1}),
                       dimsMap(ctx, numLoops, range(rank))},
                   reductionLast(numLoops),
                   [](OpBuilder &b, Location l, ValueRange args) {
                     Value prod = arith::MulFOp::create(b, l, args[0], args[1]);
                     yield(b, l, arith::AddFOp::create(b, l, args[2], prod));
                   })
                   .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, dx, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.pamm_compress
//===----------------------------------------------------------------------===//

Value i64Const(OpBuilder &b, Location loc, uint64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(),
                                      static_cast<int64_t>(value));
}

/// k = clamp(ceil(ratio · b), 1, b) as i64 for `tokens` (index), with the
/// ceiling of the f64 product taken as trunc + 1 when the product is larger,
/// exactly as PammCompressOp::numGenerators.
Value numGenerators(OpBuilder &b, Location loc, Value tokens, double ratio) {
  Value b64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), tokens);
  Value product = arith::MulFOp::create(
      b, loc, arith::SIToFPOp::create(b, loc, b.getF64Type(), b64),
      arith::ConstantOp::create(b, loc, b.getF64FloatAttr(ratio)));
  Value k = arith::FPToSIOp::create(b, loc, b.getI64Type(), product);
  Value below = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OLT,
      arith::SIToFPOp::create(b, loc, b.getF64Type(), k), product);
  k = arith::SelectOp::create(
      b, loc, below, arith::AddIOp::create(b, loc, k, i64Const(b, loc, 1)), k);
  k = arith::MaxSIOp::create(b, loc, k, i64Const(b, loc, 1));
  return arith::MinSIOp::create(b, loc, k, b64);
}

/// splitmix64 at state seed + (j + 1)·γ, in i64 wrapping arithmetic.
Value splitmix64(OpBuilder &b, Location loc, Value seed, Value j) {
  Value z = arith::AddIOp::create(
      b, loc, seed,
      arith::MulIOp::create(
          b, loc, arith::AddIOp::create(b, loc, j, i64Const(b, loc, 1)),
          i64Const(b, loc, 0x9E3779B97F4A7C15ull)));
  auto mix = [&](Value v, unsigned shift, uint64_t mul) {
    Value x = arith::XOrIOp::create(
        b, loc, v, arith::ShRUIOp::create(b, loc, v, i64Const(b, loc, shift)));
    return mul ? arith::MulIOp::create(b, loc, x, i64Const(b, loc, mul)).getResult()
               : x;
  };
  z = mix(z, 30, 0xBF58476D1CE4E5B9ull);
  z = mix(z, 27, 0x94D049BB133111EBull);
  return mix(z, 31, 0);
}

/// The row-major multi-index of token `t` over `sizes`.
SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value t,
                               ArrayRef<Value> sizes) {
  SmallVector<Value> idx(sizes.size());
  for (size_t d = sizes.size(); d-- > 0;) {
    idx[d] = arith::RemUIOp::create(b, loc, t, sizes[d]);
    t = arith::DivUIOp::create(b, loc, t, sizes[d]);
  }
  return idx;
}

/// The row-major token number of the loop indices [0, sizes.size()).
Value linearize(OpBuilder &b, Location loc, ArrayRef<Value> sizes) {
  Value t = indexConst(b, loc, 0);
  for (size_t d = 0; d < sizes.size(); ++d)
    t = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, t, sizes[d]),
        linalg::IndexOp::create(b, loc, d));
  return t;
}

struct PammCompressOpLowering : OpConversionPattern<PammCompressOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PammCompressOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    OpBuilder &b = rewriter;
    Value x = adaptor.getInput();
    Type elt = tensorType(x).getElementType();
    Type i64 = b.getI64Type();
    unsigned lead = tensorType(x).getRank() - 1;
    SmallVector<OpFoldResult> xSizes = tensor::getMixedSizes(b, loc, x);
    SmallVector<OpFoldResult> tokenSizes(xSizes.begin(), xSizes.end() - 1);
    SmallVector<Value> tokenDims;
    Value tokens = indexConst(b, loc, 1);
    for (OpFoldResult s : tokenSizes) {
      tokenDims.push_back(getValueOrCreateConstantIndexOp(b, loc, s));
      tokens = arith::MulIOp::create(b, loc, tokens, tokenDims.back());
    }
    Value b64 = arith::IndexCastOp::create(b, loc, i64, tokens);
    Value k64 =
        numGenerators(b, loc, tokens, op.getRatio().convertToDouble());
    Value k = arith::IndexCastOp::create(b, loc, b.getIndexType(), k64);
    OpFoldResult width = xSizes.back();
    Value zero = indexConst(b, loc, 0), one = indexConst(b, loc, 1);

    // perm = 0 .. b-1, then k steps of the partial Fisher-Yates shuffle.
    AffineMap id1 = AffineMap::getMultiDimIdentityMap(1, ctx);
    SmallVector<OpFoldResult> tokenCount{tokens};
    Value permInit = tensor::EmptyOp::create(b, loc, tokenCount, i64);
    Value perm =
        linalg::GenericOp::create(
            b, loc, TypeRange{permInit.getType()}, ValueRange{},
            ValueRange{permInit}, SmallVector<AffineMap>{id1},
            SmallVector<IteratorType>{IteratorType::parallel},
            [&](OpBuilder &nb, Location l, ValueRange) {
              yield(nb, l,
                    arith::IndexCastOp::create(nb, l, i64,
                                               linalg::IndexOp::create(nb, l, 0)));
            })
            .getResult(0);
    Value seed = i64Const(b, loc, static_cast<uint64_t>(op.getSeed()));
    perm = scf::ForOp::create(
               b, loc, zero, k, one, ValueRange{perm},
               [&](OpBuilder &nb, Location l, Value j, ValueRange iter) {
                 Value j64 = arith::IndexCastOp::create(nb, l, i64, j);
                 Value span = arith::SubIOp::create(nb, l, b64, j64);
                 Value r64 = arith::AddIOp::create(
                     nb, l, j64,
                     arith::RemUIOp::create(nb, l, splitmix64(nb, l, seed, j64),
                                            span));
                 Value r =
                     arith::IndexCastOp::create(nb, l, nb.getIndexType(), r64);
                 Value p = iter[0];
                 Value pj = tensor::ExtractOp::create(nb, l, p, ValueRange{j});
                 Value pr = tensor::ExtractOp::create(nb, l, p, ValueRange{r});
                 p = tensor::InsertOp::create(nb, l, pr, p, ValueRange{j});
                 p = tensor::InsertOp::create(nb, l, pj, p, ValueRange{r});
                 scf::YieldOp::create(nb, l, ValueRange{p});
               })
               .getResult(0);

    // generators[j, c] = x[token perm[j], c].
    AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
    SmallVector<OpFoldResult> cSizes{k, width};
    Value cInit = tensor::EmptyOp::create(b, loc, cSizes, elt);
    Value generators =
        linalg::GenericOp::create(
            b, loc, TypeRange{cInit.getType()}, ValueRange{}, ValueRange{cInit},
            SmallVector<AffineMap>{id2},
            SmallVector<IteratorType>(2, IteratorType::parallel),
            [&](OpBuilder &nb, Location l, ValueRange) {
              Value p = tensor::ExtractOp::create(
                  nb, l, perm, ValueRange{linalg::IndexOp::create(nb, l, 0)});
              SmallVector<Value> idx = delinearize(
                  nb, l,
                  arith::IndexCastOp::create(nb, l, nb.getIndexType(), p),
                  tokenDims);
              idx.push_back(linalg::IndexOp::create(nb, l, 1));
              yield(nb, l, tensor::ExtractOp::create(nb, l, x, idx));
            })
            .getResult(0);

    // generatorOf[t] = j when token t is generator j, else -1.
    Value genOf = filled(b, loc, tokenCount, i64,
                         i64Const(b, loc, static_cast<uint64_t>(-1)));
    genOf = scf::ForOp::create(
                b, loc, zero, k, one, ValueRange{genOf},
                [&](OpBuilder &nb, Location l, Value j, ValueRange iter) {
                  Value t = arith::IndexCastOp::create(
                      nb, l, nb.getIndexType(),
                      tensor::ExtractOp::create(nb, l, perm, ValueRange{j}));
                  Value g = tensor::InsertOp::create(
                      nb, l, arith::IndexCastOp::create(nb, l, i64, j), iter[0],
                      ValueRange{t});
                  scf::YieldOp::create(nb, l, ValueRange{g});
                })
                .getResult(0);

    Value zeroF = floatConst(b, loc, elt, 0.0);
    // ‖C_j‖².
    SmallVector<OpFoldResult> kSize{k};
    Value normInit = filled(b, loc, kSize, elt, zeroF);
    Value norm2 =
        linalg::GenericOp::create(
            b, loc, TypeRange{normInit.getType()}, ValueRange{generators},
            ValueRange{normInit},
            SmallVector<AffineMap>{id2, dimsMap(ctx, 2, {0})},
            reductionLast(2),
            [](OpBuilder &nb, Location l, ValueRange args) {
              Value sq = arith::MulFOp::create(nb, l, args[0], args[0]);
              yield(nb, l, arith::AddFOp::create(nb, l, args[1], sq));
            })
            .getResult(0);

    // dots[t, j] = ⟨x_t, C_j⟩; loops (tokens..., j, c).
    unsigned dotLoops = lead + 2;
    SmallVector<OpFoldResult> dotSizes(tokenSizes);
    dotSizes.push_back(k);
    SmallVector<unsigned> xDims = range(lead);
    xDims.push_back(lead + 1);
    Value dotInit = filled(b, loc, dotSizes, elt, zeroF);
    Value dots =
        linalg::GenericOp::create(
            b, loc, TypeRange{dotInit.getType()}, ValueRange{x, generators},
            ValueRange{dotInit},
            SmallVector<AffineMap>{dimsMap(ctx, dotLoops, xDims),
                                   dimsMap(ctx, dotLoops, {lead, lead + 1}),
                                   dimsMap(ctx, dotLoops, range(lead + 1))},
            reductionLast(dotLoops),
            [](OpBuilder &nb, Location l, ValueRange args) {
              Value prod = arith::MulFOp::create(nb, l, args[0], args[1]);
              yield(nb, l, arith::AddFOp::create(nb, l, args[2], prod));
            })
            .getResult(0);

    // argmax_j ⟨x, C_j⟩²/‖C_j‖² over generators of nonzero norm, ties to
    // the lowest j; loops (tokens..., j).
    unsigned argLoops = lead + 1;
    Value bestInit =
        filled(b, loc, tokenSizes, elt, floatConst(b, loc, elt, -1.0));
    Value idxInit = filled(b, loc, tokenSizes, i64, i64Const(b, loc, 0));
    auto argmax = linalg::GenericOp::create(
        b, loc, TypeRange{bestInit.getType(), idxInit.getType()},
        ValueRange{dots, norm2}, ValueRange{bestInit, idxInit},
        SmallVector<AffineMap>{dimsMap(ctx, argLoops, range(argLoops)),
                               dimsMap(ctx, argLoops, {lead}),
                               dimsMap(ctx, argLoops, range(lead)),
                               dimsMap(ctx, argLoops, range(lead))},
        reductionLast(argLoops),
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value s = args[0], n2 = args[1], best = args[2], bi = args[3];
          Value valid = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                              n2, zeroF);
          Value score = arith::DivFOp::create(
              nb, l, arith::MulFOp::create(nb, l, s, s), n2);
          Value better = arith::AndIOp::create(
              nb, l, valid,
              arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, score,
                                    best));
          Value j = arith::IndexCastOp::create(
              nb, l, i64, linalg::IndexOp::create(nb, l, lead));
          linalg::YieldOp::create(
              nb, l,
              ValueRange{arith::SelectOp::create(nb, l, better, score, best),
                         arith::SelectOp::create(nb, l, better, j, bi)});
        });
    Value bestScore = argmax.getResult(0), bestIdx = argmax.getResult(1);

    std::optional<double> eps;
    if (auto e = op.getEpsilon())
      eps = e->convertToDouble();
    if (eps && *eps >= 1.0)
      eps.reset();
    Value norms;
    if (eps) {
      SmallVector<unsigned> outDims = range(lead);
      Value normsInit = filled(b, loc, tokenSizes, elt, zeroF);
      norms = linalg::GenericOp::create(
                  b, loc, TypeRange{normsInit.getType()}, ValueRange{x},
                  ValueRange{normsInit},
                  SmallVector<AffineMap>{dimsMap(ctx, lead + 1, range(lead + 1)),
                                         dimsMap(ctx, lead + 1, outDims)},
                  reductionLast(lead + 1),
                  [](OpBuilder &nb, Location l, ValueRange args) {
                    Value sq = arith::MulFOp::create(nb, l, args[0], args[0]);
                    yield(nb, l, arith::AddFOp::create(nb, l, args[1], sq));
                  })
                  .getResult(0);
    }

    // Assignment, scale and (with epsilon) the dropped flag per token.
    AffineMap tokMap = AffineMap::getMultiDimIdentityMap(lead, ctx);
    SmallVector<Value> inputs{bestScore, bestIdx};
    if (eps)
      inputs.push_back(norms);
    Value fInit = tensor::EmptyOp::create(b, loc, tokenSizes, b.getI32Type());
    Value aInit = tensor::EmptyOp::create(b, loc, tokenSizes, elt);
    SmallVector<Value> outputs{fInit, aInit};
    if (eps)
      outputs.push_back(tensor::EmptyOp::create(b, loc, tokenSizes, elt));
    SmallVector<AffineMap> maps(inputs.size() + outputs.size(), tokMap);
    SmallVector<Type> resultTypes;
    for (Value o : outputs)
      resultTypes.push_back(o.getType());
    Value oneF = floatConst(b, loc, elt, 1.0);
    auto assign = linalg::GenericOp::create(
        b, loc, resultTypes, inputs, outputs, maps,
        SmallVector<IteratorType>(lead, IteratorType::parallel),
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value best = args[0], bi = args[1];
          Value t = linearize(nb, l, tokenDims);
          Value g = tensor::ExtractOp::create(nb, l, genOf, ValueRange{t});
          Value isGen = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge,
                                              g, i64Const(nb, l, 0));
          SmallVector<Value> at;
          for (unsigned d = 0; d < lead; ++d)
            at.push_back(linalg::IndexOp::create(nb, l, d));
          Value bIndex =
              arith::IndexCastOp::create(nb, l, nb.getIndexType(), bi);
          at.push_back(bIndex);
          Value dot = tensor::ExtractOp::create(nb, l, dots, at);
          Value n2 =
              tensor::ExtractOp::create(nb, l, norm2, ValueRange{bIndex});
          Value none = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OLT,
                                             best, zeroF);
          Value scale = arith::SelectOp::create(
              nb, l, none, zeroF, arith::DivFOp::create(nb, l, dot, n2));
          scale = arith::SelectOp::create(nb, l, isGen, oneF, scale);
          Value f = arith::SelectOp::create(nb, l, isGen, g, bi);
          SmallVector<Value> results{
              arith::TruncIOp::create(nb, l, nb.getI32Type(), f), scale};
          if (eps) {
            // ‖x − αC‖² = ‖x‖² − ⟨x, C⟩²/‖C‖²; NaN counts as dropped.
            Value xx = args[2];
            Value err = arith::SubFOp::create(
                nb, l, xx, arith::MaximumFOp::create(nb, l, best, zeroF));
            Value bound = arith::MulFOp::create(
                nb, l, floatConst(nb, l, elt, *eps), xx);
            Value bad = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UGT,
                                              err, bound);
            Value drop = arith::AndIOp::create(
                nb, l, bad,
                arith::XOrIOp::create(
                    nb, l, isGen,
                    arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1)));
            results[1] = arith::SelectOp::create(nb, l, drop, zeroF, scale);
            results.push_back(arith::SelectOp::create(nb, l, drop, oneF, zeroF));
          }
          linalg::YieldOp::create(nb, l, results);
        });
    Value assignment = assign.getResult(0), scale = assign.getResult(1);

    if (eps) {
      // β = b / (b − η) for η dropped tokens, applied to every scale.
      Value etaInit = filled(b, loc, ArrayRef<OpFoldResult>(), elt, zeroF);
      Value eta =
          linalg::GenericOp::create(
              b, loc, TypeRange{etaInit.getType()}, ValueRange{assign.getResult(2)},
              ValueRange{etaInit},
              SmallVector<AffineMap>{tokMap, AffineMap::get(lead, 0, ctx)},
              SmallVector<IteratorType>(lead, IteratorType::reduction),
              [](OpBuilder &nb, Location l, ValueRange args) {
                yield(nb, l, arith::AddFOp::create(nb, l, args[1], args[0]));
              })
              .getResult(0);
      Value etaScalar = tensor::ExtractOp::create(b, loc, eta, ValueRange{});
      Value bF = arith::UIToFPOp::create(b, loc, elt, b64);
      Value beta = arith::DivFOp::create(
          b, loc, bF, arith::SubFOp::create(b, loc, bF, etaScalar));
      scale = elementwise(b, loc, ValueRange{scale}, scale,
                          [&](OpBuilder &nb, Location l, ValueRange args) {
                            return arith::MulFOp::create(nb, l, args[0], beta)
                                .getResult();
                          });
    }
    rewriter.replaceOp(op, {castTo(b, loc, generators, op.getGenerators().getType()),
                            castTo(b, loc, assignment, op.getAssignment().getType()),
                            castTo(b, loc, scale, op.getScale().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.pamm_grad_weight
//===----------------------------------------------------------------------===//

struct PammGradWeightOpLowering : OpConversionPattern<PammGradWeightOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PammGradWeightOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value dz = adaptor.getGradOutput(), c = adaptor.getGenerators(),
          f = adaptor.getAssignment(), alpha = adaptor.getScale();
    Type elt = tensorType(dz).getElementType();
    unsigned lead = tensorType(dz).getRank() - 1;
    OpFoldResult k = tensor::getMixedSize(rewriter, loc, c, 0);
    OpFoldResult out = tensor::getMixedSize(rewriter, loc, dz, lead);
    Value zeroF = floatConst(rewriter, loc, elt, 0.0);
    // Out-of-range assignments are undefined behaviour; clamping keeps the
    // comparison below meaningful instead of silently dropping tokens.
    Value last = arith::SubIOp::create(
        rewriter, loc,
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI32Type(),
                                   dimValue(rewriter, loc, c, 0)),
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI32Type(), 1));

    // The segment sum, loops (j, o, tokens...):
    // seg[j, o] = Σ_t [f(t) = j] · α_t · dz[t, o].
    unsigned segLoops = lead + 2;
    SmallVector<unsigned> tokenLoops;
    for (unsigned d = 0; d < lead; ++d)
      tokenLoops.push_back(d + 2);
    SmallVector<unsigned> dzDims(tokenLoops);
    dzDims.push_back(1);
    SmallVector<IteratorType> segIters(segLoops, IteratorType::reduction);
    segIters[0] = segIters[1] = IteratorType::parallel;
    Value segInit = filled(rewriter, loc, {k, out}, elt, zeroF);
    Value seg =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{segInit.getType()},
            ValueRange{dz, f, alpha}, ValueRange{segInit},
            SmallVector<AffineMap>{dimsMap(ctx, segLoops, dzDims),
                                   dimsMap(ctx, segLoops, tokenLoops),
                                   dimsMap(ctx, segLoops, tokenLoops),
                                   dimsMap(ctx, segLoops, {0, 1})},
            segIters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value fc = arith::MinSIOp::create(
                  b, l,
                  arith::MaxSIOp::create(
                      b, l, args[1],
                      arith::ConstantIntOp::create(b, l, b.getI32Type(), 0)),
                  last);
              Value j = arith::IndexCastOp::create(
                  b, l, b.getI32Type(), linalg::IndexOp::create(b, l, 0));
              Value mine = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::eq, fc, j);
              Value w = arith::SelectOp::create(b, l, mine, args[2], zeroF);
              Value prod = arith::MulFOp::create(
                  b, l, w, args[0]);
              yield(b, l, arith::AddFOp::create(b, l, args[3], prod));
            })
            .getResult(0);

    // dw[o, i] = Σ_j seg[j, o] · C[j, i]; loops (o, i, j).
    SmallVector<OpFoldResult> dwSizes = {
        out, tensor::getMixedSize(rewriter, loc, c, 1)};
    Value dwInit = filled(rewriter, loc, dwSizes, elt, zeroF);
    Value dw = linalg::GenericOp::create(
                   rewriter, loc, TypeRange{dwInit.getType()},
                   ValueRange{seg, c}, ValueRange{dwInit},
                   SmallVector<AffineMap>{dimsMap(ctx, 3, {2, 0}),
                                          dimsMap(ctx, 3, {2, 1}),
                                          dimsMap(ctx, 3, {0, 1})},
                   reductionLast(3),
                   [](OpBuilder &b, Location l, ValueRange args) {
                     Value prod = arith::MulFOp::create(b, l, args[0], args[1]);
                     yield(b, l, arith::AddFOp::create(b, l, args[2], prod));
                   })
                   .getResult(0);
    rewriter.replaceOp(op, castTo(rewriter, loc, dw, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct ConvertAttnToLinalgPass
    : mlir::attn::impl::ConvertAttnToLinalgPassBase<ConvertAttnToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, cf::ControlFlowDialect,
                           func::FuncDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.addIllegalDialect<AttnDialect>();
    target.addLegalOp<ParamOp>();
    for (const std::string &name : keep) {
      std::optional<RegisteredOperationName> kept =
          RegisteredOperationName::lookup(name, ctx);
      if (!kept ||
          kept->getDialectNamespace() != AttnDialect::getDialectNamespace()) {
        emitError(getOperation()->getLoc())
            << "convert-attn-to-linalg: option 'keep' names '" << name
            << "', which is not an attn op";
        return signalPassFailure();
      }
      target.addLegalOp(*kept);
    }

    RewritePatternSet patterns(ctx);
    if (checks != "assert" && checks != "report") {
      emitError(getOperation()->getLoc())
          << "convert-attn-to-linalg: option 'checks' must be assert or "
             "report, got '"
          << checks << "'";
      return signalPassFailure();
    }
    // The report call's declaration goes into the module.
    if (checks == "report" && !isa<ModuleOp>(getOperation())) {
      emitError(getOperation()->getLoc())
          << "convert-attn-to-linalg: checks=report must run on a module";
      return signalPassFailure();
    }
    populateAttnToLinalgPatterns(patterns, checks == "report"
                                               ? RuntimeChecks::Report
                                               : RuntimeChecks::Assert);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateAttnToLinalgPatterns(RewritePatternSet &patterns,
                                               RuntimeChecks checks) {
  patterns.add<AttentionOpLowering, EmbedOpLowering, LinearGradInputOpLowering,
               LinearGradWeightOpLowering, LinearOpLowering, MlpOpLowering,
               PammCompressOpLowering, PammGradWeightOpLowering,
               RmsNormOpLowering, RopeOpLowering>(patterns.getContext());
  patterns.add<CacheUpdateOpLowering>(patterns.getContext(), checks);
  populateKvCodecToLinalgPatterns(patterns);
}

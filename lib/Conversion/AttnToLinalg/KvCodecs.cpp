//===- KvCodecs.cpp - encoded KV caches to linalg on tensors --------------===//
//
// Reference semantics of the KV-cache codecs: CSR's attn.sparse_encode /
// attn.sparse_decode and KIVI's attn.kv_quantize. Each pattern transcribes
// the op description literally (python/attenuate/reference.py holds the
// same definitions in numpy); speed is not a goal.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

using utils::IteratorType;

RankedTensorType tensorTypeOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

Value fconst(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value iconst(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elementType, Value value) {
  Value empty = tensor::EmptyOp::create(b, loc, sizes, elementType);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty})
      .getResult(0);
}

Value castResult(OpBuilder &b, Location loc, Value v, Type type) {
  if (v.getType() == type)
    return v;
  return tensor::CastOp::create(b, loc, type, v);
}

AffineMap mapOf(MLIRContext *ctx, unsigned numDims, ArrayRef<AffineExpr> e) {
  return AffineMap::get(numDims, 0, e, ctx);
}

/// f16(clamp(x, ±65504)) widened back to `elt`: a coefficient as stored.
std::pair<Value, Value> toF16(OpBuilder &b, Location l, Value x, Type elt) {
  Value lim = fconst(b, l, elt, 65504.0);
  Value nlim = fconst(b, l, elt, -65504.0);
  Value c = arith::MinimumFOp::create(
      b, l, arith::MaximumFOp::create(b, l, x, nlim), lim);
  Value h = c;
  if (!elt.isF16())
    h = arith::TruncFOp::create(b, l, b.getF16Type(), c);
  Value back = h;
  if (!elt.isF16())
    back = arith::ExtFOp::create(b, l, elt, h);
  return {h, back};
}

//===----------------------------------------------------------------------===//
// attn.sparse_decode
//===----------------------------------------------------------------------===//

struct SparseDecodeOpLowering : OpConversionPattern<SparseDecodeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SparseDecodeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value idx = adaptor.getIndices(), coef = adaptor.getCoefficients(),
          dict = adaptor.getDictionary();
    int64_t chunks = op.getChunks();
    int64_t dc = tensorTypeOf(dict).getDimSize(1);
    int64_t codes = tensorTypeOf(idx).getDimSize(3);
    if (ShapedType::isDynamic(dc) || ShapedType::isDynamic(codes))
      return rewriter.notifyMatchFailure(
          op, "needs a static atom size and code count");
    int64_t s = codes / chunks;
    Type elt = tensorTypeOf(dict).getElementType();

    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, idx);
    sizes[3] = rewriter.getIndexAttr(chunks * dc);
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, elt);
    Value atoms = tensor::DimOp::create(rewriter, loc, dict, 0);
    Value lastAtom =
        arith::SubIOp::create(rewriter, loc, atoms, iconst(rewriter, loc, 1));

    // Loops (b, t, h, d); the sum over the chunk's s codes runs inside, in
    // ascending g, reading the codes by index.
    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    Value zero = fconst(rewriter, loc, elt, 0.0);
    Value out =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()}, ValueRange{},
            ValueRange{init}, SmallVector<AffineMap>{id4},
            SmallVector<IteratorType>(4, IteratorType::parallel),
            [&](OpBuilder &nb, Location l, ValueRange args) {
              Value bi = linalg::IndexOp::create(nb, l, 0);
              Value ti = linalg::IndexOp::create(nb, l, 1);
              Value hi = linalg::IndexOp::create(nb, l, 2);
              Value di = linalg::IndexOp::create(nb, l, 3);
              Value j = arith::RemUIOp::create(nb, l, di, iconst(nb, l, dc));
              Value first = arith::MulIOp::create(
                  nb, l, arith::DivUIOp::create(nb, l, di, iconst(nb, l, dc)),
                  iconst(nb, l, s));
              auto sum = scf::ForOp::create(
                  nb, l, iconst(nb, l, 0), iconst(nb, l, s), iconst(nb, l, 1),
                  ValueRange{zero},
                  [&](OpBuilder &fb, Location fl, Value g, ValueRange acc) {
                    Value slot = arith::AddIOp::create(fb, fl, first, g);
                    SmallVector<Value> at = {bi, ti, hi, slot};
                    Value code = tensor::ExtractOp::create(fb, fl, idx, at);
                    Value c = tensor::ExtractOp::create(fb, fl, coef, at);
                    Value i = arith::IndexCastOp::create(
                        fb, fl, fb.getIndexType(),
                        arith::ExtSIOp::create(fb, fl, fb.getI64Type(), code));
                    i = arith::MaxSIOp::create(
                        fb, fl, arith::MinSIOp::create(fb, fl, i, lastAtom),
                        iconst(fb, fl, 0));
                    Value atom = tensor::ExtractOp::create(fb, fl, dict,
                                                           ValueRange{i, j});
                    if (c.getType() != elt)
                      c = arith::ExtFOp::create(fb, fl, elt, c);
                    Value prod = arith::MulFOp::create(fb, fl, c, atom);
                    scf::YieldOp::create(
                        fb, fl,
                        ValueRange{arith::AddFOp::create(fb, fl, acc[0], prod)});
                  });
              (void)args;
              linalg::YieldOp::create(nb, l, sum.getResults());
            })
            .getResult(0);
    rewriter.replaceOp(op, castResult(rewriter, loc, out, op.getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.sparse_encode
//===----------------------------------------------------------------------===//

struct SparseEncodeOpLowering : OpConversionPattern<SparseEncodeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SparseEncodeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput(), dict = adaptor.getDictionary();
    int64_t n = op.getChunks(), s = op.getSparsity();
    int64_t dc = tensorTypeOf(dict).getDimSize(1);
    if (ShapedType::isDynamic(dc))
      return rewriter.notifyMatchFailure(op, "needs a static atom size");
    Type elt = tensorTypeOf(x).getElementType();
    Type i16 = rewriter.getI16Type(), f16 = rewriter.getF16Type();
    Type i64 = rewriter.getI64Type();

    SmallVector<OpFoldResult> xSizes = tensor::getMixedSizes(rewriter, loc, x);
    SmallVector<OpFoldResult> codeSizes(xSizes);
    codeSizes[3] = rewriter.getIndexAttr(n * s);
    SmallVector<OpFoldResult> chunkSizes(xSizes);
    chunkSizes[3] = rewriter.getIndexAttr(n);
    SmallVector<OpFoldResult> dotSizes(chunkSizes);
    dotSizes.push_back(tensor::getMixedSize(rewriter, loc, dict, 0));

    Value idx0 = filledTensor(
        rewriter, loc, codeSizes, i16,
        arith::ConstantIntOp::create(rewriter, loc, i16, 0));
    Value coef0 = filledTensor(rewriter, loc, codeSizes, f16,
                               fconst(rewriter, loc, f16, 0.0));
    Value zero = fconst(rewriter, loc, elt, 0.0);

    AffineExpr e0 = getAffineDimExpr(0, ctx), e1 = getAffineDimExpr(1, ctx),
               e2 = getAffineDimExpr(2, ctx), e3 = getAffineDimExpr(3, ctx),
               e4 = getAffineDimExpr(4, ctx), e5 = getAffineDimExpr(5, ctx);

    auto loop = scf::ForOp::create(
        rewriter, loc, iconst(rewriter, loc, 0), iconst(rewriter, loc, s),
        iconst(rewriter, loc, 1), ValueRange{x, idx0, coef0},
        [&](OpBuilder &b, Location l, Value step, ValueRange iter) {
          Value r = iter[0], idx = iter[1], coef = iter[2];
          // dots[b,t,h,c,a] = Σ_j r[b,t,h,c·dc+j] · dict[a,j]; loops
          // (b,t,h,c,a,j).
          Value dotInit = filledTensor(b, l, dotSizes, elt, zero);
          SmallVector<IteratorType> dIts(5, IteratorType::parallel);
          dIts.push_back(IteratorType::reduction);
          Value dots =
              linalg::GenericOp::create(
                  b, l, TypeRange{dotInit.getType()}, ValueRange{r, dict},
                  ValueRange{dotInit},
                  SmallVector<AffineMap>{
                      mapOf(ctx, 6, {e0, e1, e2, e3 * dc + e5}),
                      mapOf(ctx, 6, {e4, e5}),
                      mapOf(ctx, 6, {e0, e1, e2, e3, e4})},
                  dIts,
                  [](OpBuilder &nb, Location nl, ValueRange args) {
                    Value p = arith::MulFOp::create(nb, nl, args[0], args[1]);
                    linalg::YieldOp::create(
                        nb, nl,
                        ValueRange{arith::AddFOp::create(nb, nl, args[2], p)});
                  })
                  .getResult(0);

          // argmax_a |dots| (ties: lowest a); loops (b,t,h,c,a).
          Value bestInit = filledTensor(b, l, chunkSizes, elt,
                                        fconst(b, l, elt, -1.0));
          Value biInit = filledTensor(
              b, l, chunkSizes, i64,
              arith::ConstantIntOp::create(b, l, i64, 0));
          SmallVector<IteratorType> aIts(4, IteratorType::parallel);
          aIts.push_back(IteratorType::reduction);
          AffineMap id5 = AffineMap::getMultiDimIdentityMap(5, ctx);
          AffineMap row5 = mapOf(ctx, 5, {e0, e1, e2, e3});
          auto arg = linalg::GenericOp::create(
              b, l, TypeRange{bestInit.getType(), biInit.getType()},
              ValueRange{dots}, ValueRange{bestInit, biInit},
              SmallVector<AffineMap>{id5, row5, row5}, aIts,
              [&](OpBuilder &nb, Location nl, ValueRange args) {
                Value v = math::AbsFOp::create(nb, nl, args[0]);
                Value better = arith::CmpFOp::create(
                    nb, nl, arith::CmpFPredicate::OGT, v, args[1]);
                Value a = arith::IndexCastOp::create(
                    nb, nl, i64, linalg::IndexOp::create(nb, nl, 4));
                linalg::YieldOp::create(
                    nb, nl,
                    ValueRange{
                        arith::SelectOp::create(nb, nl, better, v, args[1]),
                        arith::SelectOp::create(nb, nl, better, a, args[2])});
              });
          Value bi = arg.getResult(1);

          // The step's code per chunk: (i16 index, f16 coefficient).
          AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
          Value ciInit = tensor::EmptyOp::create(b, l, chunkSizes, i16);
          Value cfInit = tensor::EmptyOp::create(b, l, chunkSizes, f16);
          auto code = linalg::GenericOp::create(
              b, l, TypeRange{ciInit.getType(), cfInit.getType()},
              ValueRange{bi}, ValueRange{ciInit, cfInit},
              SmallVector<AffineMap>{id4, id4, id4},
              SmallVector<IteratorType>(4, IteratorType::parallel),
              [&](OpBuilder &nb, Location nl, ValueRange args) {
                SmallVector<Value> at;
                for (unsigned k = 0; k < 4; ++k)
                  at.push_back(linalg::IndexOp::create(nb, nl, k));
                at.push_back(arith::IndexCastOp::create(
                    nb, nl, nb.getIndexType(), args[0]));
                Value dot = tensor::ExtractOp::create(nb, nl, dots, at);
                Value h = toF16(nb, nl, dot, elt).first;
                linalg::YieldOp::create(
                    nb, nl,
                    ValueRange{arith::TruncIOp::create(nb, nl, i16, args[0]),
                               h});
              });
          Value ci = code.getResult(0), cf = code.getResult(1);

          // Slots c·s + step of the code tensors.
          SmallVector<OpFoldResult> offsets = {
              b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(0), step};
          SmallVector<OpFoldResult> strides = {
              b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1),
              b.getIndexAttr(s)};
          Value idxNext = tensor::InsertSliceOp::create(
              b, l, ci, idx, offsets, tensor::getMixedSizes(b, l, ci), strides);
          Value coefNext = tensor::InsertSliceOp::create(
              b, l, cf, coef, offsets, tensor::getMixedSizes(b, l, cf),
              strides);

          // r -= f32(c) · dict[i, :], chunk by chunk, in place (one-shot
          // bufferization wants the loop's yields equivalent to its
          // iter_args); loops (b,t,h,d).
          AffineMap chunkOf = mapOf(ctx, 4, {e0, e1, e2, e3.floorDiv(dc)});
          Value rNext =
              linalg::GenericOp::create(
                  b, l, TypeRange{r.getType()}, ValueRange{ci, cf},
                  ValueRange{r},
                  SmallVector<AffineMap>{chunkOf, chunkOf, id4},
                  SmallVector<IteratorType>(4, IteratorType::parallel),
                  [&](OpBuilder &nb, Location nl, ValueRange args) {
                    Value i = arith::IndexCastOp::create(
                        nb, nl, nb.getIndexType(),
                        arith::ExtSIOp::create(nb, nl, i64, args[0]));
                    Value j = arith::RemUIOp::create(
                        nb, nl, linalg::IndexOp::create(nb, nl, 3),
                        iconst(nb, nl, dc));
                    Value atom = tensor::ExtractOp::create(nb, nl, dict,
                                                           ValueRange{i, j});
                    Value c = args[1];
                    if (!elt.isF16())
                      c = arith::ExtFOp::create(nb, nl, elt, c);
                    Value p = arith::MulFOp::create(nb, nl, c, atom);
                    linalg::YieldOp::create(
                        nb, nl,
                        ValueRange{arith::SubFOp::create(nb, nl, args[2], p)});
                  })
                  .getResult(0);
          scf::YieldOp::create(b, l, ValueRange{rNext, idxNext, coefNext});
        });
    rewriter.replaceOp(
        op, {castResult(rewriter, loc, loop.getResult(1),
                        op.getIndices().getType()),
             castResult(rewriter, loc, loop.getResult(2),
                        op.getCoefficients().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// attn.kv_quantize
//===----------------------------------------------------------------------===//

struct KvQuantizeOpLowering : OpConversionPattern<KvQuantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KvQuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput();
    Type elt = tensorTypeOf(x).getElementType();
    int64_t group = op.getGroup(), window = op.getWindow();
    bool channel = op.getAxis() == "channel";
    double levels = static_cast<double>((int64_t(1) << op.getBits()) - 1);

    // The quantized token prefix [0, limit).
    Value len = tensor::DimOp::create(rewriter, loc, x, 1);
    Value old = arith::MaxSIOp::create(
        rewriter, loc,
        arith::SubIOp::create(rewriter, loc, len,
                              iconst(rewriter, loc, window)),
        iconst(rewriter, loc, 0));
    Value limit = old;
    if (channel)
      limit = arith::MulIOp::create(
          rewriter, loc,
          arith::DivUIOp::create(rewriter, loc, old,
                                 iconst(rewriter, loc, group)),
          iconst(rewriter, loc, group));
    Value headDim = tensor::DimOp::create(rewriter, loc, x, 3);

    Value init = tensor::EmptyOp::create(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, x), elt);
    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    Value out =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()}, ValueRange{x},
            ValueRange{init}, SmallVector<AffineMap>{id4, id4},
            SmallVector<IteratorType>(4, IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value bi = linalg::IndexOp::create(b, l, 0);
              Value ti = linalg::IndexOp::create(b, l, 1);
              Value hi = linalg::IndexOp::create(b, l, 2);
              Value di = linalg::IndexOp::create(b, l, 3);
              // The group: tokens [g0, g0+group) of channel d, or channels
              // [g0, g0+group) of token t; bounded so it is always in range.
              Value along = channel ? ti : di;
              Value g0 = arith::MulIOp::create(
                  b, l,
                  arith::DivUIOp::create(b, l, along, iconst(b, l, group)),
                  iconst(b, l, group));
              Value end = arith::MinSIOp::create(
                  b, l, arith::AddIOp::create(b, l, g0, iconst(b, l, group)),
                  channel ? len : headDim);
              Value inf = fconst(b, l, elt, INFINITY);
              auto mm = scf::ForOp::create(
                  b, l, g0, end, iconst(b, l, 1),
                  ValueRange{inf, fconst(b, l, elt, -INFINITY)},
                  [&](OpBuilder &fb, Location fl, Value u, ValueRange acc) {
                    SmallVector<Value> at =
                        channel ? SmallVector<Value>{bi, u, hi, di}
                                : SmallVector<Value>{bi, ti, hi, u};
                    Value v = tensor::ExtractOp::create(fb, fl, x, at);
                    scf::YieldOp::create(
                        fb, fl,
                        ValueRange{arith::MinimumFOp::create(fb, fl, acc[0], v),
                                   arith::MaximumFOp::create(fb, fl, acc[1],
                                                             v)});
                  });
              Value mn = mm.getResult(0), mx = mm.getResult(1);
              Value scale = toF16(b, l,
                                  arith::DivFOp::create(
                                      b, l,
                                      arith::SubFOp::create(b, l, mx, mn),
                                      fconst(b, l, elt, levels)),
                                  elt)
                                .second;
              Value zero = toF16(b, l, mn, elt).second;
              Value zf = fconst(b, l, elt, 0.0);
              Value q = math::FloorOp::create(
                  b, l,
                  arith::AddFOp::create(
                      b, l,
                      arith::DivFOp::create(
                          b, l, arith::SubFOp::create(b, l, args[0], zero),
                          scale),
                      fconst(b, l, elt, 0.5)));
              q = arith::MinimumFOp::create(
                  b, l, arith::MaximumFOp::create(b, l, q, zf),
                  fconst(b, l, elt, levels));
              Value flat = arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::OEQ, scale, zf);
              q = arith::SelectOp::create(b, l, flat, zf, q);
              Value deq = arith::AddFOp::create(
                  b, l, zero, arith::MulFOp::create(b, l, q, scale));
              Value quantized = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::slt, ti, limit);
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{
                      arith::SelectOp::create(b, l, quantized, deq, args[0])});
            })
            .getResult(0);
    rewriter.replaceOp(op, castResult(rewriter, loc, out, op.getType()));
    return success();
  }
};

} // namespace

void mlir::attn::populateKvCodecToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<KvQuantizeOpLowering, SparseDecodeOpLowering,
               SparseEncodeOpLowering>(patterns.getContext());
}

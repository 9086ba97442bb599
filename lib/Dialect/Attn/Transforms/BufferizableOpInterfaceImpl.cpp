//===- BufferizableOpInterfaceImpl.cpp - attn ops to runtime calls --------===//
//
// The CPU pipeline keeps the GEMM-heavy ops (linear, mlp, attention, and the
// training ops: projection gradients, PAMM compress and gradient) as attn
// ops through One-Shot Bufferize; these models turn each into a call of the
// runtime's OpenBLAS-backed kernel on memrefs, so those ops never become
// scalar loops. Operands are passed as unranked memrefs: one kernel signature
// serves every rank and layout (strides travel in the descriptor).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"
#include "attenuate/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::bufferization;

namespace {

/// Declares `name(memref<*xf32>..., scalars...)` in the module once.
func::FuncOp getOrDeclareRuntimeFn(Operation *op, StringRef name,
                                   TypeRange argTypes) {
  auto module = op->getParentOfType<ModuleOp>();
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  // A plain builder: the declaration holds no tensors, so the bufferization
  // driver need not track it.
  OpBuilder b(module.getBodyRegion());
  auto fn = func::FuncOp::create(b, module.getLoc(), name,
                                 b.getFunctionType(argTypes, {}));
  fn.setPrivate();
  fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return fn;
}

/// Shared by the single-result ops: operands are read, nothing aliases, the result is
/// a new allocation written by the kernel.
template <typename ConcreteModel, typename OpTy>
struct RuntimeCallModel
    : public BufferizableOpInterface::ExternalModel<ConcreteModel, OpTy> {
  bool bufferizesToAllocation(Operation *, Value) const { return true; }
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    if (!resultType.getElementType().isF32())
      return op->emitOpError()
             << "the CPU runtime kernels take f32; got " << resultType
             << " (lower with the reference pipeline instead)";
    Location loc = op->getLoc();
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      if (!isa<TensorType>(operand.getType()))
        continue;
      FailureOr<Value> buf = getBuffer(rewriter, operand, options, state);
      if (failed(buf))
        return failure();
      buffers.push_back(*buf);
    }
    // Dynamic result dims come from the operand buffers, as the op's
    // verifier relates them.
    SmallVector<Value> dynSizes;
    for (int64_t i = 0, e = resultType.getRank(); i < e; ++i) {
      if (!resultType.isDynamicDim(i))
        continue;
      auto [operandIdx, dim] =
          static_cast<const ConcreteModel *>(this)->resultDimSource(op, i);
      dynSizes.push_back(
          memref::DimOp::create(rewriter, loc, buffers[operandIdx], dim));
    }
    auto allocType =
        MemRefType::get(resultType.getShape(), resultType.getElementType());
    FailureOr<Value> alloc =
        options.createAlloc(rewriter, loc, allocType, dynSizes);
    if (failed(alloc))
      return failure();

    // f32 operands, plus PAMM's i32 assignment: each is passed as an
    // unranked memref of its own element type.
    SmallVector<Value> args;
    for (Value b : buffers) {
      Type elt = cast<MemRefType>(b.getType()).getElementType();
      if (!elt.isF32() && !elt.isInteger(32))
        return op->emitOpError()
               << "the CPU runtime kernels take f32 (and i32 assignments); "
                  "got an operand of "
               << elt << " (lower with the reference pipeline instead)";
      args.push_back(memref::CastOp::create(
          rewriter, loc, UnrankedMemRefType::get(elt, 0), b));
    }
    auto unranked = UnrankedMemRefType::get(rewriter.getF32Type(), 0);
    Value out = memref::CastOp::create(rewriter, loc, unranked, *alloc);
    auto [name, scalars] =
        static_cast<const ConcreteModel *>(this)->callee(op, rewriter);
    args.append(scalars.begin(), scalars.end());
    args.push_back(out);
    func::FuncOp fn =
        getOrDeclareRuntimeFn(op, name, ValueRange(args).getTypes());
    func::CallOp::create(rewriter, loc, fn, args);
    replaceOpWithBufferizedValues(rewriter, op, *alloc);
    return success();
  }
};

struct LinearModel : RuntimeCallModel<LinearModel, LinearOp> {
  // y[..., out]: leading dims from x (operand 0), last from w (operand 1).
  std::pair<unsigned, int64_t> resultDimSource(Operation *op, int64_t i) const {
    auto rank = cast<RankedTensorType>(op->getResult(0).getType()).getRank();
    return i == rank - 1 ? std::make_pair(1u, int64_t(0))
                         : std::make_pair(0u, i);
  }
  std::pair<StringRef, SmallVector<Value>> callee(Operation *op,
                                                  RewriterBase &) const {
    return {cast<LinearOp>(op).getBias() ? "attn_rt_linear_bias_f32"
                                         : "attn_rt_linear_f32",
            {}};
  }
};

struct MlpModel : RuntimeCallModel<MlpModel, MlpOp> {
  std::pair<unsigned, int64_t> resultDimSource(Operation *, int64_t i) const {
    return {0u, i};
  }
  std::pair<StringRef, SmallVector<Value>> callee(Operation *,
                                                  RewriterBase &) const {
    return {"attn_rt_mlp_f32", {}};
  }
};

struct AttentionModel : RuntimeCallModel<AttentionModel, AttentionOp> {
  // [B, Sq, Hq, Dv]: the first three from q, Dv from v (operand 2).
  std::pair<unsigned, int64_t> resultDimSource(Operation *, int64_t i) const {
    return i == 3 ? std::make_pair(2u, int64_t(3)) : std::make_pair(0u, i);
  }
  std::pair<StringRef, SmallVector<Value>> callee(Operation *op,
                                                  RewriterBase &rewriter) const {
    auto attn = cast<AttentionOp>(op);
    Location loc = op->getLoc();
    Value scale = arith::ConstantOp::create(
        rewriter, loc, rewriter.getF64FloatAttr(
                           attn.getScale().convertToDouble()));
    Value causal = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI64IntegerAttr(attn.getCausal() ? 1 : 0));
    return {"attn_rt_attention_f32", {scale, causal}};
  }
};

struct LinearGradWeightModel
    : RuntimeCallModel<LinearGradWeightModel, LinearGradWeightOp> {
  // dw[out, in]: out from dy (operand 0), in from x (operand 1), both last.
  std::pair<unsigned, int64_t> resultDimSource(Operation *op, int64_t i) const {
    auto rank = cast<RankedTensorType>(op->getOperand(0).getType()).getRank();
    return {static_cast<unsigned>(i), rank - 1};
  }
  std::pair<StringRef, SmallVector<Value>> callee(Operation *,
                                                  RewriterBase &) const {
    return {"attn_rt_linear_grad_weight_f32", {}};
  }
};

struct LinearGradInputModel
    : RuntimeCallModel<LinearGradInputModel, LinearGradInputOp> {
  // dx[..., in]: leading dims from dy (operand 0), in from w (operand 1).
  std::pair<unsigned, int64_t> resultDimSource(Operation *op, int64_t i) const {
    auto rank = cast<RankedTensorType>(op->getResult(0).getType()).getRank();
    return i == rank - 1 ? std::make_pair(1u, int64_t(1))
                         : std::make_pair(0u, i);
  }
  std::pair<StringRef, SmallVector<Value>> callee(Operation *,
                                                  RewriterBase &) const {
    return {"attn_rt_linear_grad_input_f32", {}};
  }
};

struct PammGradWeightModel
    : RuntimeCallModel<PammGradWeightModel, PammGradWeightOp> {
  // dw[out, in]: out from dz (operand 0, last dim), in from C (operand 1).
  std::pair<unsigned, int64_t> resultDimSource(Operation *op, int64_t i) const {
    auto rank = cast<RankedTensorType>(op->getOperand(0).getType()).getRank();
    return i == 0 ? std::make_pair(0u, rank - 1)
                  : std::make_pair(1u, int64_t(1));
  }
  std::pair<StringRef, SmallVector<Value>> callee(Operation *,
                                                  RewriterBase &) const {
    return {"attn_rt_pamm_grad_weight_f32", {}};
  }
};

/// Three results (generators, assignment, scale), so not RuntimeCallModel:
/// k is computed here with the op's formula to allocate the generators.
struct PammCompressModel
    : public BufferizableOpInterface::ExternalModel<PammCompressModel,
                                                    PammCompressOp> {
  bool bufferizesToAllocation(Operation *, Value) const { return true; }
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto compress = cast<PammCompressOp>(op);
    auto xType = cast<RankedTensorType>(compress.getInput().getType());
    if (!xType.getElementType().isF32())
      return op->emitOpError()
             << "the CPU runtime kernels take f32; got " << xType
             << " (lower with the reference pipeline instead)";
    Location loc = op->getLoc();
    FailureOr<Value> x =
        getBuffer(rewriter, compress.getInput(), options, state);
    if (failed(x))
      return failure();
    int64_t lead = xType.getRank() - 1;
    SmallVector<Value> tokenDims;
    Value tokens = arith::ConstantIndexOp::create(rewriter, loc, 1);
    for (int64_t d = 0; d < lead; ++d) {
      Value dim = memref::DimOp::create(rewriter, loc, *x, d);
      if (xType.isDynamicDim(d))
        tokenDims.push_back(dim);
      tokens = arith::MulIOp::create(rewriter, loc, tokens, dim);
    }
    auto cType = cast<RankedTensorType>(compress.getGenerators().getType());
    SmallVector<Value> cDims;
    if (cType.isDynamicDim(0)) {
      // clamp(ceil(ratio · b), 1, b), the ceiling as trunc + 1 when the
      // f64 product is larger (PammCompressOp::numGenerators).
      Type i64 = rewriter.getI64Type(), f64 = rewriter.getF64Type();
      Value b64 = arith::IndexCastOp::create(rewriter, loc, i64, tokens);
      Value product = arith::MulFOp::create(
          rewriter, loc, arith::SIToFPOp::create(rewriter, loc, f64, b64),
          arith::ConstantOp::create(
              rewriter, loc,
              rewriter.getF64FloatAttr(compress.getRatio().convertToDouble())));
      Value k = arith::FPToSIOp::create(rewriter, loc, i64, product);
      Value below = arith::CmpFOp::create(
          rewriter, loc, arith::CmpFPredicate::OLT,
          arith::SIToFPOp::create(rewriter, loc, f64, k), product);
      Value one = arith::ConstantIntOp::create(rewriter, loc, i64, 1);
      k = arith::SelectOp::create(
          rewriter, loc, below, arith::AddIOp::create(rewriter, loc, k, one),
          k);
      k = arith::MaxSIOp::create(rewriter, loc, k, one);
      k = arith::MinSIOp::create(rewriter, loc, k, b64);
      cDims.push_back(arith::IndexCastOp::create(
          rewriter, loc, rewriter.getIndexType(), k));
    }
    if (cType.isDynamicDim(1))
      cDims.push_back(memref::DimOp::create(rewriter, loc, *x, lead));

    SmallVector<Value> results;
    for (auto [value, dims] :
         {std::pair<Value, ArrayRef<Value>>{compress.getGenerators(), cDims},
          {compress.getAssignment(), tokenDims},
          {compress.getScale(), tokenDims}}) {
      auto type = cast<RankedTensorType>(value.getType());
      FailureOr<Value> alloc = options.createAlloc(
          rewriter, loc,
          MemRefType::get(type.getShape(), type.getElementType()), dims);
      if (failed(alloc))
        return failure();
      results.push_back(*alloc);
    }
    auto unrankedF32 = UnrankedMemRefType::get(rewriter.getF32Type(), 0);
    auto unrankedI32 = UnrankedMemRefType::get(rewriter.getI32Type(), 0);
    double eps = 1.0; // drops nothing
    if (auto e = compress.getEpsilon())
      eps = e->convertToDouble();
    SmallVector<Value> args{
        memref::CastOp::create(rewriter, loc, unrankedF32, *x),
        arith::ConstantOp::create(
            rewriter, loc,
            rewriter.getF64FloatAttr(compress.getRatio().convertToDouble())),
        arith::ConstantOp::create(
            rewriter, loc, rewriter.getI64IntegerAttr(compress.getSeed())),
        arith::ConstantOp::create(rewriter, loc, rewriter.getF64FloatAttr(eps)),
        memref::CastOp::create(rewriter, loc, unrankedF32, results[0]),
        memref::CastOp::create(rewriter, loc, unrankedI32, results[1]),
        memref::CastOp::create(rewriter, loc, unrankedF32, results[2])};
    func::FuncOp fn = getOrDeclareRuntimeFn(op, "attn_rt_pamm_compress_f32",
                                            ValueRange(args).getTypes());
    func::CallOp::create(rewriter, loc, fn, args);
    replaceOpWithBufferizedValues(rewriter, op, results);
    return success();
  }
};

} // namespace

void mlir::attn::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, AttnDialect *) {
    LinearOp::attachInterface<LinearModel>(*ctx);
    MlpOp::attachInterface<MlpModel>(*ctx);
    AttentionOp::attachInterface<AttentionModel>(*ctx);
    LinearGradWeightOp::attachInterface<LinearGradWeightModel>(*ctx);
    LinearGradInputOp::attachInterface<LinearGradInputModel>(*ctx);
    PammCompressOp::attachInterface<PammCompressModel>(*ctx);
    PammGradWeightOp::attachInterface<PammGradWeightModel>(*ctx);
  });
}

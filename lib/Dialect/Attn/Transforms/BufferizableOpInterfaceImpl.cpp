//===- BufferizableOpInterfaceImpl.cpp - attn ops to runtime calls --------===//
//
// The CPU pipeline keeps the GEMM-heavy ops (linear, mlp, attention) as attn
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

/// Shared by the three ops: operands are read, nothing aliases, the result is
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

    auto unranked = UnrankedMemRefType::get(rewriter.getF32Type(), 0);
    SmallVector<Value> args;
    for (Value b : buffers)
      args.push_back(memref::CastOp::create(rewriter, loc, unranked, b));
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

} // namespace

void mlir::attn::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, AttnDialect *) {
    LinearOp::attachInterface<LinearModel>(*ctx);
    MlpOp::attachInterface<MlpModel>(*ctx);
    AttentionOp::attachInterface<AttentionModel>(*ctx);
  });
}

//===- attn-reduce.cpp - mlir-reduce with the attn dialect and passes -----===//
//
// Shrinks an input that makes a tool misbehave to a small lit test:
//
//   attn-reduce crash.mlir \
//     --reduction-tree='traversal-mode=0 test=interesting.sh' \
//     --opt-reduction-pass='opt-pass=canonicalize test=interesting.sh' \
//     -o small.mlir
//
// `interesting.sh FILE` exits 1 when FILE still shows the problem (the
// mlir-reduce convention), e.g. `attn-opt FILE --attn-report` crashing.
// Dialects and passes are attn-opt's, so a reduction may run any of them.
//
// The reduction tree can only erase ops whose results nothing uses, and in
// a model everything feeds the return; attn-reduce therefore gives the attn
// dialect one reduction pattern (below) that cuts an op out of the dataflow.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Conversion/Passes.h"
#include "attenuate/Pipelines/Pipelines.h"
#include "attenuate/Registration.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Reducer/ReductionPatternInterface.h"
#include "mlir/Tools/mlir-reduce/MlirReduceMain.h"

using namespace mlir;

namespace {

/// Replaces a one-result attn op by an operand of the result's type:
/// rms_norm, rope and mlp by their input, cache_update by the cache,
/// attention by its query where the shapes agree. Whatever fed only that op
/// becomes dead, for the reducer (or canonicalize) to drop.
///
/// Each rewrite is first tried on a copy of the module and kept only if the
/// copy is still interesting. The reduction tree applies its patterns to
/// every op of the root before it tests anything, and when that makes the
/// root uninteresting, mlir-reduce 22 goes on to clone the root's erased
/// module (a crash); testing first keeps the root interesting.
struct ForwardSameTypedOperand : RewritePattern {
  ForwardSameTypedOperand(MLIRContext *ctx, const Tester &tester)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx),
        tester(tester) {}

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    if (!isa<attn::AttnDialect>(op->getDialect()) || op->getNumResults() != 1)
      return failure();
    Type type = op->getResult(0).getType();
    for (unsigned i = 0, e = op->getNumOperands(); i < e; ++i) {
      if (op->getOperand(i).getType() != type || !staysInteresting(op, i))
        continue;
      rewriter.replaceOp(op, op->getOperand(i));
      return success();
    }
    return failure();
  }

  /// Whether the module is still interesting with `op` replaced by its
  /// operand `index`, tried on a copy.
  bool staysInteresting(Operation *op, unsigned index) const {
    Operation *top = op;
    while (Operation *parent = top->getParentOp())
      top = parent;
    auto module = dyn_cast<ModuleOp>(top);
    if (!module)
      return false;
    IRMapping mapping;
    OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone(mapping)));
    Operation *twin = mapping.lookup(op);
    twin->getResult(0).replaceAllUsesWith(twin->getOperand(index));
    twin->erase();
    return tester.isInteresting(*copy).first == Tester::Interestingness::True;
  }

  const Tester &tester;
};

struct AttnReductionPatterns : DialectReductionPatternInterface {
  // The base constructor is protected; addInterfaces needs a public one.
  explicit AttnReductionPatterns(Dialect *dialect)
      : DialectReductionPatternInterface(dialect) {}
  void populateReductionPatterns(RewritePatternSet &) const final {}
  void populateReductionPatternsWithTester(RewritePatternSet &patterns,
                                           Tester &tester) const final {
    patterns.add<ForwardSameTypedOperand>(patterns.getContext(), tester);
  }
};

} // namespace

int main(int argc, char **argv) {
  registerAllPasses();
  attn::registerAttnPasses();
  attn::registerAttnConversionPasses();
  attn::registerAttnPipelines();

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  attn::registerAttnDialect(registry);
  registry.addExtension(+[](MLIRContext *, attn::AttnDialect *dialect) {
    dialect->addInterfaces<AttnReductionPatterns>();
  });
  MLIRContext context(registry);
  return failed(mlirReduceMain(argc, argv, context)) ? 1 : 0;
}

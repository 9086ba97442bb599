//===- AttnToLinalg.h - attn ops to linalg on tensors -----------*- C++ -*-===//
#ifndef ATTENUATE_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
#define ATTENUATE_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Adds one conversion pattern per attn op (all but attn.param) that rewrites
/// it into linalg, tensor, arith, math and cf ops on tensors. To keep an op,
/// mark it legal in the ConversionTarget: legal ops are not rewritten.
/// How a lowered op guards conditions the verifier cannot check (cache
/// bounds): abort through cf.assert, or skip and report to the runtime.
enum class RuntimeChecks { Assert, Report };

void populateAttnToLinalgPatterns(RewritePatternSet &patterns,
                                  RuntimeChecks checks = RuntimeChecks::Assert);

/// The encoded-KV-cache ops (attn.sparse_encode, attn.sparse_decode,
/// attn.kv_quantize); included by populateAttnToLinalgPatterns.
void populateKvCodecToLinalgPatterns(RewritePatternSet &patterns);

} // namespace mlir::attn

#endif // ATTENUATE_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H

//===- BufferizableOpInterfaceImpl.h - attn ops to runtime calls -*- C++ -*-===//
#ifndef ATTENUATE_DIALECT_ATTN_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
#define ATTENUATE_DIALECT_ATTN_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class DialectRegistry;
namespace attn {
/// attn.linear, attn.mlp and attn.attention bufferize into calls of the CPU
/// runtime kernels (attn_runtime.h).
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);
} // namespace attn
} // namespace mlir

#endif

//===- AttnDialect.td - the attn dialect -------------------*- tablegen -*-===//
#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Transformer attention, projections and KV cache as values";
  let description = [{
    The `attn` dialect describes a transformer's attention, its projections
    and its KV cache with tensor (value) semantics, so that compression passes
    can see and rewrite every weight and every cached byte.

    Weights are `attn.param` ops naming tensors in safetensors archives; the
    module lists its archives in the `attn.params` attribute (paths relative
    to the module file). Ops that belong to transformer layer `i` carry the
    discardable attribute `attn.layer = i`, which `attn-report` groups by.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    /// Module attribute listing the parameter archives (array of strings).
    static constexpr ::llvm::StringLiteral kParamsAttrName = "attn.params";
    /// Discardable attribute: the transformer layer an op belongs to.
    static constexpr ::llvm::StringLiteral kLayerAttrName = "attn.layer";

    /// Parameter archives and stores of this context.
    ParamRegistry &getParamRegistry() { return *paramRegistry; }

  private:
    std::unique_ptr<ParamRegistry> paramRegistry;

  public:
  }];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_TD

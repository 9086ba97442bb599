//===- AttnAttrs.td - attributes of the attn dialect -------*- tablegen -*-===//
#ifndef ATTN_ATTRS_TD
#define ATTN_ATTRS_TD

include "attenuate/Dialect/Attn/IR/AttnDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_RopePairing : I32EnumAttr<"RopePairing",
    "how the rotated channels of a head are paired", [
  // Hugging Face Llama: channel j pairs with j + R/2 (R = rotated channels).
  I32EnumAttrCase<"RotateHalf", 0, "rotate_half">,
  // GPT-J / Meta reference: channel 2j pairs with 2j + 1.
  I32EnumAttrCase<"Interleaved", 1, "interleaved">,
]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_RopePairingAttr : EnumAttr<Attn_Dialect, Attn_RopePairing, "pairing">;

#endif // ATTN_ATTRS_TD

// Input of plugin.mlir: a module whose parameters live in weights.safetensors
// next to it.
module attributes {attn.params = ["weights.safetensors"]} {
  func.func @f() -> tensor<4x8xbf16> {
    %w = attn.param "w" : tensor<4x8xbf16>
    return %w : tensor<4x8xbf16>
  }
}

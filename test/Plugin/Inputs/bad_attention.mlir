// Input of plugin.mlir: the attn verifiers run inside upstream mlir-opt.
func.func @gqa(%q: tensor<1x?x6x4xf32>, %k: tensor<1x?x4x4xf32>,
               %v: tensor<1x?x4x4xf32>) -> tensor<1x?x6x4xf32> {
  // expected-error @below {{'attn.attention' op key/value head count 4 does not divide query head count 6}}
  %0 = attn.attention %q, %k, %v {scale = 0.5 : f64}
      : tensor<1x?x6x4xf32>, tensor<1x?x4x4xf32>, tensor<1x?x4x4xf32>
      -> tensor<1x?x6x4xf32>
  return %0 : tensor<1x?x6x4xf32>
}

// RUN: attn-opt %s --split-input-file --convert-attn-to-linalg --verify-diagnostics
// RUN: attn-opt %s --split-input-file --verify-roundtrip -o /dev/null

// Without infinities the causal mask and the empty-row rule cannot be
// expressed; the pass fails with a diagnostic rather than compute something
// else.
func.func @attention_no_inf(%q: tensor<1x2x1x4xf8E4M3FN>) -> tensor<1x2x1x4xf8E4M3FN> {
  // expected-error @+1 {{failed to legalize operation 'attn.attention'}}
  %0 = attn.attention %q, %q, %q {scale = 0.5 : f64} : tensor<1x2x1x4xf8E4M3FN>, tensor<1x2x1x4xf8E4M3FN>, tensor<1x2x1x4xf8E4M3FN> -> tensor<1x2x1x4xf8E4M3FN>
  return %0 : tensor<1x2x1x4xf8E4M3FN>
}

// -----

// Other ops of such types still lower.
func.func @linear_no_inf(%x: tensor<2x4xf8E4M3FN>, %w: tensor<3x4xf8E4M3FN>) -> tensor<2x3xf8E4M3FN> {
  %0 = attn.linear %x, %w : tensor<2x4xf8E4M3FN>, tensor<3x4xf8E4M3FN> -> tensor<2x3xf8E4M3FN>
  return %0 : tensor<2x3xf8E4M3FN>
}

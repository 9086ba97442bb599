// RUN: attn-opt %s --split-input-file --verify-diagnostics --verify-roundtrip -o /dev/null

// One case per verifier rule of lib/Dialect/Attn/IR/AttnOps.cpp (checked by
// scripts/check_verifier_coverage.py, see verifier-coverage.test) and per ODS
// constraint of AttnOps.td worth pinning down.

//===----------------------------------------------------------------------===//
// attn.param
//===----------------------------------------------------------------------===//

func.func @param_empty_name() -> tensor<4xf32> {
  // expected-error @below {{'attn.param' op parameter name must not be empty}}
  %0 = attn.param "" : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @param_dynamic_shape() -> tensor<?x4xf32> {
  // expected-error @below {{'attn.param' op parameter "w" must have a static shape, got 'tensor<?x4xf32>'}}
  %0 = attn.param "w" : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @param_complex_element() -> tensor<4xcomplex<f32>> {
  // expected-error @below {{'attn.param' op parameter "c" must have an integer or float element type, got 'tensor<4xcomplex<f32>>'}}
  %0 = attn.param "c" : tensor<4xcomplex<f32>>
  return %0 : tensor<4xcomplex<f32>>
}

// -----

func.func @param_index_element() -> tensor<4xindex> {
  // expected-error @below {{'attn.param' op parameter "i" must have an integer or float element type, got 'tensor<4xindex>'}}
  %0 = attn.param "i" : tensor<4xindex>
  return %0 : tensor<4xindex>
}

// -----

func.func @param_unranked() -> tensor<*xf32> {
  // expected-error @below {{'attn.param' op result #0 must be ranked tensor of any type values, but got 'tensor<*xf32>'}}
  %0 = "attn.param"() <{name = "w"}> : () -> tensor<*xf32>
  return %0 : tensor<*xf32>
}

// -----

func.func @param_not_a_tensor() -> memref<4xf32> {
  // expected-error @below {{'attn.param' op result #0 must be ranked tensor of any type values, but got 'memref<4xf32>'}}
  %0 = "attn.param"() <{name = "w"}> : () -> memref<4xf32>
  return %0 : memref<4xf32>
}

// -----

func.func @param_name_not_a_string() -> tensor<4xf32> {
  // expected-error @below {{invalid properties {name = 3 : i64} for op attn.param: Invalid attribute `name` in property conversion: 3 : i64}}
  %0 = "attn.param"() <{name = 3 : i64}> : () -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @param_missing_name() -> tensor<4xf32> {
  // expected-error @below {{'attn.param' op requires attribute 'name'}}
  %0 = "attn.param"() : () -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

//===----------------------------------------------------------------------===//
// attn.embed
//===----------------------------------------------------------------------===//

// -----

func.func @embed_table_rank(%t: tensor<256xf32>, %tok: tensor<?x?xi64>) -> tensor<?x?x1xf32> {
  // expected-error @below {{'attn.embed' op expects table of rank 2, got 'tensor<256xf32>'}}
  %0 = attn.embed %t, %tok : tensor<256xf32>, tensor<?x?xi64> -> tensor<?x?x1xf32>
  return %0 : tensor<?x?x1xf32>
}

// -----

func.func @embed_result_element_type(%t: tensor<256x192xf32>, %tok: tensor<?x?xi64>) -> tensor<?x?x192xf16> {
  // expected-error @below {{'attn.embed' op result element type 'f16' differs from table element type 'f32'}}
  %0 = attn.embed %t, %tok : tensor<256x192xf32>, tensor<?x?xi64> -> tensor<?x?x192xf16>
  return %0 : tensor<?x?x192xf16>
}

// -----

func.func @embed_result_width(%t: tensor<256x192xf32>, %tok: tensor<?x?xi64>) -> tensor<?x?x64xf32> {
  // expected-error @below {{'attn.embed' op result type 'tensor<?x?x64xf32>' does not match expected shape [?x?x192]}}
  %0 = attn.embed %t, %tok : tensor<256x192xf32>, tensor<?x?xi64> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

func.func @embed_result_rank(%t: tensor<256x192xf32>, %tok: tensor<2x5xi64>) -> tensor<10x192xf32> {
  // expected-error @below {{'attn.embed' op result type 'tensor<10x192xf32>' does not match expected shape [2x5x192]}}
  %0 = attn.embed %t, %tok : tensor<256x192xf32>, tensor<2x5xi64> -> tensor<10x192xf32>
  return %0 : tensor<10x192xf32>
}

// -----

func.func @embed_float_tokens(%t: tensor<256x192xf32>, %tok: tensor<?x?xf32>) -> tensor<?x?x192xf32> {
  // expected-error @below {{'attn.embed' op operand #1 must be ranked tensor of signless integer values, but got 'tensor<?x?xf32>'}}
  %0 = attn.embed %t, %tok : tensor<256x192xf32>, tensor<?x?xf32> -> tensor<?x?x192xf32>
  return %0 : tensor<?x?x192xf32>
}

// -----

func.func @embed_integer_table(%t: tensor<256x192xi8>, %tok: tensor<?x?xi64>) -> tensor<?x?x192xi8> {
  // expected-error @below {{'attn.embed' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<256x192xi8>'}}
  %0 = attn.embed %t, %tok : tensor<256x192xi8>, tensor<?x?xi64> -> tensor<?x?x192xi8>
  return %0 : tensor<?x?x192xi8>
}

//===----------------------------------------------------------------------===//
// attn.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_scalar_input(%x: tensor<f32>, %w: tensor<4x1xf32>) -> tensor<4xf32> {
  // expected-error @below {{'attn.linear' op expects input of rank >= 1, got 'tensor<f32>'}}
  %0 = attn.linear %x, %w : tensor<f32>, tensor<4x1xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @linear_weight_rank(%x: tensor<?x192xf32>, %w: tensor<64x3x64xf32>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op expects weight of rank 2, got 'tensor<64x3x64xf32>'}}
  %0 = attn.linear %x, %w : tensor<?x192xf32>, tensor<64x3x64xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_weight_element_type(%x: tensor<?x192xf32>, %w: tensor<64x192xbf16>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op weight element type 'bf16' differs from input element type 'f32'}}
  %0 = attn.linear %x, %w : tensor<?x192xf32>, tensor<64x192xbf16> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_result_element_type(%x: tensor<?x192xf16>, %w: tensor<64x192xf16>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op result element type 'f32' differs from input element type 'f16'}}
  %0 = attn.linear %x, %w : tensor<?x192xf16>, tensor<64x192xf16> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// A weight in [in, out] layout (transposed) is the usual mistake.
func.func @linear_in_features(%x: tensor<?x192xf32>, %w: tensor<192x64xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.linear' op weight 'tensor<192x64xf32>' has 64 input features but input 'tensor<?x192xf32>' has 192 (weight layout is [out, in])}}
  %0 = attn.linear %x, %w : tensor<?x192xf32>, tensor<192x64xf32> -> tensor<?x192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @linear_bias_element_type(%x: tensor<?x192xf32>, %w: tensor<64x192xf32>, %b: tensor<64xf16>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op bias element type 'f16' differs from input element type 'f32'}}
  %0 = attn.linear %x, %w, %b : tensor<?x192xf32>, tensor<64x192xf32>, tensor<64xf16> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_bias_shape(%x: tensor<?x192xf32>, %w: tensor<64x192xf32>, %b: tensor<192xf32>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op bias type 'tensor<192xf32>' does not match expected shape [64]}}
  %0 = attn.linear %x, %w, %b : tensor<?x192xf32>, tensor<64x192xf32>, tensor<192xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_bias_rank(%x: tensor<?x192xf32>, %w: tensor<64x192xf32>, %b: tensor<1x64xf32>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op bias type 'tensor<1x64xf32>' does not match expected shape [64]}}
  %0 = attn.linear %x, %w, %b : tensor<?x192xf32>, tensor<64x192xf32>, tensor<1x64xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_result_shape(%x: tensor<2x3x192xf32>, %w: tensor<64x192xf32>) -> tensor<2x3x192xf32> {
  // expected-error @below {{'attn.linear' op result type 'tensor<2x3x192xf32>' does not match expected shape [2x3x64]}}
  %0 = attn.linear %x, %w : tensor<2x3x192xf32>, tensor<64x192xf32> -> tensor<2x3x192xf32>
  return %0 : tensor<2x3x192xf32>
}

// -----

// With a dynamic weight, the bias fixes the output width.
func.func @linear_result_from_bias(%x: tensor<?x192xf32>, %w: tensor<?x192xf32>, %b: tensor<64xf32>) -> tensor<?x32xf32> {
  // expected-error @below {{'attn.linear' op result type 'tensor<?x32xf32>' does not match expected shape [?x64]}}
  %0 = attn.linear %x, %w, %b : tensor<?x192xf32>, tensor<?x192xf32>, tensor<64xf32> -> tensor<?x32xf32>
  return %0 : tensor<?x32xf32>
}

// -----

func.func @linear_result_rank(%x: tensor<2x3x192xf32>, %w: tensor<64x192xf32>) -> tensor<6x64xf32> {
  // expected-error @below {{'attn.linear' op result type 'tensor<6x64xf32>' does not match expected shape [2x3x64]}}
  %0 = attn.linear %x, %w : tensor<2x3x192xf32>, tensor<64x192xf32> -> tensor<6x64xf32>
  return %0 : tensor<6x64xf32>
}

// -----

func.func @linear_integer_input(%x: tensor<?x192xi8>, %w: tensor<64x192xf32>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<?x192xi8>'}}
  %0 = attn.linear %x, %w : tensor<?x192xi8>, tensor<64x192xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_unranked_input(%x: tensor<*xf32>, %w: tensor<64x192xf32>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<*xf32>'}}
  %0 = "attn.linear"(%x, %w) : (tensor<*xf32>, tensor<64x192xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_two_biases(%x: tensor<?x192xf32>, %w: tensor<64x192xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  // expected-error @below {{'attn.linear' op operand group starting at #2 requires 0 or 1 element, but found 2}}
  %0 = "attn.linear"(%x, %w, %b, %b) : (tensor<?x192xf32>, tensor<64x192xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// attn.rms_norm
//===----------------------------------------------------------------------===//

// -----

func.func @rms_norm_scalar_input(%x: tensor<f32>, %w: tensor<1xf32>) -> tensor<f32> {
  // expected-error @below {{'attn.rms_norm' op expects input of rank >= 1, got 'tensor<f32>'}}
  %0 = attn.rms_norm %x, %w {epsilon = 1.0e-05 : f64} : tensor<f32>, tensor<1xf32>
  return %0 : tensor<f32>
}

// -----

func.func @rms_norm_weight_element_type(%x: tensor<?x192xf32>, %w: tensor<192xbf16>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.rms_norm' op weight element type 'bf16' differs from input element type 'f32'}}
  %0 = attn.rms_norm %x, %w {epsilon = 1.0e-05 : f64} : tensor<?x192xf32>, tensor<192xbf16>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @rms_norm_weight_shape(%x: tensor<?x192xf32>, %w: tensor<64xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.rms_norm' op weight type 'tensor<64xf32>' does not match expected shape [192]}}
  %0 = attn.rms_norm %x, %w {epsilon = 1.0e-05 : f64} : tensor<?x192xf32>, tensor<64xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @rms_norm_negative_epsilon(%x: tensor<?x192xf32>, %w: tensor<192xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.rms_norm' op epsilon must be non-negative, got -1.000000e-05}}
  %0 = attn.rms_norm %x, %w {epsilon = -1.0e-05 : f64} : tensor<?x192xf32>, tensor<192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @rms_norm_nan_epsilon(%x: tensor<?x192xf32>, %w: tensor<192xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.rms_norm' op epsilon must be non-negative, got nan}}
  %0 = attn.rms_norm %x, %w {epsilon = 0x7FF8000000000000 : f64} : tensor<?x192xf32>, tensor<192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @rms_norm_f32_epsilon(%x: tensor<?x192xf32>, %w: tensor<192xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.rms_norm' op attribute 'epsilon' failed to satisfy constraint: 64-bit float attribute}}
  %0 = attn.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x192xf32>, tensor<192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @rms_norm_missing_epsilon(%x: tensor<?x192xf32>, %w: tensor<192xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.rms_norm' op requires attribute 'epsilon'}}
  %0 = attn.rms_norm %x, %w : tensor<?x192xf32>, tensor<192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @rms_norm_result_type(%x: tensor<?x192xf32>, %w: tensor<192xf32>) -> tensor<2x192xf32> {
  // expected-error @below {{'attn.rms_norm' op failed to verify that all of {input, result} have same type}}
  %0 = "attn.rms_norm"(%x, %w) <{epsilon = 1.0e-05 : f64}> : (tensor<?x192xf32>, tensor<192xf32>) -> tensor<2x192xf32>
  return %0 : tensor<2x192xf32>
}

//===----------------------------------------------------------------------===//
// attn.mlp
//===----------------------------------------------------------------------===//

// -----

func.func @mlp_scalar_input(%x: tensor<f32>, %g: tensor<4x1xf32>, %u: tensor<4x1xf32>, %d: tensor<1x4xf32>) -> tensor<f32> {
  // expected-error @below {{'attn.mlp' op expects input of rank >= 1, got 'tensor<f32>'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<f32>, tensor<4x1xf32>, tensor<4x1xf32>, tensor<1x4xf32>
  return %0 : tensor<f32>
}

// -----

func.func @mlp_gate_rank(%x: tensor<?x192xf32>, %g: tensor<512xf32>, %u: tensor<512x192xf32>, %d: tensor<192x512xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op expects gate of rank 2, got 'tensor<512xf32>'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512xf32>, tensor<512x192xf32>, tensor<192x512xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_up_rank(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<1x512x192xf32>, %d: tensor<192x512xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op expects up of rank 2, got 'tensor<1x512x192xf32>'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf32>, tensor<1x512x192xf32>, tensor<192x512xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_down_rank(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<512x192xf32>, %d: tensor<192xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op expects down of rank 2, got 'tensor<192xf32>'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf32>, tensor<512x192xf32>, tensor<192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_gate_element_type(%x: tensor<?x192xf32>, %g: tensor<512x192xf16>, %u: tensor<512x192xf32>, %d: tensor<192x512xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op gate element type 'f16' differs from input element type 'f32'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf16>, tensor<512x192xf32>, tensor<192x512xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_up_element_type(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<512x192xbf16>, %d: tensor<192x512xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op up element type 'bf16' differs from input element type 'f32'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf32>, tensor<512x192xbf16>, tensor<192x512xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_down_element_type(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<512x192xf32>, %d: tensor<192x512xf64>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op down element type 'f64' differs from input element type 'f32'}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf32>, tensor<512x192xf32>, tensor<192x512xf64>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_gate_shape(%x: tensor<?x192xf32>, %g: tensor<512x64xf32>, %u: tensor<512x192xf32>, %d: tensor<192x512xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op gate type 'tensor<512x64xf32>' does not match expected shape [512x192]}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x64xf32>, tensor<512x192xf32>, tensor<192x512xf32>
  return %0 : tensor<?x192xf32>
}

// -----

func.func @mlp_up_shape(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<256x192xf32>, %d: tensor<192x512xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op up type 'tensor<256x192xf32>' does not match expected shape [512x192]}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf32>, tensor<256x192xf32>, tensor<192x512xf32>
  return %0 : tensor<?x192xf32>
}

// -----

// down in [i, d] instead of [d, i].
func.func @mlp_down_shape(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<512x192xf32>, %d: tensor<512x192xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op down type 'tensor<512x192xf32>' does not match expected shape [192x512]}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<512x192xf32>, tensor<512x192xf32>, tensor<512x192xf32>
  return %0 : tensor<?x192xf32>
}

// -----

// A dynamic gate does not hide an up/down disagreement on the width.
func.func @mlp_dynamic_gate(%x: tensor<?x192xf32>, %g: tensor<?x192xf32>, %u: tensor<512x192xf32>, %d: tensor<192x256xf32>) -> tensor<?x192xf32> {
  // expected-error @below {{'attn.mlp' op down type 'tensor<192x256xf32>' does not match expected shape [192x512]}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x192xf32>, tensor<?x192xf32>, tensor<512x192xf32>, tensor<192x256xf32>
  return %0 : tensor<?x192xf32>
}

// -----

// Nor does a dynamic model width.
func.func @mlp_dynamic_width(%x: tensor<?x?xf32>, %g: tensor<512x192xf32>, %u: tensor<512x64xf32>, %d: tensor<192x512xf32>) -> tensor<?x?xf32> {
  // expected-error @below {{'attn.mlp' op up type 'tensor<512x64xf32>' does not match expected shape [512x192]}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x?xf32>, tensor<512x192xf32>, tensor<512x64xf32>, tensor<192x512xf32>
  return %0 : tensor<?x?xf32>
}

// -----

func.func @mlp_result_type(%x: tensor<?x192xf32>, %g: tensor<512x192xf32>, %u: tensor<512x192xf32>, %d: tensor<192x512xf32>) -> tensor<?x512xf32> {
  // expected-error @below {{'attn.mlp' op failed to verify that all of {input, result} have same type}}
  %0 = "attn.mlp"(%x, %g, %u, %d) : (tensor<?x192xf32>, tensor<512x192xf32>, tensor<512x192xf32>, tensor<192x512xf32>) -> tensor<?x512xf32>
  return %0 : tensor<?x512xf32>
}

//===----------------------------------------------------------------------===//
// attn.rope
//===----------------------------------------------------------------------===//

// -----

func.func @rope_input_rank(%q: tensor<?x?x192xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x192xf32> {
  // expected-error @below {{'attn.rope' op expects input of rank 4, got 'tensor<?x?x192xf32>'}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x192xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x192xf32>
}

// -----

func.func @rope_positions_rank(%q: tensor<?x?x6x32xf32>, %pos: tensor<?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op expects positions of rank 2, got 'tensor<?xi64>'}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_positions_shape(%q: tensor<1x7x6x32xf32>, %pos: tensor<1x8xi64>) -> tensor<1x7x6x32xf32> {
  // expected-error @below {{'attn.rope' op positions type 'tensor<1x8xi64>' does not match expected shape [1x7]}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>} : tensor<1x7x6x32xf32>, tensor<1x8xi64>
  return %0 : tensor<1x7x6x32xf32>
}

// -----

func.func @rope_float_positions(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op operand #1 must be ranked tensor of signless integer values, but got 'tensor<?x?xf32>'}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_zero_theta(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op theta must be positive, got 0.000000e+00}}
  %0 = attn.rope %q, %pos {theta = 0.0 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_nan_theta(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op theta must be positive, got nan}}
  %0 = attn.rope %q, %pos {theta = 0x7FF8000000000000 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_zero_rotary_dim(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op attribute 'rotary_dim' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 0 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_odd_rotary_dim(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op rotary_dim must be even, got 31}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 31 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_rotary_dim_over_head_dim(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op rotary_dim 64 exceeds the head dim 32 of input 'tensor<?x?x6x32xf32>'}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 64 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_zero_base_dim(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op base_dim must be positive and even, got 0}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, base_dim = 0 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_odd_base_dim(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op base_dim must be positive and even, got 33}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, base_dim = 33 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_frequencies_count(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op frequencies lists 3 pairs but rotary_dim 8 rotates 4}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, base_dim = 32 : i64, frequencies = array<i64: 0, 3, 7>, pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

func.func @rope_frequency_too_large(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op frequency index 16 is outside [0, 16) for base_dim 32}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, base_dim = 32 : i64, frequencies = array<i64: 0, 3, 7, 16>, pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

func.func @rope_negative_frequency(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op frequency index -1 is outside [0, 16) for base_dim 32}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, base_dim = 32 : i64, frequencies = array<i64: -1, 3, 7, 12>, pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

// Without base_dim the frequencies index rotary_dim / 2 = 4 pairs.
func.func @rope_frequency_without_base_dim(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op frequency index 4 is outside [0, 4) for base_dim 8}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, frequencies = array<i64: 0, 1, 2, 4>, pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

func.func @rope_frequencies_unsorted(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op frequencies must be strictly increasing, got 3 after 7}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, base_dim = 32 : i64, frequencies = array<i64: 0, 7, 3, 12>, pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

func.func @rope_frequencies_repeated(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op frequencies must be strictly increasing, got 3 after 3}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, base_dim = 32 : i64, frequencies = array<i64: 0, 3, 3, 12>, pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

func.func @rope_rotary_dim_over_base_dim(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op rotary_dim 32 exceeds base_dim 16 without a frequencies list}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, base_dim = 16 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_missing_pairing(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.rope' op requires attribute 'pairing'}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_unknown_pairing(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{expected ::mlir::attn::RopePairing to be one of: rotate_half, interleaved}}
  // expected-error @below {{failed to parse Attn_RopePairingAttr parameter 'value' which is to be a `::mlir::attn::RopePairing`}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing neox>} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @rope_frequencies_not_an_array(%q: tensor<?x?x2x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x2x8xf32> {
  // expected-error @below {{'attn.rope' op attribute 'frequencies' failed to satisfy constraint: i64 dense array attribute}}
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64, base_dim = 32 : i64, frequencies = [0, 3, 7, 12], pairing = #attn<pairing rotate_half>} : tensor<?x?x2x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x2x8xf32>
}

// -----

func.func @rope_result_type(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x6x32xf16> {
  // expected-error @below {{'attn.rope' op failed to verify that all of {input, result} have same type}}
  %0 = "attn.rope"(%q, %pos) <{theta = 1.0e+04 : f64, rotary_dim = 32 : i64, pairing = #attn<pairing rotate_half>}> : (tensor<?x?x6x32xf32>, tensor<?x?xi64>) -> tensor<?x?x6x32xf16>
  return %0 : tensor<?x?x6x32xf16>
}

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

// -----

func.func @attention_query_rank(%q: tensor<?x?x192xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op expects query of rank 4, got 'tensor<?x?x192xf32>'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x192xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_key_rank(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op expects key of rank 4, got 'tensor<?x?x64xf32>'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x64xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_value_rank(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32x1xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op expects value of rank 4, got 'tensor<?x?x2x32x1xf32>'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32x1xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_key_element_type(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op key element type 'bf16' differs from query element type 'f32'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xbf16>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_value_element_type(%q: tensor<?x?x6x32xf16>, %k: tensor<?x?x2x32xf16>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf16> {
  // expected-error @below {{'attn.attention' op value element type 'f32' differs from query element type 'f16'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf16>, tensor<?x?x2x32xf16>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf16>
  return %0 : tensor<?x?x6x32xf16>
}

// -----

func.func @attention_result_element_type(%q: tensor<?x?x6x32xbf16>, %k: tensor<?x?x2x32xbf16>, %v: tensor<?x?x2x32xbf16>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op result element type 'f32' differs from query element type 'bf16'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xbf16>, tensor<?x?x2x32xbf16>, tensor<?x?x2x32xbf16> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_batch(%q: tensor<2x?x6x32xf32>, %k: tensor<3x?x2x32xf32>, %v: tensor<3x?x2x32xf32>) -> tensor<2x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op batch sizes differ: query 'tensor<2x?x6x32xf32>', key 'tensor<3x?x2x32xf32>', value 'tensor<3x?x2x32xf32>'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<2x?x6x32xf32>, tensor<3x?x2x32xf32>, tensor<3x?x2x32xf32> -> tensor<2x?x6x32xf32>
  return %0 : tensor<2x?x6x32xf32>
}

// -----

// Key and value disagree while the query's batch is dynamic (this used to
// verify).
func.func @attention_batch_key_value(%q: tensor<?x?x6x32xf32>, %k: tensor<1x?x2x32xf32>, %v: tensor<2x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op batch sizes differ: query 'tensor<?x?x6x32xf32>', key 'tensor<1x?x2x32xf32>', value 'tensor<2x?x2x32xf32>'}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<1x?x2x32xf32>, tensor<2x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_kv_len(%q: tensor<1x?x6x32xf32>, %k: tensor<1x16x2x32xf32>, %v: tensor<1x17x2x32xf32>) -> tensor<1x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op key 'tensor<1x16x2x32xf32>' and value 'tensor<1x17x2x32xf32>' differ in kv_len or kv_heads}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<1x?x6x32xf32>, tensor<1x16x2x32xf32>, tensor<1x17x2x32xf32> -> tensor<1x?x6x32xf32>
  return %0 : tensor<1x?x6x32xf32>
}

// -----

func.func @attention_kv_heads(%q: tensor<1x?x6x32xf32>, %k: tensor<1x?x2x32xf32>, %v: tensor<1x?x3x32xf32>) -> tensor<1x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op key 'tensor<1x?x2x32xf32>' and value 'tensor<1x?x3x32xf32>' differ in kv_len or kv_heads}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<1x?x6x32xf32>, tensor<1x?x2x32xf32>, tensor<1x?x3x32xf32> -> tensor<1x?x6x32xf32>
  return %0 : tensor<1x?x6x32xf32>
}

// -----

func.func @attention_head_dim(%q: tensor<?x?x6x64xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op query head dim 64 differs from key head dim 32}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x64xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_gqa_divisibility(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x4x32xf32>, %v: tensor<?x?x4x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op key/value head count 4 does not divide query head count 6}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x4x32xf32>, tensor<?x?x4x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_more_kv_heads(%q: tensor<?x?x2x32xf32>, %k: tensor<?x?x6x32xf32>, %v: tensor<?x?x6x32xf32>) -> tensor<?x?x2x32xf32> {
  // expected-error @below {{'attn.attention' op key/value head count 6 does not divide query head count 2}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x2x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32> -> tensor<?x?x2x32xf32>
  return %0 : tensor<?x?x2x32xf32>
}

// -----

func.func @attention_zero_kv_heads(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x0x32xf32>, %v: tensor<?x?x0x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op key/value head count 0 does not divide query head count 6}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x0x32xf32>, tensor<?x?x0x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_zero_scale(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op scale must be positive and finite, got 0.000000e+00}}
  %0 = attn.attention %q, %k, %v {scale = 0.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_negative_scale(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op scale must be positive and finite, got -1.250000e-01}}
  %0 = attn.attention %q, %k, %v {scale = -0.125 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_infinite_scale(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op scale must be positive and finite, got INF}}
  %0 = attn.attention %q, %k, %v {scale = 0x7FF0000000000000 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_nan_scale(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op scale must be positive and finite, got nan}}
  %0 = attn.attention %q, %k, %v {scale = 0x7FF8000000000000 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_missing_scale(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op requires attribute 'scale'}}
  %0 = attn.attention %q, %k, %v {causal} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_causal_not_unit(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op attribute 'causal' failed to satisfy constraint: unit attribute}}
  %0 = attn.attention %q, %k, %v {causal = true, scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  return %0 : tensor<?x?x6x32xf32>
}

// -----

func.func @attention_result_heads(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x32xf32>) -> tensor<?x?x2x32xf32> {
  // expected-error @below {{'attn.attention' op result type 'tensor<?x?x2x32xf32>' does not match expected shape [?x?x6x32]}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x2x32xf32>
  return %0 : tensor<?x?x2x32xf32>
}

// -----

// d_qk != d_v: the result has the value's head dim.
func.func @attention_result_value_dim(%q: tensor<?x?x8x96xf32>, %k: tensor<?x?x1x96xf32>, %v: tensor<?x?x1x64xf32>) -> tensor<?x?x8x96xf32> {
  // expected-error @below {{'attn.attention' op result type 'tensor<?x?x8x96xf32>' does not match expected shape [?x?x8x64]}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x8x96xf32>, tensor<?x?x1x96xf32>, tensor<?x?x1x64xf32> -> tensor<?x?x8x96xf32>
  return %0 : tensor<?x?x8x96xf32>
}

// -----

// The result batch follows the key's when the query's is dynamic.
func.func @attention_result_batch(%q: tensor<?x?x6x32xf32>, %k: tensor<2x?x2x32xf32>, %v: tensor<2x?x2x32xf32>) -> tensor<3x?x6x32xf32> {
  // expected-error @below {{'attn.attention' op result type 'tensor<3x?x6x32xf32>' does not match expected shape [2x?x6x32]}}
  %0 = attn.attention %q, %k, %v {scale = 1.0 : f64} : tensor<?x?x6x32xf32>, tensor<2x?x2x32xf32>, tensor<2x?x2x32xf32> -> tensor<3x?x6x32xf32>
  return %0 : tensor<3x?x6x32xf32>
}

//===----------------------------------------------------------------------===//
// attn.cache_update
//===----------------------------------------------------------------------===//

// -----

func.func @cache_update_cache_rank(%c: tensor<1x64x64xf32>, %n: tensor<1x1x64xf32>, %p: index) -> tensor<1x64x64xf32> {
  // expected-error @below {{'attn.cache_update' op expects cache of rank 4, got 'tensor<1x64x64xf32>'}}
  %0 = attn.cache_update %c[%p], %n : tensor<1x64x64xf32>, tensor<1x1x64xf32>
  return %0 : tensor<1x64x64xf32>
}

// -----

func.func @cache_update_element_type(%c: tensor<1x64x2x32xbf16>, %n: tensor<1x1x2x32xf32>, %p: index) -> tensor<1x64x2x32xbf16> {
  // expected-error @below {{'attn.cache_update' op update element type 'f32' differs from cache element type 'bf16'}}
  %0 = attn.cache_update %c[%p], %n : tensor<1x64x2x32xbf16>, tensor<1x1x2x32xf32>
  return %0 : tensor<1x64x2x32xbf16>
}

// -----

func.func @cache_update_heads(%c: tensor<1x64x2x32xf32>, %n: tensor<1x1x4x32xf32>, %p: index) -> tensor<1x64x2x32xf32> {
  // expected-error @below {{'attn.cache_update' op update type 'tensor<1x1x4x32xf32>' does not match expected shape [1x?x2x32]}}
  %0 = attn.cache_update %c[%p], %n : tensor<1x64x2x32xf32>, tensor<1x1x4x32xf32>
  return %0 : tensor<1x64x2x32xf32>
}

// -----

func.func @cache_update_rank(%c: tensor<1x64x2x32xf32>, %n: tensor<1x64xf32>, %p: index) -> tensor<1x64x2x32xf32> {
  // expected-error @below {{'attn.cache_update' op update type 'tensor<1x64xf32>' does not match expected shape [1x?x2x32]}}
  %0 = attn.cache_update %c[%p], %n : tensor<1x64x2x32xf32>, tensor<1x64xf32>
  return %0 : tensor<1x64x2x32xf32>
}

// -----

func.func @cache_update_capacity(%c: tensor<1x64x2x32xf32>, %n: tensor<1x65x2x32xf32>, %p: index) -> tensor<1x64x2x32xf32> {
  // expected-error @below {{'attn.cache_update' op update of 65 tokens exceeds the cache capacity 64}}
  %0 = attn.cache_update %c[%p], %n : tensor<1x64x2x32xf32>, tensor<1x65x2x32xf32>
  return %0 : tensor<1x64x2x32xf32>
}

// -----

func.func @cache_update_position_type(%c: tensor<1x64x2x32xf32>, %n: tensor<1x1x2x32xf32>, %p: i64) -> tensor<1x64x2x32xf32> {
  // expected-error @below {{'attn.cache_update' op operand #2 must be index, but got 'i64'}}
  %0 = "attn.cache_update"(%c, %n, %p) : (tensor<1x64x2x32xf32>, tensor<1x1x2x32xf32>, i64) -> tensor<1x64x2x32xf32>
  return %0 : tensor<1x64x2x32xf32>
}

// -----

func.func @cache_update_result_type(%c: tensor<1x64x2x32xf32>, %n: tensor<1x1x2x32xf32>, %p: index) -> tensor<1x65x2x32xf32> {
  // expected-error @below {{'attn.cache_update' op failed to verify that all of {cache, result} have same type}}
  %0 = "attn.cache_update"(%c, %n, %p) : (tensor<1x64x2x32xf32>, tensor<1x1x2x32xf32>, index) -> tensor<1x65x2x32xf32>
  return %0 : tensor<1x65x2x32xf32>
}

// -----

// Encoded caches hold integer codes (attn-sparse-kv), but not indices.
func.func @cache_update_index_cache(%c: tensor<1x64x2x32xindex>, %n: tensor<1x1x2x32xindex>, %p: index) -> tensor<1x64x2x32xindex> {
  // expected-error @below {{'attn.cache_update' op operand #0 must be ranked tensor of floating-point or signless integer values, but got 'tensor<1x64x2x32xindex>'}}
  %0 = attn.cache_update %c[%p], %n : tensor<1x64x2x32xindex>, tensor<1x1x2x32xindex>
  return %0 : tensor<1x64x2x32xindex>
}

//===----------------------------------------------------------------------===//
// attn.linear_grad_weight
//===----------------------------------------------------------------------===//

// -----

func.func @linear_grad_weight_scalar(%dy: tensor<f32>, %x: tensor<4xf32>) -> tensor<1x4xf32> {
  // expected-error @below {{'attn.linear_grad_weight' op expects grad_output of rank >= 1, got 'tensor<f32>'}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<f32>, tensor<4xf32> -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

func.func @linear_grad_weight_input_element(%dy: tensor<?x8xf32>, %x: tensor<?x4xf16>) -> tensor<8x4xf32> {
  // expected-error @below {{'attn.linear_grad_weight' op input element type 'f16' differs from grad_output element type 'f32'}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<?x8xf32>, tensor<?x4xf16> -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

func.func @linear_grad_weight_result_element(%dy: tensor<?x8xf32>, %x: tensor<?x4xf32>) -> tensor<8x4xbf16> {
  // expected-error @below {{'attn.linear_grad_weight' op result element type 'bf16' differs from grad_output element type 'f32'}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<8x4xbf16>
  return %0 : tensor<8x4xbf16>
}

// -----

func.func @linear_grad_weight_tokens(%dy: tensor<2x16x8xf32>, %x: tensor<2x15x4xf32>) -> tensor<8x4xf32> {
  // expected-error @below {{'attn.linear_grad_weight' op input 'tensor<2x15x4xf32>' must have the token dims [2x16] of grad_output 'tensor<2x16x8xf32>'}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<2x16x8xf32>, tensor<2x15x4xf32> -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

func.func @linear_grad_weight_token_rank(%dy: tensor<?x?x8xf32>, %x: tensor<?x4xf32>) -> tensor<8x4xf32> {
  // expected-error @below {{'attn.linear_grad_weight' op input 'tensor<?x4xf32>' must have the token dims [?x?] of grad_output 'tensor<?x?x8xf32>'}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<?x?x8xf32>, tensor<?x4xf32> -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

func.func @linear_grad_weight_input_scalar(%dy: tensor<8xf32>, %x: tensor<f32>) -> tensor<8x1xf32> {
  // expected-error @below {{'attn.linear_grad_weight' op input 'tensor<f32>' must have the token dims [] of grad_output 'tensor<8xf32>'}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<8xf32>, tensor<f32> -> tensor<8x1xf32>
  return %0 : tensor<8x1xf32>
}

// -----

func.func @linear_grad_weight_result_layout(%dy: tensor<?x8xf32>, %x: tensor<?x4xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.linear_grad_weight' op result type 'tensor<4x8xf32>' does not match expected shape [8x4]}}
  %0 = attn.linear_grad_weight %dy, %x : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.linear_grad_input
//===----------------------------------------------------------------------===//

func.func @linear_grad_input_scalar(%dy: tensor<f32>, %w: tensor<1x4xf32>) -> tensor<4xf32> {
  // expected-error @below {{'attn.linear_grad_input' op expects grad_output of rank >= 1, got 'tensor<f32>'}}
  %0 = attn.linear_grad_input %dy, %w : tensor<f32>, tensor<1x4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @linear_grad_input_weight_rank(%dy: tensor<?x8xf32>, %w: tensor<8x4x1xf32>) -> tensor<?x4xf32> {
  // expected-error @below {{'attn.linear_grad_input' op expects weight of rank 2, got 'tensor<8x4x1xf32>'}}
  %0 = attn.linear_grad_input %dy, %w : tensor<?x8xf32>, tensor<8x4x1xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_grad_input_weight_element(%dy: tensor<?x8xf32>, %w: tensor<8x4xf64>) -> tensor<?x4xf32> {
  // expected-error @below {{'attn.linear_grad_input' op weight element type 'f64' differs from grad_output element type 'f32'}}
  %0 = attn.linear_grad_input %dy, %w : tensor<?x8xf32>, tensor<8x4xf64> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_grad_input_result_element(%dy: tensor<?x8xf32>, %w: tensor<8x4xf32>) -> tensor<?x4xf16> {
  // expected-error @below {{'attn.linear_grad_input' op result element type 'f16' differs from grad_output element type 'f32'}}
  %0 = attn.linear_grad_input %dy, %w : tensor<?x8xf32>, tensor<8x4xf32> -> tensor<?x4xf16>
  return %0 : tensor<?x4xf16>
}

// -----

func.func @linear_grad_input_weight_layout(%dy: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.linear_grad_input' op weight 'tensor<4x8xf32>' has 4 output features but grad_output 'tensor<?x8xf32>' has 8 (weight layout is [out, in])}}
  %0 = attn.linear_grad_input %dy, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @linear_grad_input_result_shape(%dy: tensor<2x?x8xf32>, %w: tensor<8x4xf32>) -> tensor<3x?x4xf32> {
  // expected-error @below {{'attn.linear_grad_input' op result type 'tensor<3x?x4xf32>' does not match expected shape [2x?x4]}}
  %0 = attn.linear_grad_input %dy, %w : tensor<2x?x8xf32>, tensor<8x4xf32> -> tensor<3x?x4xf32>
  return %0 : tensor<3x?x4xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.pamm_compress
//===----------------------------------------------------------------------===//

func.func @pamm_compress_scalar(%x: tensor<f32>) -> tensor<1x1xf32> {
  // expected-error @below {{'attn.pamm_compress' op expects input of rank >= 1, got 'tensor<f32>'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<f32> -> tensor<1x1xf32>, tensor<i32>, tensor<f32>
  return %c : tensor<1x1xf32>
}

// -----

func.func @pamm_compress_generators_rank(%x: tensor<?x8xf32>) -> tensor<?xf32> {
  // expected-error @below {{'attn.pamm_compress' op expects generators of rank 2, got 'tensor<?xf32>'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?xf32>
}

// -----

func.func @pamm_compress_generators_element(%x: tensor<?x8xf32>) -> tensor<?x8xf16> {
  // expected-error @below {{'attn.pamm_compress' op generators element type 'f16' differs from input element type 'f32'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf16>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf16>
}

// -----

func.func @pamm_compress_scale_element(%x: tensor<?x8xf32>) -> tensor<?xbf16> {
  // expected-error @below {{'attn.pamm_compress' op scale element type 'bf16' differs from input element type 'f32'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xbf16>
  return %a : tensor<?xbf16>
}

// -----

func.func @pamm_compress_assignment_tokens(%x: tensor<?x?x8xf32>) -> tensor<?xi32> {
  // expected-error @below {{'attn.pamm_compress' op assignment 'tensor<?xi32>' must have the token dims [?x?] of input 'tensor<?x?x8xf32>'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<?x?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?x?xf32>
  return %f : tensor<?xi32>
}

// -----

func.func @pamm_compress_scale_tokens(%x: tensor<2x16x8xf32>) -> tensor<2x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op scale 'tensor<2x8xf32>' must have the token dims [2x16] of input 'tensor<2x16x8xf32>'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<2x16x8xf32> -> tensor<32x8xf32>, tensor<2x16xi32>, tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}

// -----

func.func @pamm_compress_assignment_type(%x: tensor<?x8xf32>) -> tensor<?xi64> {
  // expected-error @below {{'attn.pamm_compress' op result #1 must be ranked tensor of 32-bit signless integer values, but got 'tensor<?xi64>'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi64>, tensor<?xf32>
  return %f : tensor<?xi64>
}

// -----

func.func @pamm_compress_ratio_zero(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op ratio must be in (0, 1], got 0.000000e+00}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 0.0 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @pamm_compress_ratio_negative(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op ratio must be in (0, 1], got -5.000000e-01}}
  %c, %f, %a = attn.pamm_compress %x {ratio = -0.5 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @pamm_compress_ratio_above_one(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op ratio must be in (0, 1], got 1.500000e+00}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 1.5 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @pamm_compress_ratio_nan(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op ratio must be in (0, 1], got nan}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 0x7FF8000000000000 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @pamm_compress_epsilon(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op epsilon must be non-negative and finite, got -1.000000e+00}}
  %c, %f, %a = attn.pamm_compress %x {epsilon = -1.0 : f64, ratio = 0.5 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @pamm_compress_epsilon_inf(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op epsilon must be non-negative and finite, got INF}}
  %c, %f, %a = attn.pamm_compress %x {epsilon = 0x7FF0000000000000 : f64, ratio = 0.5 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

func.func @pamm_compress_generator_count(%x: tensor<2x16x8xf32>) -> tensor<5x8xf32> {
  // 32 tokens at ratio 1/8: ceil(4.0) = 4 generators.
  // expected-error @below {{'attn.pamm_compress' op generators type 'tensor<5x8xf32>' does not match expected shape [4x8]}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 0.125 : f64, seed = 0 : i64} : tensor<2x16x8xf32> -> tensor<5x8xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  return %c : tensor<5x8xf32>
}

// -----

func.func @pamm_compress_generator_width(%x: tensor<?x8xf32>) -> tensor<?x7xf32> {
  // expected-error @below {{'attn.pamm_compress' op generators type 'tensor<?x7xf32>' does not match expected shape [?x8]}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 0.125 : f64, seed = 0 : i64} : tensor<?x8xf32> -> tensor<?x7xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x7xf32>
}

// -----

func.func @pamm_compress_no_seed(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{'attn.pamm_compress' op requires attribute 'seed'}}
  %c, %f, %a = attn.pamm_compress %x {ratio = 0.125 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>
  return %c : tensor<?x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.pamm_grad_weight
//===----------------------------------------------------------------------===//

func.func @pamm_grad_weight_scalar(%dz: tensor<f32>, %c: tensor<?x8xf32>, %f: tensor<i32>, %a: tensor<f32>) -> tensor<1x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op expects grad_output of rank >= 1, got 'tensor<f32>'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<f32>, tensor<?x8xf32>, tensor<i32>, tensor<f32> -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----

func.func @pamm_grad_weight_generators_rank(%dz: tensor<?x4xf32>, %c: tensor<8xf32>, %f: tensor<?xi32>, %a: tensor<?xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op expects generators of rank 2, got 'tensor<8xf32>'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x4xf32>, tensor<8xf32>, tensor<?xi32>, tensor<?xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @pamm_grad_weight_generators_element(%dz: tensor<?x4xf32>, %c: tensor<?x8xf16>, %f: tensor<?xi32>, %a: tensor<?xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op generators element type 'f16' differs from grad_output element type 'f32'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x4xf32>, tensor<?x8xf16>, tensor<?xi32>, tensor<?xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @pamm_grad_weight_scale_element(%dz: tensor<?x4xf32>, %c: tensor<?x8xf32>, %f: tensor<?xi32>, %a: tensor<?xf64>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op scale element type 'f64' differs from grad_output element type 'f32'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x4xf32>, tensor<?x8xf32>, tensor<?xi32>, tensor<?xf64> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @pamm_grad_weight_result_element(%dz: tensor<?x4xf32>, %c: tensor<?x8xf32>, %f: tensor<?xi32>, %a: tensor<?xf32>) -> tensor<4x8xbf16> {
  // expected-error @below {{'attn.pamm_grad_weight' op result element type 'bf16' differs from grad_output element type 'f32'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x4xf32>, tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32> -> tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}

// -----

func.func @pamm_grad_weight_assignment_tokens(%dz: tensor<2x16x4xf32>, %c: tensor<?x8xf32>, %f: tensor<2x8xi32>, %a: tensor<2x16xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op assignment 'tensor<2x8xi32>' must have the token dims [2x16] of grad_output 'tensor<2x16x4xf32>'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<2x16x4xf32>, tensor<?x8xf32>, tensor<2x8xi32>, tensor<2x16xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @pamm_grad_weight_scale_tokens(%dz: tensor<?x?x4xf32>, %c: tensor<?x8xf32>, %f: tensor<?x?xi32>, %a: tensor<?xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op scale 'tensor<?xf32>' must have the token dims [?x?] of grad_output 'tensor<?x?x4xf32>'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x?x4xf32>, tensor<?x8xf32>, tensor<?x?xi32>, tensor<?xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @pamm_grad_weight_result_shape(%dz: tensor<?x4xf32>, %c: tensor<?x8xf32>, %f: tensor<?xi32>, %a: tensor<?xf32>) -> tensor<8x4xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op result type 'tensor<8x4xf32>' does not match expected shape [4x8]}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x4xf32>, tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32> -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

func.func @pamm_grad_weight_assignment_type(%dz: tensor<?x4xf32>, %c: tensor<?x8xf32>, %f: tensor<?xf32>, %a: tensor<?xf32>) -> tensor<4x8xf32> {
  // expected-error @below {{'attn.pamm_grad_weight' op operand #2 must be ranked tensor of 32-bit signless integer values, but got 'tensor<?xf32>'}}
  %0 = attn.pamm_grad_weight %dz, %c, %f, %a : tensor<?x4xf32>, tensor<?x8xf32>, tensor<?xf32>, tensor<?xf32> -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.sparse_encode, attn.sparse_decode, attn.kv_quantize
//===----------------------------------------------------------------------===//

func.func @sparse_encode_input_rank(%x: tensor<?x2x16xf32>, %d: tensor<8x16xf32>) -> (tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op expects input of rank 4, got 'tensor<?x2x16xf32>'}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x2x16xf32>, tensor<8x16xf32> -> tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_dict_rank(%x: tensor<?x?x2x16xf32>, %d: tensor<16xf32>) -> (tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op expects dictionary of rank 2, got 'tensor<16xf32>'}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<16xf32> -> tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_indices_rank(%x: tensor<?x?x2x16xf32>, %d: tensor<8x16xf32>) -> (tensor<?x2x2xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op expects indices of rank 4, got 'tensor<?x2x2xi16>'}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<8x16xf32> -> tensor<?x2x2xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x2x2xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_coef_rank(%x: tensor<?x?x2x16xf32>, %d: tensor<8x16xf32>) -> (tensor<?x?x2x2xi16>, tensor<?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op expects coefficients of rank 4, got 'tensor<?x2x2xf16>'}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<8x16xf32> -> tensor<?x?x2x2xi16>, tensor<?x2x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x2x2xf16>
}

// -----

func.func @sparse_encode_dict_type(%x: tensor<?x?x2x16xf32>, %d: tensor<8x16xf16>) -> (tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op dictionary element type 'f16' differs from input element type 'f32'}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<8x16xf16> -> tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_atoms(%x: tensor<?x?x2x16xf32>, %d: tensor<40000x16xf32>) -> (tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op dictionary has 40000 atoms; int16 indices address at most 32768}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<40000x16xf32> -> tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_chunks(%x: tensor<?x?x2x16xf32>, %d: tensor<8x16xf32>) -> (tensor<?x?x2x6xi16>, tensor<?x?x2x6xf16>) {
  // expected-error @below {{'attn.sparse_encode' op input head dim 16 is not divisible by chunks = 3}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 3 : i64} : tensor<?x?x2x16xf32>, tensor<8x16xf32> -> tensor<?x?x2x6xi16>, tensor<?x?x2x6xf16>
  return %i, %c : tensor<?x?x2x6xi16>, tensor<?x?x2x6xf16>
}

// -----

func.func @sparse_encode_dict_shape(%x: tensor<?x?x2x16xf32>, %d: tensor<8x8xf32>) -> (tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op dictionary type 'tensor<8x8xf32>' does not match expected shape [?x16]}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<8x8xf32> -> tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_indices_shape(%x: tensor<?x?x2x16xf32>, %d: tensor<8x16xf32>) -> (tensor<?x?x2x3xi16>, tensor<?x?x2x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op indices type 'tensor<?x?x2x3xi16>' does not match expected shape [?x?x2x2]}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<8x16xf32> -> tensor<?x?x2x3xi16>, tensor<?x?x2x2xf16>
  return %i, %c : tensor<?x?x2x3xi16>, tensor<?x?x2x2xf16>
}

// -----

func.func @sparse_encode_coef_shape(%x: tensor<?x?x2x16xf32>, %d: tensor<8x16xf32>) -> (tensor<?x?x2x2xi16>, tensor<?x?x3x2xf16>) {
  // expected-error @below {{'attn.sparse_encode' op coefficients type 'tensor<?x?x3x2xf16>' does not match expected shape [?x?x2x2]}}
  %i, %c = attn.sparse_encode %x, %d {sparsity = 2 : i64, chunks = 1 : i64} : tensor<?x?x2x16xf32>, tensor<8x16xf32> -> tensor<?x?x2x2xi16>, tensor<?x?x3x2xf16>
  return %i, %c : tensor<?x?x2x2xi16>, tensor<?x?x3x2xf16>
}

// -----

func.func @sparse_decode_result_rank(%i: tensor<?x?x2x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<8x16xf32>) -> tensor<?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op expects result of rank 4, got 'tensor<?x2x16xf32>'}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>, tensor<8x16xf32> -> tensor<?x2x16xf32>
  return %y : tensor<?x2x16xf32>
}

// -----

func.func @sparse_decode_dict_rank(%i: tensor<?x?x2x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op expects dictionary of rank 2, got 'tensor<16xf32>'}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>, tensor<16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_indices_rank(%i: tensor<?x2x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<8x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op expects indices of rank 4, got 'tensor<?x2x2xi16>'}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x2x2xi16>, tensor<?x?x2x2xf16>, tensor<8x16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_coef_rank(%i: tensor<?x?x2x2xi16>, %c: tensor<?x2x2xf16>, %d: tensor<8x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op expects coefficients of rank 4, got 'tensor<?x2x2xf16>'}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x2x2xf16>, tensor<8x16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_dict_type(%i: tensor<?x?x2x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<8x16xf16>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op dictionary element type 'f16' differs from result element type 'f32'}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>, tensor<8x16xf16> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_atoms(%i: tensor<?x?x2x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<40000x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op dictionary has 40000 atoms; int16 indices address at most 32768}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>, tensor<40000x16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_chunks(%i: tensor<?x?x2x6xi16>, %c: tensor<?x?x2x6xf16>, %d: tensor<8x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op result head dim 16 is not divisible by chunks = 3}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 3 : i64} : tensor<?x?x2x6xi16>, tensor<?x?x2x6xf16>, tensor<8x16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_dict_shape(%i: tensor<?x?x2x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<8x8xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op dictionary type 'tensor<8x8xf32>' does not match expected shape [?x16]}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x?x2x2xf16>, tensor<8x8xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_indices_shape(%i: tensor<?x?x3x2xi16>, %c: tensor<?x?x2x2xf16>, %d: tensor<8x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op indices type 'tensor<?x?x3x2xi16>' does not match expected shape [?x?x2x?]}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x3x2xi16>, tensor<?x?x2x2xf16>, tensor<8x16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_coef_shape(%i: tensor<?x?x2x2xi16>, %c: tensor<?x?x2x4xf16>, %d: tensor<8x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op coefficients type 'tensor<?x?x2x4xf16>' does not match expected shape [?x?x2x2]}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 1 : i64} : tensor<?x?x2x2xi16>, tensor<?x?x2x4xf16>, tensor<8x16xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @sparse_decode_multiple(%i: tensor<?x?x2x3xi16>, %c: tensor<?x?x2x3xf16>, %d: tensor<8x8xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.sparse_decode' op indices hold 3 codes per head, not a multiple of chunks = 2}}
  %y = attn.sparse_decode %i, %c, %d {chunks = 2 : i64} : tensor<?x?x2x3xi16>, tensor<?x?x2x3xf16>, tensor<8x8xf32> -> tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @kv_quantize_rank(%x: tensor<?x2x16xf32>) -> tensor<?x2x16xf32> {
  // expected-error @below {{'attn.kv_quantize' op expects input of rank 4, got 'tensor<?x2x16xf32>'}}
  %y = attn.kv_quantize %x {axis = "token", bits = 2 : i64, group = 8 : i64, window = 4 : i64} : tensor<?x2x16xf32>
  return %y : tensor<?x2x16xf32>
}

// -----

func.func @kv_quantize_bits(%x: tensor<?x?x2x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.kv_quantize' op bits must be in [1, 8], got 9}}
  %y = attn.kv_quantize %x {axis = "token", bits = 9 : i64, group = 8 : i64, window = 4 : i64} : tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @kv_quantize_axis(%x: tensor<?x?x2x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.kv_quantize' op axis must be "channel" or "token", got "head"}}
  %y = attn.kv_quantize %x {axis = "head", bits = 2 : i64, group = 8 : i64, window = 4 : i64} : tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

// -----

func.func @kv_quantize_group(%x: tensor<?x?x2x16xf32>) -> tensor<?x?x2x16xf32> {
  // expected-error @below {{'attn.kv_quantize' op group 5 does not divide the head dim 16 (axis "token" groups channels)}}
  %y = attn.kv_quantize %x {axis = "token", bits = 2 : i64, group = 5 : i64, window = 4 : i64} : tensor<?x?x2x16xf32>
  return %y : tensor<?x?x2x16xf32>
}

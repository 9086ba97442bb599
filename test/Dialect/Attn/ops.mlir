// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s
// RUN: attn-opt %s --verify-roundtrip

// Every attn op in every form: each function below is printed, re-parsed and
// printed again (and once through the generic form) and must come back the
// same.

//===----------------------------------------------------------------------===//
// attn.param
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @param
func.func @param() -> (tensor<192x192xf32>, tensor<64xbf16>, tensor<8x4xf16>,
                       tensor<f32>, tensor<16xi8>) {
  // CHECK: attn.param "model.layers.0.self_attn.q_proj.weight" : tensor<192x192xf32>
  %0 = attn.param "model.layers.0.self_attn.q_proj.weight" : tensor<192x192xf32>
  // CHECK: attn.param "b" : tensor<64xbf16>
  %1 = attn.param "b" : tensor<64xbf16>
  // CHECK: attn.param "h" : tensor<8x4xf16>
  %2 = attn.param "h" : tensor<8x4xf16>
  // A scalar (rank 0) parameter is statically shaped too.
  // CHECK: attn.param "scalar" : tensor<f32>
  %3 = attn.param "scalar" : tensor<f32>
  // Names are arbitrary strings: spaces and quotes are escaped.
  // CHECK: attn.param "name with \22quotes\22 and spaces" : tensor<16xi8>
  %4 = attn.param "name with \"quotes\" and spaces" : tensor<16xi8>
  return %0, %1, %2, %3, %4 : tensor<192x192xf32>, tensor<64xbf16>,
                              tensor<8x4xf16>, tensor<f32>, tensor<16xi8>
}

//===----------------------------------------------------------------------===//
// attn.embed
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @embed
// CHECK-SAME: (%[[TOK:.*]]: tensor<?x?xi64>, %[[TOK32:.*]]: tensor<2x5xi32>, %[[TOK1:.*]]: tensor<7xi64>)
func.func @embed(%tokens: tensor<?x?xi64>, %tokens32: tensor<2x5xi32>,
                 %tokens1: tensor<7xi64>)
    -> (tensor<?x?x192xf32>, tensor<2x5x64xbf16>, tensor<7x192xf32>) {
  // CHECK: %[[T:.*]] = attn.param "model.embed_tokens.weight" : tensor<256x192xf32>
  %table = attn.param "model.embed_tokens.weight" : tensor<256x192xf32>
  // CHECK: attn.embed %[[T]], %[[TOK]] : tensor<256x192xf32>, tensor<?x?xi64> -> tensor<?x?x192xf32>
  %0 = attn.embed %table, %tokens
      : tensor<256x192xf32>, tensor<?x?xi64> -> tensor<?x?x192xf32>
  // Static token shape, i32 ids, bf16 table.
  // CHECK: %[[TB:.*]] = attn.param "bf16_table" : tensor<100x64xbf16>
  %tb = attn.param "bf16_table" : tensor<100x64xbf16>
  // CHECK: attn.embed %[[TB]], %[[TOK32]] : tensor<100x64xbf16>, tensor<2x5xi32> -> tensor<2x5x64xbf16>
  %1 = attn.embed %tb, %tokens32
      : tensor<100x64xbf16>, tensor<2x5xi32> -> tensor<2x5x64xbf16>
  // Rank-1 token ids (no batch dimension).
  // CHECK: attn.embed %[[T]], %[[TOK1]] : tensor<256x192xf32>, tensor<7xi64> -> tensor<7x192xf32>
  %2 = attn.embed %table, %tokens1
      : tensor<256x192xf32>, tensor<7xi64> -> tensor<7x192xf32>
  return %0, %1, %2
      : tensor<?x?x192xf32>, tensor<2x5x64xbf16>, tensor<7x192xf32>
}

//===----------------------------------------------------------------------===//
// attn.linear
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x192xf32>, %[[XS:.*]]: tensor<2x3x192xf32>, %[[X1:.*]]: tensor<192xf32>, %[[XB:.*]]: tensor<?x16xbf16>)
func.func @linear(%x: tensor<?x?x192xf32>, %xs: tensor<2x3x192xf32>,
                  %x1: tensor<192xf32>, %xb: tensor<?x16xbf16>)
    -> (tensor<?x?x192xf32>, tensor<?x?x64xf32>, tensor<2x3x64xf32>,
        tensor<64xf32>, tensor<?x8xbf16>) {
  // CHECK: %[[WQ:.*]] = attn.param "wq" : tensor<192x192xf32>
  // CHECK: %[[WK:.*]] = attn.param "wk" : tensor<64x192xf32>
  // CHECK: %[[BK:.*]] = attn.param "bk" : tensor<64xf32>
  %wq = attn.param "wq" : tensor<192x192xf32>
  %wk = attn.param "wk" : tensor<64x192xf32>
  %bk = attn.param "bk" : tensor<64xf32>
  // Without bias.
  // CHECK: attn.linear %[[X]], %[[WQ]] : tensor<?x?x192xf32>, tensor<192x192xf32> -> tensor<?x?x192xf32>
  %q = attn.linear %x, %wq
      : tensor<?x?x192xf32>, tensor<192x192xf32> -> tensor<?x?x192xf32>
  // With bias (Qwen2 style k_proj).
  // CHECK: attn.linear %[[X]], %[[WK]], %[[BK]] : tensor<?x?x192xf32>, tensor<64x192xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  %k = attn.linear %x, %wk, %bk
      : tensor<?x?x192xf32>, tensor<64x192xf32>, tensor<64xf32>
      -> tensor<?x?x64xf32>
  // Fully static shapes.
  // CHECK: attn.linear %[[XS]], %[[WK]], %[[BK]] : tensor<2x3x192xf32>, tensor<64x192xf32>, tensor<64xf32> -> tensor<2x3x64xf32>
  %s = attn.linear %xs, %wk, %bk
      : tensor<2x3x192xf32>, tensor<64x192xf32>, tensor<64xf32>
      -> tensor<2x3x64xf32>
  // A rank-1 input is a single vector.
  // CHECK: attn.linear %[[X1]], %[[WK]] : tensor<192xf32>, tensor<64x192xf32> -> tensor<64xf32>
  %v = attn.linear %x1, %wk
      : tensor<192xf32>, tensor<64x192xf32> -> tensor<64xf32>
  // bf16.
  // CHECK: %[[WB:.*]] = attn.param "wb" : tensor<8x16xbf16>
  // CHECK: attn.linear %[[XB]], %[[WB]] : tensor<?x16xbf16>, tensor<8x16xbf16> -> tensor<?x8xbf16>
  %wb = attn.param "wb" : tensor<8x16xbf16>
  %b = attn.linear %xb, %wb
      : tensor<?x16xbf16>, tensor<8x16xbf16> -> tensor<?x8xbf16>
  return %q, %k, %s, %v, %b
      : tensor<?x?x192xf32>, tensor<?x?x64xf32>, tensor<2x3x64xf32>,
        tensor<64xf32>, tensor<?x8xbf16>
}

// The weight may be dynamic too (a value computed by the function, not a
// stored parameter).
// CHECK-LABEL: func.func @linear_dynamic_weight
// CHECK: attn.linear %{{.*}}, %{{.*}} : tensor<?x?xf16>, tensor<?x?xf16> -> tensor<?x?xf16>
func.func @linear_dynamic_weight(%x: tensor<?x?xf16>, %w: tensor<?x?xf16>)
    -> tensor<?x?xf16> {
  %0 = attn.linear %x, %w : tensor<?x?xf16>, tensor<?x?xf16> -> tensor<?x?xf16>
  return %0 : tensor<?x?xf16>
}

//===----------------------------------------------------------------------===//
// attn.rms_norm
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @rms_norm
func.func @rms_norm(%x: tensor<?x?x192xf32>, %xb: tensor<1x4x64xbf16>)
    -> (tensor<?x?x192xf32>, tensor<1x4x64xbf16>) {
  %w = attn.param "norm" : tensor<192xf32>
  %wb = attn.param "norm_bf16" : tensor<64xbf16>
  // CHECK: attn.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<?x?x192xf32>, tensor<192xf32>
  %0 = attn.rms_norm %x, %w {epsilon = 1.0e-05 : f64}
      : tensor<?x?x192xf32>, tensor<192xf32>
  // epsilon = 0 is allowed.
  // CHECK: attn.rms_norm %{{.*}}, %{{.*}} {epsilon = 0.000000e+00 : f64} : tensor<1x4x64xbf16>, tensor<64xbf16>
  %1 = attn.rms_norm %xb, %wb {epsilon = 0.0 : f64}
      : tensor<1x4x64xbf16>, tensor<64xbf16>
  return %0, %1 : tensor<?x?x192xf32>, tensor<1x4x64xbf16>
}

//===----------------------------------------------------------------------===//
// attn.mlp
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @mlp
func.func @mlp(%x: tensor<?x?x192xf32>, %xh: tensor<3x16xf16>)
    -> (tensor<?x?x192xf32>, tensor<3x16xf16>) {
  %gate = attn.param "gate" : tensor<512x192xf32>
  %up = attn.param "up" : tensor<512x192xf32>
  %down = attn.param "down" : tensor<192x512xf32>
  // CHECK: attn.mlp %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x192xf32>, tensor<512x192xf32>, tensor<512x192xf32>, tensor<192x512xf32>
  %0 = attn.mlp %x, %gate, %up, %down : tensor<?x?x192xf32>,
      tensor<512x192xf32>, tensor<512x192xf32>, tensor<192x512xf32>
  %g = attn.param "gate_h" : tensor<40x16xf16>
  %u = attn.param "up_h" : tensor<40x16xf16>
  %d = attn.param "down_h" : tensor<16x40xf16>
  // CHECK: attn.mlp %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<3x16xf16>, tensor<40x16xf16>, tensor<40x16xf16>, tensor<16x40xf16>
  %1 = attn.mlp %xh, %g, %u, %d : tensor<3x16xf16>,
      tensor<40x16xf16>, tensor<40x16xf16>, tensor<16x40xf16>
  return %0, %1 : tensor<?x?x192xf32>, tensor<3x16xf16>
}

//===----------------------------------------------------------------------===//
// attn.rope
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @rope
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x6x32xf32>, %[[POS:.*]]: tensor<?x?xi64>, %[[K:.*]]: tensor<1x5x2x8xf32>, %[[POS5:.*]]: tensor<1x5xi32>, %[[QB:.*]]: tensor<?x?x4x64xbf16>)
func.func @rope(%q: tensor<?x?x6x32xf32>, %pos: tensor<?x?xi64>,
                %k: tensor<1x5x2x8xf32>, %pos5: tensor<1x5xi32>,
                %qb: tensor<?x?x4x64xbf16>)
    -> (tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>,
        tensor<1x5x2x8xf32>, tensor<?x?x6x32xf32>, tensor<?x?x4x64xbf16>) {
  // rotate_half pairing (Hugging Face Llama), the whole head rotates.
  // CHECK: attn.rope %[[Q]], %[[POS]] {pairing = #attn<pairing rotate_half>, rotary_dim = 32 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64,
                           pairing = #attn<pairing rotate_half>}
      : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  // interleaved pairing (GPT-J / Meta reference).
  // CHECK: attn.rope %[[Q]], %[[POS]] {pairing = #attn<pairing interleaved>, rotary_dim = 32 : i64, theta = 5.000000e+05 : f64} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  %1 = attn.rope %q, %pos {theta = 5.0e+05 : f64, rotary_dim = 32 : i64,
                           pairing = #attn<pairing interleaved>}
      : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  // Partial rotary: only the first 16 of 32 channels rotate.
  // CHECK: attn.rope %[[Q]], %[[POS]] {pairing = #attn<pairing rotate_half>, rotary_dim = 16 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  %2 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 16 : i64,
                           pairing = #attn<pairing rotate_half>}
      : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  // A3 kept frequencies 0, 3, 7 and 12 of the original 16 pairs; static
  // shapes and i32 positions.
  // CHECK: attn.rope %[[K]], %[[POS5]] {base_dim = 32 : i64, frequencies = array<i64: 0, 3, 7, 12>, pairing = #attn<pairing rotate_half>, rotary_dim = 8 : i64, theta = 1.000000e+04 : f64} : tensor<1x5x2x8xf32>, tensor<1x5xi32>
  %3 = attn.rope %k, %pos5 {theta = 1.0e+04 : f64, rotary_dim = 8 : i64,
                            base_dim = 32 : i64,
                            frequencies = array<i64: 0, 3, 7, 12>,
                            pairing = #attn<pairing rotate_half>}
      : tensor<1x5x2x8xf32>, tensor<1x5xi32>
  // base_dim without a frequency list: the first pairs of a wider head's
  // spectrum, interleaved.
  // CHECK: attn.rope %[[Q]], %[[POS]] {base_dim = 64 : i64, pairing = #attn<pairing interleaved>, rotary_dim = 16 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  %4 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 16 : i64,
                           base_dim = 64 : i64,
                           pairing = #attn<pairing interleaved>}
      : tensor<?x?x6x32xf32>, tensor<?x?xi64>
  // bf16 heads, partial rotary with frequencies and interleaved pairing.
  // CHECK: attn.rope %[[QB]], %[[POS]] {base_dim = 64 : i64, frequencies = array<i64: 1, 2>, pairing = #attn<pairing interleaved>, rotary_dim = 4 : i64, theta = 1.000000e+06 : f64} : tensor<?x?x4x64xbf16>, tensor<?x?xi64>
  %5 = attn.rope %qb, %pos {theta = 1.0e+06 : f64, rotary_dim = 4 : i64,
                            base_dim = 64 : i64,
                            frequencies = array<i64: 1, 2>,
                            pairing = #attn<pairing interleaved>}
      : tensor<?x?x4x64xbf16>, tensor<?x?xi64>
  return %0, %1, %2, %3, %4, %5
      : tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>,
        tensor<1x5x2x8xf32>, tensor<?x?x6x32xf32>, tensor<?x?x4x64xbf16>
}

// The head dim may be dynamic; rotary_dim is then checked at run time.
// CHECK-LABEL: func.func @rope_dynamic_head_dim
// CHECK: attn.rope %{{.*}}, %{{.*}} {pairing = #attn<pairing rotate_half>, rotary_dim = 8 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x?x?xf16>, tensor<?x?xi64>
func.func @rope_dynamic_head_dim(%q: tensor<?x?x?x?xf16>, %pos: tensor<?x?xi64>)
    -> tensor<?x?x?x?xf16> {
  %0 = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64,
                           pairing = #attn<pairing rotate_half>}
      : tensor<?x?x?x?xf16>, tensor<?x?xi64>
  return %0 : tensor<?x?x?x?xf16>
}

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.*]]: tensor<?x?x6x32xf32>, %[[K:.*]]: tensor<?x?x6x32xf32>, %[[V:.*]]: tensor<?x?x6x32xf32>, %[[KG:.*]]: tensor<?x?x2x32xf32>, %[[VG:.*]]: tensor<?x?x2x32xf32>, %[[K1:.*]]: tensor<?x?x1x32xf32>, %[[V1:.*]]: tensor<?x?x1x32xf32>)
func.func @attention(%q: tensor<?x?x6x32xf32>,
                     %k: tensor<?x?x6x32xf32>, %v: tensor<?x?x6x32xf32>,
                     %kg: tensor<?x?x2x32xf32>, %vg: tensor<?x?x2x32xf32>,
                     %k1: tensor<?x?x1x32xf32>, %v1: tensor<?x?x1x32xf32>)
    -> (tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>,
        tensor<?x?x6x32xf32>) {
  // Multi-head, causal.
  // CHECK: attn.attention %[[Q]], %[[K]], %[[V]] {causal, scale = 0.17677669529663687 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32> -> tensor<?x?x6x32xf32>
  %0 = attn.attention %q, %k, %v {causal, scale = 0.17677669529663687 : f64}
      : tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>
      -> tensor<?x?x6x32xf32>
  // Not causal (an encoder, or cross attention).
  // CHECK: attn.attention %[[Q]], %[[K]], %[[V]] {scale = 1.250000e-01 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32> -> tensor<?x?x6x32xf32>
  %1 = attn.attention %q, %k, %v {scale = 0.125 : f64}
      : tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>
      -> tensor<?x?x6x32xf32>
  // GQA: 6 query heads read 2 key/value heads.
  // CHECK: attn.attention %[[Q]], %[[KG]], %[[VG]] {causal, scale = 0.17677669529663687 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32> -> tensor<?x?x6x32xf32>
  %2 = attn.attention %q, %kg, %vg {causal, scale = 0.17677669529663687 : f64}
      : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>
      -> tensor<?x?x6x32xf32>
  // MQA: one key/value head.
  // CHECK: attn.attention %[[Q]], %[[K1]], %[[V1]] {causal, scale = 0.17677669529663687 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32> -> tensor<?x?x6x32xf32>
  %3 = attn.attention %q, %k1, %v1 {causal, scale = 0.17677669529663687 : f64}
      : tensor<?x?x6x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>
      -> tensor<?x?x6x32xf32>
  return %0, %1, %2, %3
      : tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>, tensor<?x?x6x32xf32>,
        tensor<?x?x6x32xf32>
}

// MLA in absorbed form: one KV head, k = [c ; k_rope] (96 = 64 + 32) and
// v = c, so d_qk = 96 differs from d_v = 64.
// CHECK-LABEL: func.func @attention_mla_absorbed
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 1.000000e-01 : f64} : tensor<?x?x8x96xf32>, tensor<?x?x1x96xf32>, tensor<?x?x1x64xf32> -> tensor<?x?x8x64xf32>
func.func @attention_mla_absorbed(%q: tensor<?x?x8x96xf32>,
                                  %k: tensor<?x?x1x96xf32>,
                                  %v: tensor<?x?x1x64xf32>)
    -> tensor<?x?x8x64xf32> {
  %0 = attn.attention %q, %k, %v {causal, scale = 0.1 : f64}
      : tensor<?x?x8x96xf32>, tensor<?x?x1x96xf32>, tensor<?x?x1x64xf32>
      -> tensor<?x?x8x64xf32>
  return %0 : tensor<?x?x8x64xf32>
}

// Static shapes: decode (q_len 1) over 17 cached tokens, bf16 and f16; an
// odd head dim.
// CHECK-LABEL: func.func @attention_static
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 2.500000e-01 : f64} : tensor<2x1x4x16xbf16>, tensor<2x17x2x16xbf16>, tensor<2x17x2x16xbf16> -> tensor<2x1x4x16xbf16>
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.000000e-01 : f64} : tensor<1x3x3x5xf16>, tensor<1x3x3x5xf16>, tensor<1x3x3x7xf16> -> tensor<1x3x3x7xf16>
func.func @attention_static(%q: tensor<2x1x4x16xbf16>,
                            %k: tensor<2x17x2x16xbf16>,
                            %v: tensor<2x17x2x16xbf16>,
                            %qh: tensor<1x3x3x5xf16>, %kh: tensor<1x3x3x5xf16>,
                            %vh: tensor<1x3x3x7xf16>)
    -> (tensor<2x1x4x16xbf16>, tensor<1x3x3x7xf16>) {
  %0 = attn.attention %q, %k, %v {causal, scale = 0.25 : f64}
      : tensor<2x1x4x16xbf16>, tensor<2x17x2x16xbf16>, tensor<2x17x2x16xbf16>
      -> tensor<2x1x4x16xbf16>
  %1 = attn.attention %qh, %kh, %vh {scale = 0.2 : f64}
      : tensor<1x3x3x5xf16>, tensor<1x3x3x5xf16>, tensor<1x3x3x7xf16>
      -> tensor<1x3x3x7xf16>
  return %0, %1 : tensor<2x1x4x16xbf16>, tensor<1x3x3x7xf16>
}

// Head counts may be dynamic; divisibility is then checked at run time.
// CHECK-LABEL: func.func @attention_dynamic_heads
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 1.000000e+00 : f64} : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
func.func @attention_dynamic_heads(%q: tensor<?x?x?x?xf32>,
                                   %k: tensor<?x?x?x?xf32>,
                                   %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %0 = attn.attention %q, %k, %v {causal, scale = 1.0 : f64}
      : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
      -> tensor<?x?x?x?xf32>
  return %0 : tensor<?x?x?x?xf32>
}

//===----------------------------------------------------------------------===//
// attn.cache_update
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @cache_update
// CHECK-SAME: (%[[C:.*]]: tensor<?x?x2x32xf32>, %[[N:.*]]: tensor<?x?x2x32xf32>, %[[CS:.*]]: tensor<1x64x2x32xbf16>, %[[NS:.*]]: tensor<1x1x2x32xbf16>, %[[ND:.*]]: tensor<1x?x2x32xbf16>, %[[P:.*]]: index)
func.func @cache_update(%c: tensor<?x?x2x32xf32>, %new: tensor<?x?x2x32xf32>,
                        %cs: tensor<1x64x2x32xbf16>,
                        %ns: tensor<1x1x2x32xbf16>,
                        %nd: tensor<1x?x2x32xbf16>, %pos: index)
    -> (tensor<?x?x2x32xf32>, tensor<1x64x2x32xbf16>,
        tensor<1x64x2x32xbf16>) {
  // Dynamic batch and capacity.
  // CHECK: attn.cache_update %[[C]][%[[P]]], %[[N]] : tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>
  %0 = attn.cache_update %c[%pos], %new
      : tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>
  // A static cache of 64 tokens, one decode token.
  // CHECK: attn.cache_update %[[CS]][%[[P]]], %[[NS]] : tensor<1x64x2x32xbf16>, tensor<1x1x2x32xbf16>
  %1 = attn.cache_update %cs[%pos], %ns
      : tensor<1x64x2x32xbf16>, tensor<1x1x2x32xbf16>
  // A prompt of dynamic length into a static cache.
  // CHECK: attn.cache_update %[[CS]][%[[P]]], %[[ND]] : tensor<1x64x2x32xbf16>, tensor<1x?x2x32xbf16>
  %2 = attn.cache_update %cs[%pos], %nd
      : tensor<1x64x2x32xbf16>, tensor<1x?x2x32xbf16>
  return %0, %1, %2
      : tensor<?x?x2x32xf32>, tensor<1x64x2x32xbf16>, tensor<1x64x2x32xbf16>
}

//===----------------------------------------------------------------------===//
// One decoder layer, as attn-import writes it: discardable attn.layer
// attributes survive the round trip.
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @layer
// CHECK: attn.rms_norm {{.*}} {attn.layer = 0 : i64, epsilon = 1.000000e-05 : f64}
// CHECK: attn.linear {{.*}} {attn.layer = 0 : i64}
// CHECK: attn.rope {{.*}} {attn.layer = 0 : i64, pairing = #attn<pairing rotate_half>, rotary_dim = 16 : i64, theta = 1.000000e+04 : f64}
// CHECK: attn.cache_update {{.*}} {attn.layer = 0 : i64}
// CHECK: tensor.extract_slice
// CHECK: attn.attention {{.*}} {attn.layer = 0 : i64, causal, scale = 2.500000e-01 : f64}
// CHECK: tensor.collapse_shape
// CHECK: attn.mlp {{.*}} {attn.layer = 0 : i64}
func.func @layer(%h: tensor<1x?x32xf32>, %pos: tensor<1x?xi64>,
                 %kc: tensor<1x64x1x16xf32>, %vc: tensor<1x64x1x16xf32>,
                 %start: index)
    -> (tensor<1x?x32xf32>, tensor<1x64x1x16xf32>, tensor<1x64x1x16xf32>) {
  %c1 = arith.constant 1 : index
  %n = tensor.dim %h, %c1 : tensor<1x?x32xf32>
  %end = arith.addi %start, %n : index
  %norm = attn.param "model.layers.0.input_layernorm.weight" : tensor<32xf32>
  %wq = attn.param "model.layers.0.self_attn.q_proj.weight" : tensor<32x32xf32>
  %wk = attn.param "model.layers.0.self_attn.k_proj.weight" : tensor<16x32xf32>
  %wv = attn.param "model.layers.0.self_attn.v_proj.weight" : tensor<16x32xf32>
  %wo = attn.param "model.layers.0.self_attn.o_proj.weight" : tensor<32x32xf32>
  %x = attn.rms_norm %h, %norm {attn.layer = 0 : i64, epsilon = 1.0e-05 : f64}
      : tensor<1x?x32xf32>, tensor<32xf32>
  %q2 = attn.linear %x, %wq {attn.layer = 0 : i64}
      : tensor<1x?x32xf32>, tensor<32x32xf32> -> tensor<1x?x32xf32>
  %k2 = attn.linear %x, %wk {attn.layer = 0 : i64}
      : tensor<1x?x32xf32>, tensor<16x32xf32> -> tensor<1x?x16xf32>
  %v2 = attn.linear %x, %wv {attn.layer = 0 : i64}
      : tensor<1x?x32xf32>, tensor<16x32xf32> -> tensor<1x?x16xf32>
  %q = tensor.expand_shape %q2 [[0], [1], [2, 3]] output_shape [1, %n, 2, 16]
      : tensor<1x?x32xf32> into tensor<1x?x2x16xf32>
  %k = tensor.expand_shape %k2 [[0], [1], [2, 3]] output_shape [1, %n, 1, 16]
      : tensor<1x?x16xf32> into tensor<1x?x1x16xf32>
  %v = tensor.expand_shape %v2 [[0], [1], [2, 3]] output_shape [1, %n, 1, 16]
      : tensor<1x?x16xf32> into tensor<1x?x1x16xf32>
  %qr = attn.rope %q, %pos {attn.layer = 0 : i64, theta = 1.0e+04 : f64,
                            rotary_dim = 16 : i64,
                            pairing = #attn<pairing rotate_half>}
      : tensor<1x?x2x16xf32>, tensor<1x?xi64>
  %kr = attn.rope %k, %pos {attn.layer = 0 : i64, theta = 1.0e+04 : f64,
                            rotary_dim = 16 : i64,
                            pairing = #attn<pairing rotate_half>}
      : tensor<1x?x1x16xf32>, tensor<1x?xi64>
  %kc1 = attn.cache_update %kc[%start], %kr {attn.layer = 0 : i64}
      : tensor<1x64x1x16xf32>, tensor<1x?x1x16xf32>
  %vc1 = attn.cache_update %vc[%start], %v {attn.layer = 0 : i64}
      : tensor<1x64x1x16xf32>, tensor<1x?x1x16xf32>
  %ks = tensor.extract_slice %kc1[0, 0, 0, 0] [1, %end, 1, 16] [1, 1, 1, 1]
      : tensor<1x64x1x16xf32> to tensor<1x?x1x16xf32>
  %vs = tensor.extract_slice %vc1[0, 0, 0, 0] [1, %end, 1, 16] [1, 1, 1, 1]
      : tensor<1x64x1x16xf32> to tensor<1x?x1x16xf32>
  %o = attn.attention %qr, %ks, %vs {attn.layer = 0 : i64, causal,
                                      scale = 0.25 : f64}
      : tensor<1x?x2x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>
      -> tensor<1x?x2x16xf32>
  %o2 = tensor.collapse_shape %o [[0], [1], [2, 3]]
      : tensor<1x?x2x16xf32> into tensor<1x?x32xf32>
  %a = attn.linear %o2, %wo {attn.layer = 0 : i64}
      : tensor<1x?x32xf32>, tensor<32x32xf32> -> tensor<1x?x32xf32>
  %h1 = arith.addf %h, %a : tensor<1x?x32xf32>
  %gate = attn.param "model.layers.0.mlp.gate_proj.weight" : tensor<64x32xf32>
  %up = attn.param "model.layers.0.mlp.up_proj.weight" : tensor<64x32xf32>
  %down = attn.param "model.layers.0.mlp.down_proj.weight" : tensor<32x64xf32>
  %m = attn.mlp %h1, %gate, %up, %down {attn.layer = 0 : i64}
      : tensor<1x?x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>,
        tensor<32x64xf32>
  %h2 = arith.addf %h1, %m : tensor<1x?x32xf32>
  return %h2, %kc1, %vc1
      : tensor<1x?x32xf32>, tensor<1x64x1x16xf32>, tensor<1x64x1x16xf32>
}

//===----------------------------------------------------------------------===//
// Training: attn.linear_grad_weight, attn.linear_grad_input,
// attn.pamm_compress, attn.pamm_grad_weight
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @projection_backward
func.func @projection_backward(%x: tensor<?x?x192xf32>, %dq: tensor<?x?x192xf32>,
                               %dk: tensor<?x?x64xf32>,
                               %wq: tensor<192x192xf32>, %wk: tensor<64x192xf32>)
    -> (tensor<192x192xf32>, tensor<64x192xf32>, tensor<?x?x192xf32>) {
  // CHECK: attn.linear_grad_weight %{{.*}}, %{{.*}} : tensor<?x?x192xf32>, tensor<?x?x192xf32> -> tensor<192x192xf32>
  %dwq = attn.linear_grad_weight %dq, %x
      : tensor<?x?x192xf32>, tensor<?x?x192xf32> -> tensor<192x192xf32>
  // CHECK: attn.linear_grad_weight %{{.*}}, %{{.*}} {attn.layer = 3 : i64} : tensor<?x?x64xf32>, tensor<?x?x192xf32> -> tensor<64x192xf32>
  %dwk = attn.linear_grad_weight %dk, %x {attn.layer = 3 : i64}
      : tensor<?x?x64xf32>, tensor<?x?x192xf32> -> tensor<64x192xf32>
  // CHECK: attn.linear_grad_input %{{.*}}, %{{.*}} : tensor<?x?x192xf32>, tensor<192x192xf32> -> tensor<?x?x192xf32>
  %dxq = attn.linear_grad_input %dq, %wq
      : tensor<?x?x192xf32>, tensor<192x192xf32> -> tensor<?x?x192xf32>
  // CHECK: attn.linear_grad_input %{{.*}}, %{{.*}} : tensor<?x?x64xf32>, tensor<64x192xf32> -> tensor<?x?x192xf32>
  %dxk = attn.linear_grad_input %dk, %wk
      : tensor<?x?x64xf32>, tensor<64x192xf32> -> tensor<?x?x192xf32>
  %dx = arith.addf %dxq, %dxk : tensor<?x?x192xf32>
  return %dwq, %dwk, %dx
      : tensor<192x192xf32>, tensor<64x192xf32>, tensor<?x?x192xf32>
}

// Static and mixed shapes, other float types, a single token (rank 1).
// CHECK-LABEL: func.func @projection_backward_shapes
func.func @projection_backward_shapes(%x: tensor<4x8x16xbf16>,
                                      %dy: tensor<4x?x8xbf16>,
                                      %x1: tensor<16xf64>, %dy1: tensor<8xf64>,
                                      %w: tensor<8x16xf64>)
    -> (tensor<8x16xbf16>, tensor<8x16xf64>, tensor<16xf64>) {
  // CHECK: attn.linear_grad_weight %{{.*}}, %{{.*}} : tensor<4x?x8xbf16>, tensor<4x8x16xbf16> -> tensor<8x16xbf16>
  %0 = attn.linear_grad_weight %dy, %x
      : tensor<4x?x8xbf16>, tensor<4x8x16xbf16> -> tensor<8x16xbf16>
  // CHECK: attn.linear_grad_weight %{{.*}}, %{{.*}} : tensor<8xf64>, tensor<16xf64> -> tensor<8x16xf64>
  %1 = attn.linear_grad_weight %dy1, %x1
      : tensor<8xf64>, tensor<16xf64> -> tensor<8x16xf64>
  // CHECK: attn.linear_grad_input %{{.*}}, %{{.*}} : tensor<8xf64>, tensor<8x16xf64> -> tensor<16xf64>
  %2 = attn.linear_grad_input %dy1, %w
      : tensor<8xf64>, tensor<8x16xf64> -> tensor<16xf64>
  return %0, %1, %2 : tensor<8x16xbf16>, tensor<8x16xf64>, tensor<16xf64>
}

// CHECK-LABEL: func.func @pamm
func.func @pamm(%x: tensor<?x?x192xf32>, %dq: tensor<?x?x192xf32>,
                %dk: tensor<?x?x64xf32>)
    -> (tensor<192x192xf32>, tensor<64x192xf32>) {
  // CHECK: %[[C:.*]], %[[F:.*]], %[[A:.*]] = attn.pamm_compress %{{.*}} {ratio = 0.001953125 : f64, seed = 0 : i64} : tensor<?x?x192xf32> -> tensor<?x192xf32>, tensor<?x?xi32>, tensor<?x?xf32>
  %c, %f, %alpha = attn.pamm_compress %x {ratio = 1.953125e-03 : f64, seed = 0 : i64}
      : tensor<?x?x192xf32> -> tensor<?x192xf32>, tensor<?x?xi32>, tensor<?x?xf32>
  // CHECK: attn.pamm_grad_weight %{{.*}}, %[[C]], %[[F]], %[[A]] : tensor<?x?x192xf32>, tensor<?x192xf32>, tensor<?x?xi32>, tensor<?x?xf32> -> tensor<192x192xf32>
  %dwq = attn.pamm_grad_weight %dq, %c, %f, %alpha
      : tensor<?x?x192xf32>, tensor<?x192xf32>, tensor<?x?xi32>, tensor<?x?xf32>
      -> tensor<192x192xf32>
  // CHECK: attn.pamm_grad_weight %{{.*}}, %[[C]], %[[F]], %[[A]] {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<?x192xf32>, tensor<?x?xi32>, tensor<?x?xf32> -> tensor<64x192xf32>
  %dwk = attn.pamm_grad_weight %dk, %c, %f, %alpha {attn.layer = 0 : i64}
      : tensor<?x?x64xf32>, tensor<?x192xf32>, tensor<?x?xi32>, tensor<?x?xf32>
      -> tensor<64x192xf32>
  return %dwq, %dwk : tensor<192x192xf32>, tensor<64x192xf32>
}

// Static tokens fix k = clamp(ceil(ratio * b), 1, b): 32 tokens at 1/8 give
// 4 generators, at 1/512 one, at 1 all 32; epsilon is optional; a rank-1
// input is one token with rank-0 assignment and scale.
// CHECK-LABEL: func.func @pamm_static
func.func @pamm_static(%x: tensor<2x16x64xf32>, %x1: tensor<8xf16>)
    -> (tensor<4x64xf32>, tensor<1x64xf32>, tensor<32x64xf32>, tensor<1x8xf16>,
        tensor<i32>, tensor<f16>) {
  // CHECK: attn.pamm_compress %{{.*}} {epsilon = 5.000000e-01 : f64, ratio = 1.250000e-01 : f64, seed = 7 : i64} : tensor<2x16x64xf32> -> tensor<4x64xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  %c, %f, %a = attn.pamm_compress %x {epsilon = 5.000000e-01 : f64, ratio = 1.250000e-01 : f64, seed = 7 : i64}
      : tensor<2x16x64xf32> -> tensor<4x64xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  // CHECK: attn.pamm_compress %{{.*}} {ratio = 0.001953125 : f64, seed = -3 : i64} : tensor<2x16x64xf32> -> tensor<1x64xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  %c1, %f1, %a1 = attn.pamm_compress %x {ratio = 1.953125e-03 : f64, seed = -3 : i64}
      : tensor<2x16x64xf32> -> tensor<1x64xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  // CHECK: attn.pamm_compress %{{.*}} {ratio = 1.000000e+00 : f64, seed = 0 : i64} : tensor<2x16x64xf32> -> tensor<32x64xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  %c2, %f2, %a2 = attn.pamm_compress %x {ratio = 1.0 : f64, seed = 0 : i64}
      : tensor<2x16x64xf32> -> tensor<32x64xf32>, tensor<2x16xi32>, tensor<2x16xf32>
  // CHECK: attn.pamm_compress %{{.*}} {ratio = 5.000000e-01 : f64, seed = 1 : i64} : tensor<8xf16> -> tensor<1x8xf16>, tensor<i32>, tensor<f16>
  %c3, %f3, %a3 = attn.pamm_compress %x1 {ratio = 0.5 : f64, seed = 1 : i64}
      : tensor<8xf16> -> tensor<1x8xf16>, tensor<i32>, tensor<f16>
  return %c, %c1, %c2, %c3, %f3, %a3
      : tensor<4x64xf32>, tensor<1x64xf32>, tensor<32x64xf32>, tensor<1x8xf16>,
        tensor<i32>, tensor<f16>
}

//===----------------------------------------------------------------------===//
// attn.sparse_encode, attn.sparse_decode, attn.kv_quantize, encoded caches
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @kv_codecs
func.func @kv_codecs(%k: tensor<?x?x2x32xf32>, %d: tensor<256x32xf32>,
                     %dv: tensor<64x16xf32>, %ci: tensor<?x?x2x4xi16>,
                     %cc: tensor<?x?x2x4xf16>, %pos: index)
    -> (tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x4xi16>,
        tensor<?x?x2x4xf16>, tensor<?x?x2x32xf32>) {
  // CHECK: attn.sparse_encode %{{.*}}, %{{.*}} {chunks = 1 : i64, sparsity = 4 : i64} : tensor<?x?x2x32xf32>, tensor<256x32xf32> -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
  %i, %c = attn.sparse_encode %k, %d {sparsity = 4 : i64, chunks = 1 : i64}
      : tensor<?x?x2x32xf32>, tensor<256x32xf32>
      -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
  // CHECK: attn.cache_update %{{.*}}[%{{.*}}], %{{.*}} : tensor<?x?x2x4xi16>, tensor<?x?x2x4xi16>
  %ci1 = attn.cache_update %ci[%pos], %i : tensor<?x?x2x4xi16>, tensor<?x?x2x4xi16>
  // CHECK: attn.cache_update %{{.*}}[%{{.*}}], %{{.*}} : tensor<?x?x2x4xf16>, tensor<?x?x2x4xf16>
  %cc1 = attn.cache_update %cc[%pos], %c : tensor<?x?x2x4xf16>, tensor<?x?x2x4xf16>
  // CHECK: attn.sparse_decode %{{.*}}, %{{.*}}, %{{.*}} {chunks = 1 : i64} : tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<256x32xf32> -> tensor<?x?x2x32xf32>
  %y = attn.sparse_decode %ci1, %cc1, %d {chunks = 1 : i64}
      : tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<256x32xf32>
      -> tensor<?x?x2x32xf32>
  // Two chunks of 16 channels, 2 codes each.
  // CHECK: attn.sparse_encode %{{.*}}, %{{.*}} {chunks = 2 : i64, sparsity = 2 : i64} : tensor<?x?x2x32xf32>, tensor<64x16xf32> -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
  %vi, %vc = attn.sparse_encode %k, %dv {sparsity = 2 : i64, chunks = 2 : i64}
      : tensor<?x?x2x32xf32>, tensor<64x16xf32>
      -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
  // CHECK: attn.kv_quantize %{{.*}} {axis = "channel", bits = 2 : i64, group = 32 : i64, window = 32 : i64} : tensor<?x?x2x32xf32>
  %q = attn.kv_quantize %k {axis = "channel", bits = 2 : i64, group = 32 : i64,
                            window = 32 : i64} : tensor<?x?x2x32xf32>
  return %y, %q, %vi, %vc, %k : tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>,
      tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<?x?x2x32xf32>
}

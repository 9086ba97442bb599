// The report's numbers are computed by hand below from the formulas in
// Passes.td (AttnReportPass); the model is a 2-layer Llama-style decoder
// with d_model 16, 4 query heads of dim 4, an MLP of width 32, vocab 64.
//
// RUN: split-file %s %t
// RUN: attn-opt %t/model.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/uncountable.mlir --split-input-file --verify-roundtrip -o /dev/null
//
// Text, default seq-len (1024).
// RUN: attn-opt %t/model.mlir --attn-report -o /dev/null | FileCheck %s --check-prefix=TEXT
//
// Options: seq-len and label.
// RUN: attn-opt %t/model.mlir --attn-report="seq-len=16 label=before" -o /dev/null | FileCheck %s --check-prefix=S16
//
// output= writes the report to a file and nothing to stdout.
// RUN: attn-opt %t/model.mlir --attn-report="seq-len=16 label=before output=%t/report.txt" -o /dev/null | FileCheck %s --check-prefix=NOSTDOUT --allow-empty
// RUN: FileCheck %s --check-prefix=S16 --input-file=%t/report.txt
//
// JSON, through the pass option and through the tool-wide default; an
// explicit format= wins over the default.
// RUN: attn-opt %t/model.mlir --attn-report="format=json seq-len=16 label=before" -o /dev/null | FileCheck %s --check-prefix=JSON
// RUN: attn-opt %t/model.mlir --attn-report="seq-len=16 label=before" --attn-report-format=json -o /dev/null | FileCheck %s --check-prefix=JSON
// RUN: attn-opt %t/model.mlir --attn-report="seq-len=16 format=text" --attn-report-format=json -o /dev/null | FileCheck %s --check-prefix=S16-NOLABEL
// RUN: attn-opt %t/model.mlir --attn-report="format=json output=%t/report.json" -o /dev/null
// RUN: FileCheck %s --check-prefix=JSON1024 --input-file=%t/report.json
//
// The pass only reads: the IR comes out as it went in.
// RUN: attn-opt %t/model.mlir --attn-report="output=%t/ignored.txt" | FileCheck %s --check-prefix=IR
//
// Bad options are diagnostics that name the option.
// RUN: not attn-opt %t/model.mlir --attn-report="format=xml" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-FORMAT
// RUN: not attn-opt %t/model.mlir --attn-report --attn-report-format=xml -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-FORMAT
// RUN: not attn-opt %t/model.mlir --attn-report="seq-len=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-SEQ
// RUN: not attn-opt %t/model.mlir --attn-report="seq-len=-3" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-SEQ-NEG
// RUN: not attn-opt %t/model.mlir --attn-report="seq-len=abc" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-SEQ-PARSE
// RUN: not attn-opt %t/model.mlir --attn-report="budget=3" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-NAME
// RUN: not attn-opt %t/model.mlir --attn-report="output=%t/no/such/dir/r.txt" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-OUTPUT
//
// Verifier-valid IR the formulas cannot count is a diagnostic, not a crash.
// RUN: attn-opt %t/uncountable.mlir --split-input-file --attn-report --verify-diagnostics -o /dev/null
//
// A module without attn ops reports nothing.
// RUN: attn-opt %t/empty.mlir --attn-report -o /dev/null | FileCheck %s --check-prefix=EMPTY --allow-empty

// Hand computation (bytes: f32 = 4, bf16 = 2; FLOPs per token):
//
// layer 0 (GQA 4/2 heads, head dim 4, causal, f32 KV cache)
//   params: input_layernorm 16*4 = 64, q_proj 16*16*4 = 1024,
//           k_proj 8*16*4 = 512, v_proj 8*16*4 = 512, o_proj 16*16*4 = 1024,
//           post_attention_layernorm 16*4 = 64,
//           gate/up 32*16*4 = 2048 each, down 16*32*4 = 2048
//           = 64+1024+512+512+1024+64+3*2048 = 9344
//   kv/token: K and V caches 2 heads * 4 dims * 4 B = 32 each -> 64
//   projections: 2*in*out = 2*16*16 (q) + 2*16*8 (k) + 2*16*8 (v)
//                + 2*16*16 (o) = 512+256+256+512 = 1536
//                mlp 6*d*i = 6*16*32 = 3072  -> 4608
//   attention: q_heads*(d_qk+d_v) = 4*(4+4) = 32
//     causal prefill 32*(S+1): S=1024 -> 32800, S=16 -> 544
//     decode 2*32*S:           S=1024 -> 65536, S=16 -> 1024
//   prefill: 4608+32800 = 37408 (S=16: 4608+544 = 5152)
//   decode:  4608+65536 = 70144 (S=16: 4608+1024 = 5632)
//
// layer 1 (not causal, k_proj shared with layer 0, bf16 gate, bf16 cache)
//   params: 64 + q 1024 + k 0 (model.layers.0.self_attn.k_proj.weight is
//           counted once, in layer 0 where its first attn.param is)
//           + v 512 + o 1024 + 64 + gate 32*16*2 = 1024 + up 2048
//           + down 2048 = 7808
//   kv/token: 2 heads * 4 dims * 2 B = 16 per cache -> 32
//   projections: 1536 + 3072 = 4608 (the shared k_proj still runs here)
//   attention not causal: prefill 2*32*S = 65536 (S=16: 1024), decode the
//     same
//   prefill = decode: 4608+65536 = 70144 (S=16: 4608+1024 = 5632)
//
// other (embedding, final norm, LM head tied to the embedding table)
//   params: embed_tokens 64*16*4 = 4096 (its second attn.param, the LM head,
//           adds nothing) + norm 16*4 = 64 = 4160
//   LM head 2*16*64 = 2048 FLOPs; attn.embed and norms are not counted
//
// total
//   params 9344+7808+4160 = 21312, kv 64+32 = 96,
//   prefill 37408+70144+2048 = 109600 (S=16: 5152+5632+2048 = 12832),
//   decode 70144+70144+2048 = 142336 (S=16: 5632+5632+2048 = 13312),
//   attention ops 2

// TEXT:      attn-report: @forward, 2 layers, seq-len 1024
// TEXT-NEXT: {{^}}layer params(B) kv(B/token) prefill FLOPs/token decode FLOPs/token{{$}}
// TEXT-NEXT: {{^}}0 9344 64 37408 70144{{$}}
// TEXT-NEXT: {{^}}1 7808 32 70144 70144{{$}}
// TEXT-NEXT: {{^}}other 4160 0 2048 2048{{$}}
// TEXT-NEXT: {{^}}total 21312 96 109600 142336{{$}}
// TEXT-NOT:  @helper

// S16:      attn-report [before]: @forward, 2 layers, seq-len 16
// S16-NEXT: {{^}}layer params(B) kv(B/token) prefill FLOPs/token decode FLOPs/token{{$}}
// S16-NEXT: {{^}}0 9344 64 5152 5632{{$}}
// S16-NEXT: {{^}}1 7808 32 5632 5632{{$}}
// S16-NEXT: {{^}}other 4160 0 2048 2048{{$}}
// S16-NEXT: {{^}}total 21312 96 12832 13312{{$}}

// S16-NOLABEL: attn-report: @forward, 2 layers, seq-len 16
// S16-NOLABEL: {{^}}total 21312 96 12832 13312{{$}}

// NOSTDOUT-NOT: attn-report

// JSON:      {
// JSON-NEXT:   "functions": [
// JSON-NEXT:     {
// JSON-NEXT:       "function": "forward",
// JSON-NEXT:       "layers": [
// JSON-NEXT:         {
// JSON-NEXT:           "attention_ops": 1,
// JSON-NEXT:           "decode_flops_per_token": 5632,
// JSON-NEXT:           "kv_bytes_per_token": 64,
// JSON-NEXT:           "layer": 0,
// JSON-NEXT:           "param_bytes": 9344,
// JSON-NEXT:           "prefill_flops_per_token": 5152
// JSON-NEXT:         },
// JSON-NEXT:         {
// JSON-NEXT:           "attention_ops": 1,
// JSON-NEXT:           "decode_flops_per_token": 5632,
// JSON-NEXT:           "kv_bytes_per_token": 32,
// JSON-NEXT:           "layer": 1,
// JSON-NEXT:           "param_bytes": 7808,
// JSON-NEXT:           "prefill_flops_per_token": 5632
// JSON-NEXT:         }
// JSON-NEXT:       ],
// JSON-NEXT:       "other": {
// JSON-NEXT:         "attention_ops": 0,
// JSON-NEXT:         "decode_flops_per_token": 2048,
// JSON-NEXT:         "kv_bytes_per_token": 0,
// JSON-NEXT:         "param_bytes": 4160,
// JSON-NEXT:         "prefill_flops_per_token": 2048
// JSON-NEXT:       },
// JSON-NEXT:       "total": {
// JSON-NEXT:         "attention_ops": 2,
// JSON-NEXT:         "decode_flops_per_token": 13312,
// JSON-NEXT:         "kv_bytes_per_token": 96,
// JSON-NEXT:         "param_bytes": 21312,
// JSON-NEXT:         "prefill_flops_per_token": 12832
// JSON-NEXT:       }
// JSON-NEXT:     }
// JSON-NEXT:   ],
// JSON-NEXT:   "label": "before",
// JSON-NEXT:   "seq_len": 16
// JSON-NEXT: }

// JSON1024:     "function": "forward",
// JSON1024:     "layer": 0,
// JSON1024-NEXT: "param_bytes": 9344,
// JSON1024-NEXT: "prefill_flops_per_token": 37408
// JSON1024:     "total": {
// JSON1024-NEXT: "attention_ops": 2,
// JSON1024-NEXT: "decode_flops_per_token": 142336,
// JSON1024-NEXT: "kv_bytes_per_token": 96,
// JSON1024-NEXT: "param_bytes": 21312,
// JSON1024-NEXT: "prefill_flops_per_token": 109600
// JSON1024-NOT: "label"
// JSON1024:     "seq_len": 1024

// IR: func.func @forward
// IR: attn.attention
// IR: func.func @helper

// BAD-FORMAT: error: attn-report: option 'format' must be 'text' or 'json', got 'xml'
// BAD-SEQ: error: attn-report: option 'seq-len' must be >= 1, got 0
// BAD-SEQ-NEG: error: attn-report: option 'seq-len' must be >= 1, got -3
// BAD-SEQ-PARSE: for the --seq-len option: 'abc' value invalid
// BAD-NAME: no such option budget
// BAD-OUTPUT: error: attn-report: cannot open option 'output' file '{{.*}}no/such/dir/r.txt'

// EMPTY-NOT: attn-report

//--- model.mlir
module {
  func.func @forward(%tokens: tensor<1x?xi64>, %pos: tensor<1x?xi64>,
                     %kc0: tensor<1x64x2x4xf32>, %vc0: tensor<1x64x2x4xf32>,
                     %kc1: tensor<1x64x2x4xbf16>, %vc1: tensor<1x64x2x4xbf16>,
                     %start: index)
      -> (tensor<1x?x64xf32>, tensor<1x64x2x4xf32>, tensor<1x64x2x4xf32>,
          tensor<1x64x2x4xbf16>, tensor<1x64x2x4xbf16>) {
    %c1 = arith.constant 1 : index
    %n = tensor.dim %tokens, %c1 : tensor<1x?xi64>
    %end = arith.addi %start, %n : index
    %emb = attn.param "model.embed_tokens.weight" : tensor<64x16xf32>
    %h0 = attn.embed %emb, %tokens : tensor<64x16xf32>, tensor<1x?xi64> -> tensor<1x?x16xf32>

    // ---- layer 0: GQA (4 query heads, 2 KV heads), causal, f32 cache
    %n0 = attn.param "model.layers.0.input_layernorm.weight" {attn.layer = 0 : i64} : tensor<16xf32>
    %wq0 = attn.param "model.layers.0.self_attn.q_proj.weight" {attn.layer = 0 : i64} : tensor<16x16xf32>
    %wk0 = attn.param "model.layers.0.self_attn.k_proj.weight" {attn.layer = 0 : i64} : tensor<8x16xf32>
    %wv0 = attn.param "model.layers.0.self_attn.v_proj.weight" {attn.layer = 0 : i64} : tensor<8x16xf32>
    %wo0 = attn.param "model.layers.0.self_attn.o_proj.weight" {attn.layer = 0 : i64} : tensor<16x16xf32>
    %x0 = attn.rms_norm %h0, %n0 {attn.layer = 0 : i64, epsilon = 1.0e-05 : f64} : tensor<1x?x16xf32>, tensor<16xf32>
    %q0 = attn.linear %x0, %wq0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>, tensor<16x16xf32> -> tensor<1x?x16xf32>
    %k0 = attn.linear %x0, %wk0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>, tensor<8x16xf32> -> tensor<1x?x8xf32>
    %v0 = attn.linear %x0, %wv0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>, tensor<8x16xf32> -> tensor<1x?x8xf32>
    %q0h = tensor.expand_shape %q0 [[0], [1], [2, 3]] output_shape [1, %n, 4, 4] {attn.layer = 0 : i64} : tensor<1x?x16xf32> into tensor<1x?x4x4xf32>
    %k0h = tensor.expand_shape %k0 [[0], [1], [2, 3]] output_shape [1, %n, 2, 4] {attn.layer = 0 : i64} : tensor<1x?x8xf32> into tensor<1x?x2x4xf32>
    %v0h = tensor.expand_shape %v0 [[0], [1], [2, 3]] output_shape [1, %n, 2, 4] {attn.layer = 0 : i64} : tensor<1x?x8xf32> into tensor<1x?x2x4xf32>
    %q0r = attn.rope %q0h, %pos {attn.layer = 0 : i64, theta = 1.0e+04 : f64, rotary_dim = 4 : i64, pairing = #attn<pairing rotate_half>} : tensor<1x?x4x4xf32>, tensor<1x?xi64>
    %k0r = attn.rope %k0h, %pos {attn.layer = 0 : i64, theta = 1.0e+04 : f64, rotary_dim = 4 : i64, pairing = #attn<pairing rotate_half>} : tensor<1x?x2x4xf32>, tensor<1x?xi64>
    %kc0n = attn.cache_update %kc0[%start], %k0r {attn.layer = 0 : i64} : tensor<1x64x2x4xf32>, tensor<1x?x2x4xf32>
    %vc0n = attn.cache_update %vc0[%start], %v0h {attn.layer = 0 : i64} : tensor<1x64x2x4xf32>, tensor<1x?x2x4xf32>
    %ks0 = tensor.extract_slice %kc0n[0, 0, 0, 0] [1, %end, 2, 4] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<1x64x2x4xf32> to tensor<1x?x2x4xf32>
    %vs0 = tensor.extract_slice %vc0n[0, 0, 0, 0] [1, %end, 2, 4] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<1x64x2x4xf32> to tensor<1x?x2x4xf32>
    %a0 = attn.attention %q0r, %ks0, %vs0 {attn.layer = 0 : i64, causal, scale = 0.5 : f64} : tensor<1x?x4x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32> -> tensor<1x?x4x4xf32>
    %a0f = tensor.collapse_shape %a0 [[0], [1], [2, 3]] {attn.layer = 0 : i64} : tensor<1x?x4x4xf32> into tensor<1x?x16xf32>
    %o0 = attn.linear %a0f, %wo0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>, tensor<16x16xf32> -> tensor<1x?x16xf32>
    %h0a = arith.addf %h0, %o0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>
    %p0 = attn.param "model.layers.0.post_attention_layernorm.weight" {attn.layer = 0 : i64} : tensor<16xf32>
    %g0 = attn.param "model.layers.0.mlp.gate_proj.weight" {attn.layer = 0 : i64} : tensor<32x16xf32>
    %u0 = attn.param "model.layers.0.mlp.up_proj.weight" {attn.layer = 0 : i64} : tensor<32x16xf32>
    %d0 = attn.param "model.layers.0.mlp.down_proj.weight" {attn.layer = 0 : i64} : tensor<16x32xf32>
    %y0 = attn.rms_norm %h0a, %p0 {attn.layer = 0 : i64, epsilon = 1.0e-05 : f64} : tensor<1x?x16xf32>, tensor<16xf32>
    %m0 = attn.mlp %y0, %g0, %u0, %d0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>
    %h1 = arith.addf %h0a, %m0 {attn.layer = 0 : i64} : tensor<1x?x16xf32>

    // ---- layer 1: not causal, k_proj shared with layer 0, a bf16 gate
    // weight and a bf16 cache
    %n1 = attn.param "model.layers.1.input_layernorm.weight" {attn.layer = 1 : i64} : tensor<16xf32>
    %wq1 = attn.param "model.layers.1.self_attn.q_proj.weight" {attn.layer = 1 : i64} : tensor<16x16xf32>
    %wk1 = attn.param "model.layers.0.self_attn.k_proj.weight" {attn.layer = 1 : i64} : tensor<8x16xf32>
    %wv1 = attn.param "model.layers.1.self_attn.v_proj.weight" {attn.layer = 1 : i64} : tensor<8x16xf32>
    %wo1 = attn.param "model.layers.1.self_attn.o_proj.weight" {attn.layer = 1 : i64} : tensor<16x16xf32>
    %x1 = attn.rms_norm %h1, %n1 {attn.layer = 1 : i64, epsilon = 1.0e-05 : f64} : tensor<1x?x16xf32>, tensor<16xf32>
    %q1 = attn.linear %x1, %wq1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>, tensor<16x16xf32> -> tensor<1x?x16xf32>
    %k1 = attn.linear %x1, %wk1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>, tensor<8x16xf32> -> tensor<1x?x8xf32>
    %v1 = attn.linear %x1, %wv1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>, tensor<8x16xf32> -> tensor<1x?x8xf32>
    %q1h = tensor.expand_shape %q1 [[0], [1], [2, 3]] output_shape [1, %n, 4, 4] {attn.layer = 1 : i64} : tensor<1x?x16xf32> into tensor<1x?x4x4xf32>
    %k1h = tensor.expand_shape %k1 [[0], [1], [2, 3]] output_shape [1, %n, 2, 4] {attn.layer = 1 : i64} : tensor<1x?x8xf32> into tensor<1x?x2x4xf32>
    %v1h = tensor.expand_shape %v1 [[0], [1], [2, 3]] output_shape [1, %n, 2, 4] {attn.layer = 1 : i64} : tensor<1x?x8xf32> into tensor<1x?x2x4xf32>
    %k1b = arith.truncf %k1h {attn.layer = 1 : i64} : tensor<1x?x2x4xf32> to tensor<1x?x2x4xbf16>
    %v1b = arith.truncf %v1h {attn.layer = 1 : i64} : tensor<1x?x2x4xf32> to tensor<1x?x2x4xbf16>
    %kc1n = attn.cache_update %kc1[%start], %k1b {attn.layer = 1 : i64} : tensor<1x64x2x4xbf16>, tensor<1x?x2x4xbf16>
    %vc1n = attn.cache_update %vc1[%start], %v1b {attn.layer = 1 : i64} : tensor<1x64x2x4xbf16>, tensor<1x?x2x4xbf16>
    %ks1b = tensor.extract_slice %kc1n[0, 0, 0, 0] [1, %end, 2, 4] [1, 1, 1, 1] {attn.layer = 1 : i64} : tensor<1x64x2x4xbf16> to tensor<1x?x2x4xbf16>
    %vs1b = tensor.extract_slice %vc1n[0, 0, 0, 0] [1, %end, 2, 4] [1, 1, 1, 1] {attn.layer = 1 : i64} : tensor<1x64x2x4xbf16> to tensor<1x?x2x4xbf16>
    %ks1 = arith.extf %ks1b {attn.layer = 1 : i64} : tensor<1x?x2x4xbf16> to tensor<1x?x2x4xf32>
    %vs1 = arith.extf %vs1b {attn.layer = 1 : i64} : tensor<1x?x2x4xbf16> to tensor<1x?x2x4xf32>
    %a1 = attn.attention %q1h, %ks1, %vs1 {attn.layer = 1 : i64, scale = 0.5 : f64} : tensor<1x?x4x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32> -> tensor<1x?x4x4xf32>
    %a1f = tensor.collapse_shape %a1 [[0], [1], [2, 3]] {attn.layer = 1 : i64} : tensor<1x?x4x4xf32> into tensor<1x?x16xf32>
    %o1 = attn.linear %a1f, %wo1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>, tensor<16x16xf32> -> tensor<1x?x16xf32>
    %h1a = arith.addf %h1, %o1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>
    %p1 = attn.param "model.layers.1.post_attention_layernorm.weight" {attn.layer = 1 : i64} : tensor<16xf32>
    %g1b = attn.param "model.layers.1.mlp.gate_proj.weight" {attn.layer = 1 : i64} : tensor<32x16xbf16>
    %g1 = arith.extf %g1b {attn.layer = 1 : i64} : tensor<32x16xbf16> to tensor<32x16xf32>
    %u1 = attn.param "model.layers.1.mlp.up_proj.weight" {attn.layer = 1 : i64} : tensor<32x16xf32>
    %d1 = attn.param "model.layers.1.mlp.down_proj.weight" {attn.layer = 1 : i64} : tensor<16x32xf32>
    %y1 = attn.rms_norm %h1a, %p1 {attn.layer = 1 : i64, epsilon = 1.0e-05 : f64} : tensor<1x?x16xf32>, tensor<16xf32>
    %m1 = attn.mlp %y1, %g1, %u1, %d1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>
    %h2 = arith.addf %h1a, %m1 {attn.layer = 1 : i64} : tensor<1x?x16xf32>

    // ---- outside the layers: final norm and the LM head tied to the
    // embedding table (a second attn.param op of the same tensor)
    %nf = attn.param "model.norm.weight" : tensor<16xf32>
    %hf = attn.rms_norm %h2, %nf {epsilon = 1.0e-05 : f64} : tensor<1x?x16xf32>, tensor<16xf32>
    %head = attn.param "model.embed_tokens.weight" : tensor<64x16xf32>
    %logits = attn.linear %hf, %head : tensor<1x?x16xf32>, tensor<64x16xf32> -> tensor<1x?x64xf32>
    return %logits, %kc0n, %vc0n, %kc1n, %vc1n : tensor<1x?x64xf32>, tensor<1x64x2x4xf32>, tensor<1x64x2x4xf32>, tensor<1x64x2x4xbf16>, tensor<1x64x2x4xbf16>
  }

  // No attn ops: not reported.
  func.func @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = arith.addf %x, %x : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

//--- uncountable.mlir
func.func @dynamic_heads(%q: tensor<1x?x?x4xf32>, %k: tensor<1x?x?x4xf32>,
                         %v: tensor<1x?x?x4xf32>) -> tensor<1x?x?x4xf32> {
  // expected-error @below {{attn-report: attention head count and head dims must be static to count FLOPs}}
  %0 = attn.attention %q, %k, %v {attn.layer = 0 : i64, causal, scale = 0.5 : f64}
      : tensor<1x?x?x4xf32>, tensor<1x?x?x4xf32>, tensor<1x?x?x4xf32>
      -> tensor<1x?x?x4xf32>
  return %0 : tensor<1x?x?x4xf32>
}

// -----

func.func @dynamic_cache(%c: tensor<1x64x2x?xf32>, %n: tensor<1x?x2x?xf32>,
                         %p: index) -> tensor<1x64x2x?xf32> {
  // expected-error @below {{attn-report: cache heads and head dim must be static to count KV bytes}}
  %0 = attn.cache_update %c[%p], %n {attn.layer = 0 : i64}
      : tensor<1x64x2x?xf32>, tensor<1x?x2x?xf32>
  return %0 : tensor<1x64x2x?xf32>
}

// -----

// A weight computed at run time has no static size to count.
func.func @dynamic_linear_weight(%x: tensor<?x16xf32>, %w: tensor<?x16xf32>)
    -> tensor<?x?xf32> {
  // expected-error @below {{attn-report: linear weight shape must be static to count FLOPs}}
  %0 = attn.linear %x, %w : tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

func.func @dynamic_mlp_weight(%x: tensor<?x16xf32>, %g: tensor<?x16xf32>,
                              %u: tensor<?x16xf32>, %d: tensor<16x?xf32>)
    -> tensor<?x16xf32> {
  // expected-error @below {{attn-report: mlp weight shapes must be static to count FLOPs}}
  %0 = attn.mlp %x, %g, %u, %d : tensor<?x16xf32>, tensor<?x16xf32>,
      tensor<?x16xf32>, tensor<16x?xf32>
  return %0 : tensor<?x16xf32>
}

//--- empty.mlir
func.func @no_attn(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %x, %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

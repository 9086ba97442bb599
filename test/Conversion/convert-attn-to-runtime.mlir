// RUN: attn-opt %s --convert-attn-to-runtime=plan=- -o /dev/null | FileCheck %s
// RUN: attn-opt %s --attn-lower-to-cuda=plan=%t.plan -o /dev/null
// RUN: FileCheck %s --input-file=%t.plan
// RUN: attn-opt %s --verify-roundtrip -o /dev/null

// One attention block of an imported decoder, at toy sizes. The plan holds
// the index arithmetic (batch and length from the tokens, the cache position
// from positions[0, 0]), views for the reshapes, the cache slice and the
// in-place cache update, and buffers assigned to slots by liveness.

// CHECK:      "format": "attn-plan",
// CHECK-NEXT: "version": 1,
// CHECK-NEXT: "entry": "forward",
// CHECK-NEXT: "archives": ["{{.*}}w.safetensors"],
// CHECK:      {"id": "s0", "op": "dim", "input": 0, "axis": 0},
// CHECK-NEXT: {"id": "s1", "op": "dim", "input": 0, "axis": 1},
// CHECK:      {"id": "s6", "op": "extract", "input": 1, "index": [0, 0]},
// CHECK-NEXT: {"id": "s7", "op": "add", "lhs": "s6", "rhs": "s1"}
// CHECK:      "inputs": [
// CHECK-NEXT:   {"name": "tokens", "dtype": "I64", "shape": ["s0", "s1"]},
// CHECK-NEXT:   {"name": "positions", "dtype": "I64", "shape": ["s2", "s3"]},
// CHECK-NEXT:   {"name": "k_cache_0", "dtype": "F32", "shape": ["s4", "s5", 1, 8]}
// CHECK:      {"id": 3, "kind": "param", "name": "embed", "dtype": "F32", "shape": [16, 8]},
// CHECK-NEXT: {"id": 4, "kind": "buffer", "slot": 0, "dtype": "F32", "shape": ["s0", "s1", 8]},
// CHECK-NEXT: {"id": 5, "kind": "param", "name": "norm"
// CHECK-NEXT: {"id": 6, "kind": "buffer", "slot": 1,
// CHECK-NEXT: {"id": 7, "kind": "param", "name": "wq"
// CHECK-NEXT: {"id": 8, "kind": "buffer", "slot": 2,
// CHECK-NEXT: {"id": 9, "kind": "param", "name": "wk"
// CHECK-NEXT: {"id": 10, "kind": "buffer", "slot": 3,
// CHECK-NEXT: {"id": 11, "kind": "reshape", "source": 8, "dtype": "F32", "shape": ["s0", "s1", 1, 8]},
// CHECK-NEXT: {"id": 12, "kind": "reshape", "source": 10,
// The rotated queries reuse the norm's slot (dead after the projections).
// CHECK-NEXT: {"id": 13, "kind": "buffer", "slot": 1, "dtype": "F32", "shape": ["s0", "s1", 1, 8]},
// The cache is updated in place: its new version aliases the input.
// CHECK-NEXT: {"id": 14, "kind": "alias", "source": 2, "dtype": "F32", "shape": ["s4", "s5", 1, 8]},
// CHECK-NEXT: {"id": 15, "kind": "slice", "source": 14, "dtype": "F32", "shape": ["s0", "s7", 1, 8], "offsets": [0, 0, 0, 0]},
// CHECK-NEXT: {"id": 16, "kind": "buffer", "slot": 2,
// CHECK-NEXT: {"id": 17, "kind": "reshape", "source": 16,
// CHECK-NEXT: {"id": 18, "kind": "buffer", "slot": 1,
// CHECK-NEXT: {"id": 19, "kind": "param", "name": "wo"
// The logits reuse the embedding's slot, dead after the residual add.
// CHECK-NEXT: {"id": 20, "kind": "buffer", "slot": 0, "dtype": "F32", "shape": ["s0", "s1", 16]}
// CHECK:      "slots": 4,
// CHECK-NEXT: "steps": [
// CHECK-NEXT: {"op": "embed", "in": [3, 0], "out": 4, "loc": "embed"},
// CHECK-NEXT: {"op": "rms_norm", "in": [4, 5], "out": 6, "epsilon": 1.0000000000000001e-05, "loc": "norm"},
// CHECK-NEXT: {"op": "linear", "in": [6, 7], "out": 8, "loc": "q_proj"},
// CHECK-NEXT: {"op": "linear", "in": [6, 9], "out": 10, "loc": "k_proj"},
// CHECK-NEXT: {"op": "rope", "in": [11, 1], "out": 13, "theta": 10000, "rotary_dim": 8, "base_dim": 8, "pairing": "rotate_half", "loc": "rope"},
// CHECK-NEXT: {"op": "cache_update", "in": [2, 12], "out": 14, "position": "s6", "loc": "cache"},
// CHECK-NEXT: {"op": "attention", "in": [13, 15, 15], "out": 16, "scale": 0.35355339059327379, "causal": true, "loc": "attention"},
// CHECK-NEXT: {"op": "add", "in": [4, 17], "out": 18, "loc": "residual"},
// CHECK-NEXT: {"op": "linear", "in": [18, 19], "out": 20, "loc": "lm_head"}
// CHECK-NEXT: ],
// CHECK-NEXT: "outputs": [20, 14]

module attributes {attn.params = ["w.safetensors"]} {
  func.func @forward(%tokens: tensor<?x?xi64> loc("tokens"), %pos: tensor<?x?xi64> loc("positions"), %kc: tensor<?x?x1x8xf32> loc("k_cache_0")) -> (tensor<?x?x16xf32>, tensor<?x?x1x8xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %b = tensor.dim %tokens, %c0 : tensor<?x?xi64>
    %s = tensor.dim %tokens, %c1 : tensor<?x?xi64>
    %p0 = tensor.extract %pos[%c0, %c0] : tensor<?x?xi64>
    %p = arith.index_cast %p0 : i64 to index
    %end = arith.addi %p, %s : index
    %table = attn.param "embed" : tensor<16x8xf32>
    %h = attn.embed %table, %tokens : tensor<16x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32> loc("embed")
    %nw = attn.param "norm" : tensor<8xf32>
    %n = attn.rms_norm %h, %nw {epsilon = 1.0e-05 : f64} : tensor<?x?x8xf32>, tensor<8xf32> loc("norm")
    %wq = attn.param "wq" : tensor<8x8xf32>
    %q = attn.linear %n, %wq : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32> loc("q_proj")
    %wk = attn.param "wk" : tensor<8x8xf32>
    %k = attn.linear %n, %wk : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32> loc("k_proj")
    %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [%b, %s, 1, 8] : tensor<?x?x8xf32> into tensor<?x?x1x8xf32>
    %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [%b, %s, 1, 8] : tensor<?x?x8xf32> into tensor<?x?x1x8xf32>
    %qr = attn.rope %q4, %pos {pairing = #attn<pairing rotate_half>, rotary_dim = 8 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x1x8xf32>, tensor<?x?xi64> loc("rope")
    %kc1 = attn.cache_update %kc[%p], %k4 : tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32> loc("cache")
    %ks = tensor.extract_slice %kc1[0, 0, 0, 0] [%b, %end, 1, 8] [1, 1, 1, 1] : tensor<?x?x1x8xf32> to tensor<?x?x1x8xf32>
    %o = attn.attention %qr, %ks, %ks {causal, scale = 0.35355339059327379 : f64} : tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32> -> tensor<?x?x1x8xf32> loc("attention")
    %o3 = tensor.collapse_shape %o [[0], [1], [2, 3]] : tensor<?x?x1x8xf32> into tensor<?x?x8xf32>
    %r = arith.addf %h, %o3 : tensor<?x?x8xf32> loc("residual")
    %wo = attn.param "wo" : tensor<16x8xf32>
    %logits = attn.linear %r, %wo : tensor<?x?x8xf32>, tensor<16x8xf32> -> tensor<?x?x16xf32> loc("lm_head")
    return %logits, %kc1 : tensor<?x?x16xf32>, tensor<?x?x1x8xf32>
  }
}

// attn-sparse-kv on a small imported model: a random 2-layer GQA Llama
// (d_model 64, 4 query heads and 2 KV heads of 16, vocab 80, f32),
// calibrated on random tokens. The numbers are checked in
// test/Integration/op-sparse-codec.test (the ops against numpy) and
// test/Integration/kv-compress-eval.test (rewritten models under
// attn-eval); here, the IR, the report, the dictionaries and the options.
//
// RUN: rm -rf %t && split-file %s %t
// RUN: attn-opt %t/nocache.mlir --verify-roundtrip -o /dev/null
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/ckpt --layers 2 --kv-heads 2
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/other --layers 3 --kv-heads 2
// RUN: attn-import hf %t/ckpt -o %t/m.mlir
// RUN: attn-import hf %t/other -o %t/o.mlir
// RUN: %PYTHON %attn_src/test/Integration/Inputs/lowrank_check.py tokens %t/tok.npy --vocab 80 --count 2048
// RUN: attn-calibrate %t/m.mlir --tokens=%t/tok.npy --context=64 -o %t/stats.safetensors 2>/dev/null
// RUN: attn-calibrate %t/o.mlir --tokens=%t/tok.npy --context=64 -o %t/ostats.safetensors 2>/dev/null
//
// Learned dictionaries: 32 atoms, keys 4 codes, values 2 chunks of 2 codes.
// Each dictionary's MP error after refinement is at most its k-means one.
// RUN: attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors atoms=32 k-atoms=4 v-atoms=2 v-chunks=2" --attn-params-out=%t/csr.safetensors -o %t/csr.mlir 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: attn-opt %t/csr.mlir --verify-roundtrip -o /dev/null
// RUN: FileCheck %s --input-file=%t/csr.mlir
// REMARK: remark: {{.*}}attn-sparse-kv: k dictionary of layers 0-0 (32 atoms of 16, s = 4, 4096 samples): MP relative error [[E0:0\.[0-9]+]] after k-means, {{0\.[0-9]+}} after {{[0-9]+}} refinement rounds
// REMARK: remark: {{.*}}attn-sparse-kv: v dictionary of layers 0-0 (32 atoms of 8, s = 2, 8192 samples)
// REMARK: remark: {{.*}}attn-sparse-kv: k dictionary of layers 1-1
// REMARK: remark: {{.*}}attn-sparse-kv: v dictionary of layers 1-1
// REMARK: remark: {{.*}}attn-sparse-kv: 2 layers (4 caches), k-atoms 4, v-atoms 2 x 2 chunks, 32-atom dictionaries; KV cache 512 -> 128 bytes/token over these layers (fp32 before)
//
// Each cache argument and result becomes int16 indices and fp16
// coefficients; keys are encoded before RoPE, and RoPE is applied to the
// decoded keys at the cache rows' positions.
// CHECK: module attributes {attn.params = ["csr.safetensors", "ckpt/model.safetensors"]
// CHECK: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x4xi16>, %arg3: tensor<?x?x2x4xf16>, %arg4: tensor<?x?x2x4xi16>, %arg5: tensor<?x?x2x4xf16>, %arg6: tensor<?x?x2x4xi16>, %arg7: tensor<?x?x2x4xf16>, %arg8: tensor<?x?x2x4xi16>, %arg9: tensor<?x?x2x4xf16>) -> (tensor<?x?x80xf32>, tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>)
// CHECK: %[[Q:.*]] = attn.rope %{{.*}}, %arg1 {attn.layer = 0 : i64
// CHECK: %[[KP:.*]] = tensor.expand_shape {{.*}} into tensor<?x?x2x16xf32>
// CHECK: %[[VP:.*]] = tensor.expand_shape {{.*}} into tensor<?x?x2x16xf32>
// CHECK-NOT: attn.rope
// CHECK: %[[DK:.*]] = attn.param "attn.csr.layers.0-0.k_dict" {attn.layer = 0 : i64} : tensor<32x16xf32>
// CHECK: %[[KI:.*]], %[[KC:.*]] = attn.sparse_encode %[[KP]], %[[DK]] {attn.layer = 0 : i64, chunks = 1 : i64, sparsity = 4 : i64} : tensor<?x?x2x16xf32>, tensor<32x16xf32> -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
// CHECK: %[[CI:.*]] = attn.cache_update %arg2[%[[POS:.*]]], %[[KI]] {attn.layer = 0 : i64} : tensor<?x?x2x4xi16>, tensor<?x?x2x4xi16>
// CHECK: %[[CC:.*]] = attn.cache_update %arg3[%[[POS]]], %[[KC]] {attn.layer = 0 : i64} : tensor<?x?x2x4xf16>, tensor<?x?x2x4xf16>
// CHECK: %[[DV:.*]] = attn.param "attn.csr.layers.0-0.v_dict" {attn.layer = 0 : i64} : tensor<32x8xf32>
// CHECK: attn.sparse_encode %[[VP]], %[[DV]] {attn.layer = 0 : i64, chunks = 2 : i64, sparsity = 2 : i64} : tensor<?x?x2x16xf32>, tensor<32x8xf32> -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
// CHECK: %[[RI:.*]] = tensor.extract_slice %[[CI]][0, 0, 0, 0] [%{{.*}}, %{{.*}}, 2, 4] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<?x?x2x4xi16> to tensor<?x?x2x4xi16>
// CHECK: %[[RC:.*]] = tensor.extract_slice %[[CC]][0, 0, 0, 0] [%{{.*}}, %{{.*}}, 2, 4] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<?x?x2x4xf16> to tensor<?x?x2x4xf16>
// CHECK: %[[K:.*]] = attn.sparse_decode %[[RI]], %[[RC]], %[[DK]] {attn.layer = 0 : i64, chunks = 1 : i64} : tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<32x16xf32> -> tensor<?x?x2x16xf32>
// CHECK: %[[V:.*]] = attn.sparse_decode %{{.*}}, %{{.*}}, %[[DV]] {attn.layer = 0 : i64, chunks = 2 : i64} : tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>, tensor<32x8xf32> -> tensor<?x?x2x16xf32>
// CHECK: %[[ROWS:.*]] = tensor.generate
// CHECK: arith.index_cast %{{.*}} : index to i64
// CHECK: %[[KR:.*]] = attn.rope %[[K]], %[[ROWS]] {attn.layer = 0 : i64, pairing = #attn<pairing rotate_half>, rotary_dim = 16 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x2x16xf32>, tensor<?x?xi64>
// CHECK: attn.attention %[[Q]], %[[KR]], %[[V]]
// CHECK: attn.param "attn.csr.layers.1-1.k_dict"
//
// The dictionaries are in the written archive, [atoms, atom size] f32.
// RUN: %PYTHON -c "from attenuate import safetensors_io as s; h = s.read_header('%t/csr.safetensors')[1]; print(sorted((k, tuple(v['shape'])) for k, v in h.items()))" | FileCheck %s --check-prefix=ARCHIVE
// ARCHIVE: [('attn.csr.layers.0-0.k_dict', (32, 16)), ('attn.csr.layers.0-0.v_dict', (32, 8)), ('attn.csr.layers.1-1.k_dict', (32, 16)), ('attn.csr.layers.1-1.v_dict', (32, 8))]
//
// attn-report: 2 heads x (4 + 2·2) codes x (2 + 2) bytes = 64 B/token per
// layer instead of 256; the dictionaries are parameters of their layer
// ((32·16 + 32·8) x 4 B = 3072 B more each).
// RUN: attn-opt %t/m.mlir --attn-report="seq-len=64" -o /dev/null | FileCheck %s --check-prefix=DENSE
// RUN: attn-opt %t/csr.mlir --attn-report="seq-len=64" -o /dev/null | FileCheck %s --check-prefix=REPORT
// DENSE: {{^}}0 123392 256 {{[0-9]+}}
// REPORT: {{^}}0 126464 64 {{[0-9]+}}
// REPORT: {{^}}1 126464 64 {{[0-9]+}}
// REPORT: {{^}}total {{[0-9]+}} 128 {{[0-9]+}}
// RUN: attn-opt %t/csr.mlir --attn-report="seq-len=64 format=json" -o /dev/null | %PYTHON -c "import json,sys; r=json.load(sys.stdin); print(json.dumps(r)[:0] or 'ok')" | FileCheck %s --check-prefix=JSON
// JSON: ok
//
// One dictionary pair for a group of two layers; the identity basis needs
// no stats.
// RUN: attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors atoms=16 k-atoms=2 v-atoms=1 v-chunks=1 group=2 rounds=2" -o - 2>/dev/null | FileCheck %s --check-prefix=GROUP
// GROUP-COUNT-2: attn.param "attn.csr.layers.0-1.k_dict" {attn.layer = {{[01]}} : i64} : tensor<16x16xf32>
// RUN: attn-opt %t/m.mlir --attn-sparse-kv="dictionary=identity k-atoms=16 v-atoms=8 v-chunks=2" -o - 2>/dev/null | FileCheck %s --check-prefix=IDENTITY
// IDENTITY: attn.param "attn.csr.layers.0-0.k_dict" {attn.layer = 0 : i64} : tensor<16x16xf32>
// IDENTITY: attn.sparse_encode {{.*}}sparsity = 16 : i64
// IDENTITY: attn.param "attn.csr.layers.0-0.v_dict" {attn.layer = 0 : i64} : tensor<8x8xf32>
//
// Bad options name the option; stats of another model are refused.
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors k-atoms=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=K0
// K0: error: {{.*}}attn-sparse-kv: option 'k-atoms' must be in [1, head_dim = 16], got 0
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors k-atoms=17" -o /dev/null 2>&1 | FileCheck %s --check-prefix=K17
// K17: error: {{.*}}attn-sparse-kv: option 'k-atoms' must be in [1, head_dim = 16], got 17
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors v-atoms=9" -o /dev/null 2>&1 | FileCheck %s --check-prefix=V9
// V9: error: {{.*}}attn-sparse-kv: option 'v-atoms' must be in [1, head_dim / v-chunks = 8], got 9
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors v-atoms=-1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=VNEG
// VNEG: error: {{.*}}attn-sparse-kv: option 'v-atoms' must be in [1, head_dim / v-chunks = 8], got -1
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors v-chunks=3" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHUNKS
// CHUNKS: error: {{.*}}attn-sparse-kv: option 'v-chunks' must divide the value head dim 16, got 3
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors atoms=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ATOMS0
// ATOMS0: error: {{.*}}attn-sparse-kv: option 'atoms' must be in [1, 32768], got 0
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/stats.safetensors atoms=5000" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ATOMS
// ATOMS: error: {{.*}}attn-sparse-kv: option 'atoms': k dictionary of layers 0-0: learnDictionary: 5000 atoms need 1 <= N <= min(32768, 4096 nonzero samples)
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="k-atoms=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOSTATS
// NOSTATS: error: {{.*}}attn-sparse-kv: option 'stats' is required (KV samples from attn-calibrate), or dictionary=identity
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/ostats.safetensors" -o /dev/null 2>&1 | FileCheck %s --check-prefix=OTHER
// OTHER: error: {{.*}}attn-sparse-kv: option 'stats': {{.*}}ostats.safetensors: statistics were measured on another model
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="stats=%t/missing.safetensors" -o /dev/null 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: {{.*}}attn-sparse-kv: option 'stats': {{.*}}missing.safetensors: cannot open
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="dictionary=learned" -o /dev/null 2>&1 | FileCheck %s --check-prefix=DICT
// DICT: error: {{.*}}attn-sparse-kv: option 'dictionary' must be empty or 'identity', got 'learned'
// RUN: not attn-opt %t/m.mlir --attn-sparse-kv="dictionary=identity group=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GROUP0
// GROUP0: error: {{.*}}attn-sparse-kv: option 'group' must be >= 1, got 0
//
// A module without caches is left alone, with a remark.
// RUN: attn-opt %t/nocache.mlir --attn-sparse-kv="dictionary=identity entry=nocache" -o - 2>&1 | FileCheck %s --check-prefix=SKIP
// SKIP: remark: {{.*}}attn-sparse-kv: skipped layer 0 (the keys are not cached in an argument of @nocache)
// SKIP-NOT: attn.sparse_encode

//--- nocache.mlir
func.func @nocache(%x: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %wq = attn.param "q" {attn.layer = 0 : i64} : tensor<64x64xf32>
  %wk = attn.param "k" {attn.layer = 0 : i64} : tensor<32x64xf32>
  %wv = attn.param "v" {attn.layer = 0 : i64} : tensor<32x64xf32>
  %wo = attn.param "o" {attn.layer = 0 : i64} : tensor<64x64xf32>
  %q = attn.linear %x, %wq {attn.layer = 0 : i64} : tensor<1x4x64xf32>, tensor<64x64xf32> -> tensor<1x4x64xf32>
  %k = attn.linear %x, %wk {attn.layer = 0 : i64} : tensor<1x4x64xf32>, tensor<32x64xf32> -> tensor<1x4x32xf32>
  %v = attn.linear %x, %wv {attn.layer = 0 : i64} : tensor<1x4x64xf32>, tensor<32x64xf32> -> tensor<1x4x32xf32>
  %qh = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 4, 4, 16] : tensor<1x4x64xf32> into tensor<1x4x4x16xf32>
  %kh = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 4, 2, 16] : tensor<1x4x32xf32> into tensor<1x4x2x16xf32>
  %vh = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 4, 2, 16] : tensor<1x4x32xf32> into tensor<1x4x2x16xf32>
  %o = attn.attention %qh, %kh, %vh {attn.layer = 0 : i64, causal, scale = 0.25 : f64} : tensor<1x4x4x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32> -> tensor<1x4x4x16xf32>
  %om = tensor.collapse_shape %o [[0], [1], [2, 3]] : tensor<1x4x4x16xf32> into tensor<1x4x64xf32>
  %y = attn.linear %om, %wo {attn.layer = 0 : i64} : tensor<1x4x64xf32>, tensor<64x64xf32> -> tensor<1x4x64xf32>
  return %y : tensor<1x4x64xf32>
}

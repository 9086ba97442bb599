// attn-mla-upcycle on a small imported model: a random 2-layer GQA Llama
// (d_model 64, 4 query heads and 2 KV heads of 16, RoPE over the whole
// head, vocab 80, f32). The numbers the rewritten model computes are checked
// in test/Integration/mla-*.test; here, the IR, the report and the options.
//
// RUN: rm -rf %t && split-file %s %t
// RUN: attn-opt %t/nocache.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/unmatched.mlir --verify-roundtrip -o /dev/null
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/ckpt --layers 2
// RUN: attn-import hf %t/ckpt -o %t/m.mlir
//
// Absorbed form, kv-rank 8 and rope-dim 4: the latent row [k_rope ; c] has
// 4 + 8 = 12 values per token and layer instead of 2 caches x 2 heads x 16.
// RUN: attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 rope-dim=4" --attn-params-out=%t/abs.safetensors -o %t/abs.mlir 2>&1 | FileCheck %s --check-prefix=ABS-REMARK
// RUN: FileCheck %s --check-prefix=ABS --input-file=%t/abs.mlir --implicit-check-not='{{self_attn\.[qkvo]_proj\.weight"}}' --implicit-check-not='tensor<?x?x2x16xf32>'
// ABS-REMARK: remark: {{.*}}attn-mla-upcycle: form absorbed, layers 0,1, kv-rank 8 (K/V energy kept {{0\.[0-9]+-0\.[0-9]+}}), rope-dim 4, q-rank full; KV cache 128 -> 24 values/token over these layers (5.33x)
//
// One latent cache per layer replaces the K and V caches, in arguments and
// results.
// ABS: module attributes {attn.params = ["abs.safetensors", "ckpt/model.safetensors"]
// ABS: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x1x12xf32>, %arg3: tensor<?x?x1x12xf32>) -> (tensor<?x?x80xf32>, tensor<?x?x1x12xf32>, tensor<?x?x1x12xf32>)
// ABS: %[[WQ:.*]] = attn.param "model.layers.0.self_attn.q_proj.weight.mla" {attn.layer = 0 : i64} : tensor<48x64xf32>
// ABS: %[[WL:.*]] = attn.param "model.layers.0.self_attn.k_proj.weight.mla_latent" {attn.layer = 0 : i64} : tensor<12x64xf32>
// ABS: %[[WO:.*]] = attn.param "model.layers.0.self_attn.o_proj.weight.mla" {attn.layer = 0 : i64} : tensor<64x32xf32>
//
// Queries: 4 heads of [q_rope (4) ; W_UKᵀ q_nope (8)], RoPE on the first 4
// channels only, at the kept pairs' original frequencies (base_dim 16).
// ABS: %[[Q:.*]] = attn.linear %[[X:.*]], %[[WQ]] {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<48x64xf32> -> tensor<?x?x48xf32>
// ABS: %[[QS:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1], [2, 3]] output_shape [%{{.*}}, %{{.*}}, 4, 12] {attn.layer = 0 : i64} : tensor<?x?x48xf32> into tensor<?x?x4x12xf32>
// ABS: %[[QR:.*]] = attn.rope %[[QS]], %arg1 {attn.layer = 0 : i64, base_dim = 16 : i64, frequencies = array<i64: [[F:[0-9]+, [0-9]+]]>, pairing = #attn<pairing rotate_half>, rotary_dim = 4 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x4x12xf32>, tensor<?x?xi64>
//
// The latent: one projection, one head, RoPE on its first 4 channels (the
// RoPE key), one cache; keys are the whole row, values its last 8 channels.
// ABS: %[[L:.*]] = attn.linear %[[X]], %[[WL]] {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<12x64xf32> -> tensor<?x?x12xf32>
// ABS: %[[LS:.*]] = tensor.expand_shape %[[L]] {{\[\[}}0], [1], [2, 3]] output_shape [%{{.*}}, %{{.*}}, 1, 12] {attn.layer = 0 : i64} : tensor<?x?x12xf32> into tensor<?x?x1x12xf32>
// ABS: %[[LR:.*]] = attn.rope %[[LS]], %arg1 {attn.layer = 0 : i64, base_dim = 16 : i64, frequencies = array<i64: [[F]]>, pairing = #attn<pairing rotate_half>, rotary_dim = 4 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x1x12xf32>, tensor<?x?xi64>
// ABS: %[[C:.*]] = attn.cache_update %arg2[%{{.*}}], %[[LR]] {attn.layer = 0 : i64} : tensor<?x?x1x12xf32>, tensor<?x?x1x12xf32>
// ABS: %[[K:.*]] = tensor.extract_slice %[[C]][0, 0, 0, 0] [%{{.*}}, %{{.*}}, 1, 12] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<?x?x1x12xf32> to tensor<?x?x1x12xf32>
// ABS: %[[V:.*]] = tensor.extract_slice %[[C]][0, 0, 0, 4] [%{{.*}}, %{{.*}}, 1, 8] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<?x?x1x12xf32> to tensor<?x?x1x8xf32>
//
// One KV head (MQA over the latent), the original scale 1/sqrt(16), and the
// record tools read.
// ABS: %[[A:.*]] = attn.attention %[[QR]], %[[K]], %[[V]] {attn.layer = 0 : i64, attn.mla = {form = "absorbed", kv_rank = 8 : i64, latent = "model.layers.0.self_attn.k_proj.weight.mla_latent", o = "model.layers.0.self_attn.o_proj.weight.mla", q = "model.layers.0.self_attn.q_proj.weight.mla", q_rank = 0 : i64, rope_base_dim = 16 : i64, rope_dim = 4 : i64, rope_frequencies = array<i64: [[F]]>, rope_pairing = "rotate_half", rope_pairs = array<i64: [[F]]>, rope_theta = 1.000000e+04 : f64}, causal, scale = 2.500000e-01 : f64} : tensor<?x?x4x12xf32>, tensor<?x?x1x12xf32>, tensor<?x?x1x8xf32> -> tensor<?x?x4x8xf32>
// ABS: %[[M:.*]] = tensor.collapse_shape %[[A]] {{\[\[}}0], [1], [2, 3]] {attn.layer = 0 : i64} : tensor<?x?x4x8xf32> into tensor<?x?x32xf32>
// ABS: attn.linear %[[M]], %[[WO]] {attn.layer = 0 : i64} : tensor<?x?x32xf32>, tensor<64x32xf32> -> tensor<?x?x64xf32>
// ABS: attn.param "model.layers.0.mlp.gate_proj.weight"
// ABS: attn.param "model.layers.1.self_attn.q_proj.weight.mla" {attn.layer = 1 : i64} : tensor<48x64xf32>
// ABS: attn.cache_update %arg3
// ABS: return %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x80xf32>, tensor<?x?x1x12xf32>, tensor<?x?x1x12xf32>
//
// The report counts the latent cache: 12 floats = 48 B per token and layer
// (256 B before). Parameters per layer: q 48x64, latent 12x64, o 64x32, MLP
// 3x96x64, norms 2x64 = 24448 floats = 97792 B. Prefill FLOPs/token
// 2·64·(48+12) + 2·32·64 + 6·64·96 + 4·(12+8)·1025 = 130640; decode
// 48640 + 2·4·(12+8)·1024 = 212480.
// RUN: attn-opt %t/abs.mlir --attn-verify-params --attn-report -o /dev/null | FileCheck %s --check-prefix=ABS-REPORT
// RUN: attn-opt %t/m.mlir --attn-report -o /dev/null | FileCheck %s --check-prefix=DENSE-REPORT
// ABS-REPORT:      0 97792 48 130640 212480
// ABS-REPORT-NEXT: 1 97792 48 130640 212480
// DENSE-REPORT:      0 123392 256 192640 323584
//
// The output round-trips.
// RUN: attn-opt %t/abs.mlir --verify-roundtrip -o /dev/null
//
// Explicit form with a low-rank query: q = W_UQ (W_DQ x) with the head rows
// permuted to [rope ; nope], per-head K and V rebuilt from the latent read,
// the original o_proj and head dims.
// RUN: attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 rope-dim=4 q-rank=24 form=explicit" --attn-params-out=%t/exp.safetensors -o %t/exp.mlir 2>/dev/null
// RUN: FileCheck %s --check-prefix=EXP --input-file=%t/exp.mlir
// RUN: attn-opt %t/exp.mlir --verify-roundtrip --attn-report -o /dev/null | FileCheck %s --check-prefix=EXP-REPORT
// EXP: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x1x12xf32>, %arg3: tensor<?x?x1x12xf32>) -> (tensor<?x?x80xf32>, tensor<?x?x1x12xf32>, tensor<?x?x1x12xf32>)
// EXP-DAG: %[[QB:.*]] = attn.param "model.layers.0.self_attn.q_proj.weight.mla_b" {attn.layer = 0 : i64} : tensor<64x24xf32>
// EXP-DAG: %[[QA:.*]] = attn.param "model.layers.0.self_attn.q_proj.weight.mla_a" {attn.layer = 0 : i64} : tensor<24x64xf32>
// EXP-DAG: %[[KU:.*]] = attn.param "model.layers.0.self_attn.k_proj.weight.mla_up" {attn.layer = 0 : i64} : tensor<32x12xf32>
// EXP-DAG: %[[VU:.*]] = attn.param "model.layers.0.self_attn.v_proj.weight.mla_up" {attn.layer = 0 : i64} : tensor<32x12xf32>
// EXP: %[[QD:.*]] = attn.linear %{{.*}}, %[[QA]] {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<24x64xf32> -> tensor<?x?x24xf32>
// EXP: attn.linear %[[QD]], %[[QB]] {attn.layer = 0 : i64} : tensor<?x?x24xf32>, tensor<64x24xf32> -> tensor<?x?x64xf32>
// EXP: attn.rope {{.*}} rotary_dim = 4 : i64, {{.*}} : tensor<?x?x4x16xf32>
// EXP: %[[C:.*]] = attn.cache_update %arg2
// EXP: %[[R:.*]] = tensor.extract_slice %[[C]][0, 0, 0, 0] [%{{.*}}, %{{.*}}, 1, 12]
// EXP: %[[F:.*]] = tensor.collapse_shape %[[R]] {{\[\[}}0], [1], [2, 3]] {attn.layer = 0 : i64} : tensor<?x?x1x12xf32> into tensor<?x?x12xf32>
// EXP: attn.linear %[[F]], %[[KU]] {attn.layer = 0 : i64} : tensor<?x?x12xf32>, tensor<32x12xf32> -> tensor<?x?x32xf32>
// EXP: tensor.expand_shape {{.*}} into tensor<?x?x2x16xf32>
// EXP: attn.linear %[[F]], %[[VU]] {attn.layer = 0 : i64} : tensor<?x?x12xf32>, tensor<32x12xf32> -> tensor<?x?x32xf32>
// EXP: attn.attention {{.*}}attn.mla = {form = "explicit", k_up = "model.layers.0.self_attn.k_proj.weight.mla_up", kv_rank = 8 : i64, latent = "model.layers.0.self_attn.k_proj.weight.mla_latent", q = "model.layers.0.self_attn.q_proj.weight.mla_b", q_a = "model.layers.0.self_attn.q_proj.weight.mla_a", q_rank = 24 : i64, {{.*}}, v_up = "model.layers.0.self_attn.v_proj.weight.mla_up"}, causal, scale = 2.500000e-01 : f64} : tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32> -> tensor<?x?x4x16xf32>
// EXP: attn.param "model.layers.0.self_attn.o_proj.weight" {attn.layer = 0 : i64} : tensor<64x64xf32>
// EXP-REPORT: 0 {{[0-9]+}} 48 {{[0-9]+}} {{[0-9]+}}
//
// Energy ranks: per layer, rounded up to round-to; rope-dim defaults to half
// the rotated channels (8 of 16); high-frequency pairs are 0..3.
// RUN: attn-opt %t/m.mlir --attn-mla-upcycle="energy=0.9 round-to=4 rope-pairs=high-frequency" -o %t/energy.mlir 2>&1 | FileCheck %s --check-prefix=ENERGY
// RUN: FileCheck %s --check-prefix=ENERGY-IR --input-file=%t/energy.mlir
// ENERGY: remark: {{.*}}attn-mla-upcycle: form absorbed, layers 0,1, kv-rank {{[0-9]*[048]}}{{(-[0-9]*[048])?}} (K/V energy kept {{.*}}), rope-dim 8, q-rank full
// ENERGY-IR: attn.rope {{.*}}frequencies = array<i64: 0, 1, 2, 3>, {{.*}}rotary_dim = 8 : i64
//
// Hybrid: only layer 1 becomes MLA; layer 0 keeps its K and V caches.
// RUN: attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 rope-dim=4 layers=1" -o - 2>/dev/null | FileCheck %s --check-prefix=HYBRID
// HYBRID: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x16xf32>, %arg3: tensor<?x?x2x16xf32>, %arg4: tensor<?x?x1x12xf32>) -> (tensor<?x?x80xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x1x12xf32>)
// HYBRID: attn.param "model.layers.0.self_attn.q_proj.weight" {attn.layer = 0 : i64}
// HYBRID: attn.param "model.layers.1.self_attn.q_proj.weight.mla" {attn.layer = 1 : i64}
//
// Without RoPE (rope-dim 0): no attn.rope, the latent is c alone.
// RUN: %PYTHON %attn_src/test/Integration/Inputs/mla_check.py strip-rope %t/m.mlir %t/nope.mlir
// RUN: attn-opt %t/nope.mlir --attn-mla-upcycle="kv-rank=64 rope-dim=0" -o - 2>/dev/null | FileCheck %s --check-prefix=NOPE --implicit-check-not=attn.rope
// NOPE: tensor<?x?x1x64xf32>
// NOPE: attn.attention {{.*}} : tensor<?x?x4x64xf32>, tensor<?x?x1x64xf32>, tensor<?x?x1x64xf32> -> tensor<?x?x4x64xf32>
//
// After shared attention (layer 1 reuses layer 0's query and key), both
// layers are tied and stay dense, with a remark; naming one is an error.
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/ckpt3 --layers 3
// RUN: attn-import hf %t/ckpt3 -o %t/m3.mlir
// RUN: attn-opt %t/m3.mlir --attn-share-attention="spans=1" --attn-mla-upcycle="kv-rank=8 rope-dim=4" -o - 2>&1 | FileCheck %s --check-prefix=SHARED
// SHARED: remark: {{.*}}attn-mla-upcycle: skipped layer 0 (query RoPE result has other users (a shared-attention layer?))
// SHARED: remark: {{.*}}attn-mla-upcycle: skipped layer 1 (query RoPE result has other users (a shared-attention layer?))
// SHARED: attn-mla-upcycle: form absorbed, layers 2, kv-rank 8
// SHARED: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x16xf32>, %arg3: tensor<?x?x2x16xf32>, %arg4: tensor<?x?x2x16xf32>, %arg5: tensor<?x?x1x12xf32>)
// RUN: not attn-opt %t/m3.mlir --attn-share-attention="spans=1" --attn-mla-upcycle="kv-rank=8 rope-dim=4 layers=1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SHARED-ERR
// SHARED-ERR: error: {{.*}}attn-mla-upcycle: layer 1: query RoPE result has other users
//
// Bad options: diagnostics naming the option, nothing rewritten.
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=65 rope-dim=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-RANK
// ERR-RANK: error: {{.*}}attn-mla-upcycle: option 'kv-rank' (65) exceeds the largest latent rank of layer 0, 56 = min(56 stacked K/V rows, 64 inputs)
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 rope-dim=3" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-ODD
// ERR-ODD: error: attn-mla-upcycle: option 'rope-dim' must be even (RoPE rotates channels in pairs), got 3
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 rope-dim=18" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-BIG
// ERR-BIG: error: {{.*}}attn-mla-upcycle: option 'rope-dim' (18) exceeds the head dim 16 of layer 0
// RUN: not attn-opt %t/nope.mlir --attn-mla-upcycle="kv-rank=8 rope-dim=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-NOROPE
// ERR-NOROPE: error: {{.*}}attn-mla-upcycle: option 'rope-dim' (4) exceeds the 0 channels RoPE rotates in layer 0 (it has no RoPE)
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 form=latent" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-FORM
// ERR-FORM: error: attn-mla-upcycle: option 'form' must be absorbed or explicit, got 'latent'
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="rope-dim=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-NONE
// ERR-NONE: error: attn-mla-upcycle: give option 'kv-rank' (the latent size) or option 'energy'
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 energy=0.9" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-BOTH
// ERR-BOTH: error: attn-mla-upcycle: give option 'kv-rank' or option 'energy', not both
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="energy=1.5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-ENERGY
// ERR-ENERGY: error: attn-mla-upcycle: option 'energy' must be in (0, 1], got 1.5
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 q-rank=65" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-Q
// ERR-Q: error: {{.*}}attn-mla-upcycle: option 'q-rank' (65) exceeds min(64, 64) = 64 of layer 0's q_proj
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 layers=1-x" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-LAYERS
// ERR-LAYERS: error: attn-mla-upcycle: option 'layers': cannot parse '1-x' (expected a layer or a range s-e)
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 layers=5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-LAYER
// ERR-LAYER: error: attn-mla-upcycle: option 'layers': layer 5 has no attention op in @forward
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 rope-pairs=lowest" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-PAIRS
// ERR-PAIRS: error: attn-mla-upcycle: option 'rope-pairs' must be norm or high-frequency, got 'lowest'
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="energy=0.9 round-to=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-ROUND
// ERR-ROUND: error: attn-mla-upcycle: option 'round-to' must be >= 1, got 0
// RUN: not attn-opt %t/m.mlir --attn-mla-upcycle="kv-rank=8 entry=decode" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-ENTRY
// ERR-ENTRY: error: attn-mla-upcycle: option 'entry' names no function with a body: 'decode'
//
// Blocks the rewrite cannot replace: uncached K/V, an unmatched attention.
// RUN: not attn-opt %t/nocache.mlir --attn-mla-upcycle="kv-rank=4 rope-dim=0 layers=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-NOCACHE
// ERR-NOCACHE: error: attn-mla-upcycle: layer 0: the keys and values are not both cached (the latent replaces a K and a V cache)
// RUN: attn-opt %t/nocache.mlir --attn-mla-upcycle="kv-rank=4 rope-dim=0" -o - 2>&1 | FileCheck %s --check-prefix=NOCACHE-SKIP
// NOCACHE-SKIP: remark: attn-mla-upcycle: skipped layer 0 (the keys and values are not both cached
// NOCACHE-SKIP: attn.attention %{{.*}} : tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>
// RUN: not attn-opt %t/unmatched.mlir --attn-mla-upcycle="kv-rank=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR-UNMATCHED
// ERR-UNMATCHED: error: cannot match the attention block: query is not a head split (tensor.expand_shape) of a projection

//--- nocache.mlir
module {
  func.func @forward(%x: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
    %wq = attn.param "wq" {attn.layer = 0 : i64} : tensor<8x8xf32>
    %wk = attn.param "wk" {attn.layer = 0 : i64} : tensor<8x8xf32>
    %wv = attn.param "wv" {attn.layer = 0 : i64} : tensor<8x8xf32>
    %wo = attn.param "wo" {attn.layer = 0 : i64} : tensor<8x8xf32>
    %q = attn.linear %x, %wq : tensor<1x3x8xf32>, tensor<8x8xf32> -> tensor<1x3x8xf32>
    %k = attn.linear %x, %wk : tensor<1x3x8xf32>, tensor<8x8xf32> -> tensor<1x3x8xf32>
    %v = attn.linear %x, %wv : tensor<1x3x8xf32>, tensor<8x8xf32> -> tensor<1x3x8xf32>
    %qs = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
    %ks = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
    %vs = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
    %a = attn.attention %qs, %ks, %vs {attn.layer = 0 : i64, causal, scale = 0.5 : f64} : tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32> -> tensor<1x3x2x4xf32>
    %m = tensor.collapse_shape %a [[0], [1], [2, 3]] : tensor<1x3x2x4xf32> into tensor<1x3x8xf32>
    %o = attn.linear %m, %wo : tensor<1x3x8xf32>, tensor<8x8xf32> -> tensor<1x3x8xf32>
    return %o : tensor<1x3x8xf32>
  }
}

//--- unmatched.mlir
module {
  func.func @forward(%q: tensor<1x3x2x4xf32>, %k: tensor<1x3x2x4xf32>, %v: tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32> {
    %a = attn.attention %q, %k, %v {scale = 0.5 : f64} : tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32>, tensor<1x3x2x4xf32> -> tensor<1x3x2x4xf32>
    return %a : tensor<1x3x2x4xf32>
  }
}

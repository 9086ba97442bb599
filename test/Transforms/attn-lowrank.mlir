// attn-lowrank on a small imported model: a random 2-layer GQA Llama
// (d_model 64, 4 query heads and 2 KV heads of 16, MLP 96, vocab 80, f32),
// calibrated on random tokens. The numbers the rewritten model computes are
// checked in test/Integration/lowrank-exact.test; here, the IR.
//
// RUN: rm -rf %t && split-file %s %t
// RUN: attn-opt %t/unmatched.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/nonparam.mlir --verify-roundtrip -o /dev/null
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/ckpt --layers 2
// RUN: attn-import hf %t/ckpt -o %t/m.mlir
// RUN: %PYTHON %attn_src/test/Integration/Inputs/lowrank_check.py tokens %t/tok.npy --vocab 80 --count 2048
// RUN: attn-calibrate %t/m.mlir --tokens=%t/tok.npy --context=64 --rp -o %t/stats.safetensors 2>/dev/null
//
// a3 at param-ratio 0.5 halves every component: QK and V head dims 16 -> 8,
// MLP 96 -> 48. The remark reports the achieved ratio.
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors param-ratio=0.5" --attn-params-out=%t/a3.safetensors -o %t/a3.mlir 2>&1 | FileCheck %s --check-prefix=A3-REMARK
// RUN: FileCheck %s --check-prefix=A3 --input-file=%t/a3.mlir --implicit-check-not='proj.weight"'
// A3-REMARK: remark: {{.*}}attn-lowrank: method a3, ranks mlp 48 of 96, ov 8 of 16, qk 8 of 16; attention+MLP parameters 61440 -> 30720 (removed 50%)
//
// The K and V caches (arguments and results) have the new head dims; the
// new weights are in the archive the module now lists first.
// A3: module attributes {attn.params = ["a3.safetensors", "ckpt/model.safetensors"]
// A3: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x8xf32>, %arg3: tensor<?x?x2x8xf32>, %arg4: tensor<?x?x2x8xf32>, %arg5: tensor<?x?x2x8xf32>) -> (tensor<?x?x80xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>)
// A3: %[[WQ:.*]] = attn.param "model.layers.0.self_attn.q_proj.weight.a3" {attn.layer = 0 : i64} : tensor<32x64xf32>
// A3: %[[Q:.*]] = attn.linear %{{.*}}, %[[WQ]] {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<32x64xf32> -> tensor<?x?x32xf32>
// A3: attn.param "model.layers.0.self_attn.k_proj.weight.a3" {attn.layer = 0 : i64} : tensor<16x64xf32>
// A3: attn.param "model.layers.0.self_attn.v_proj.weight.a3" {attn.layer = 0 : i64} : tensor<16x64xf32>
// A3: %[[QS:.*]] = tensor.expand_shape %[[Q]] {{\[\[}}0], [1], [2, 3]] output_shape [%{{.*}}, %{{.*}}, 4, 8] {attn.layer = 0 : i64} : tensor<?x?x32xf32> into tensor<?x?x4x8xf32>
//
// RoPE rotates the kept frequency pairs (4 of the original 8, the same for
// query and key) at their original frequencies: base_dim stays 16.
// A3: %[[QR:.*]] = attn.rope %[[QS]], %arg1 {attn.layer = 0 : i64, base_dim = 16 : i64, frequencies = array<i64: [[FREQ:[0-9]+, [0-9]+, [0-9]+, [0-9]+]]>, pairing = #attn<pairing rotate_half>, rotary_dim = 8 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x4x8xf32>
// A3: tensor.expand_shape {{.*}} into tensor<?x?x2x8xf32>
// A3: attn.rope %{{.*}}, %arg1 {attn.layer = 0 : i64, base_dim = 16 : i64, frequencies = array<i64: [[FREQ]]>, pairing = #attn<pairing rotate_half>, rotary_dim = 8 : i64, theta = 1.000000e+04 : f64} : tensor<?x?x2x8xf32>
// A3: tensor.expand_shape {{.*}} into tensor<?x?x2x8xf32>
// A3: attn.cache_update %arg2[%{{.*}}], %{{.*}} {attn.layer = 0 : i64} : tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>
// A3: attn.cache_update %arg3[%{{.*}}], %{{.*}} {attn.layer = 0 : i64} : tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32>
// A3: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [%{{.*}}, %{{.*}}, 2, 8] [1, 1, 1, 1] {attn.layer = 0 : i64} : tensor<?x?x2x8xf32> to tensor<?x?x2x8xf32>
//
// The scale stays 1/sqrt(16): the kept scores are terms of the same sum.
// A3: attn.attention %[[QR]], %{{.*}}, %{{.*}} {attn.layer = 0 : i64, causal, scale = 2.500000e-01 : f64} : tensor<?x?x4x8xf32>, tensor<?x?x2x8xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x4x8xf32>
// A3: tensor.collapse_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] {attn.layer = 0 : i64} : tensor<?x?x4x8xf32> into tensor<?x?x32xf32>
// A3: attn.param "model.layers.0.self_attn.o_proj.weight.a3" {attn.layer = 0 : i64} : tensor<64x32xf32>
// A3: attn.linear {{.*}} : tensor<?x?x32xf32>, tensor<64x32xf32> -> tensor<?x?x64xf32>
// A3: attn.param "model.layers.0.mlp.gate_proj.weight.a3" {attn.layer = 0 : i64} : tensor<48x64xf32>
// A3: attn.param "model.layers.0.mlp.up_proj.weight.a3" {attn.layer = 0 : i64} : tensor<48x64xf32>
// A3: attn.param "model.layers.0.mlp.down_proj.weight.a3" {attn.layer = 0 : i64} : tensor<64x48xf32>
// A3: attn.mlp {{.*}} {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<48x64xf32>, tensor<48x64xf32>, tensor<64x48xf32>
// A3: attn.param "model.layers.1.self_attn.q_proj.weight.a3" {attn.layer = 1 : i64} : tensor<32x64xf32>
// A3: return
//
// The report after compression: per layer q 32x64, k 16x64, v 16x64,
// o 64x32, MLP 3x48x64 and two norms of 64, f32: 15488 floats = 61952 B
// (123392 B before); KV 2 caches x 2 heads x 8 x 4 B = 128 B/token;
// prefill FLOPs 2·64·(32+16+16) + 2·32·64 + 6·64·48 + 4·(8+8)·1025 = 96320,
// decode 30720 + 2·4·(8+8)·1024 = 161792: half of the dense model's.
// RUN: attn-opt %t/a3.mlir --attn-verify-params --attn-report -o /dev/null | FileCheck %s --check-prefix=A3-REPORT
// RUN: attn-opt %t/m.mlir --attn-report -o /dev/null | FileCheck %s --check-prefix=DENSE-REPORT
// A3-REPORT:      0 61952 128 96320 161792
// A3-REPORT-NEXT: 1 61952 128 96320 161792
// A3-REPORT:      total 165120 256
// DENSE-REPORT:   0 123392 256 192640 323584
// DENSE-REPORT:   total 288000 512
//
// One component with an explicit rank (rank == head dim is allowed): only
// the K cache shrinks. Chaining two QK rewrites composes the frequency lists
// and keeps the same pairs as one rewrite to the final rank (the pair scores
// do not change when other pairs are dropped).
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=12" -o %t/qk12.mlir 2>&1 | FileCheck %s --check-prefix=QK12-REMARK
// RUN: FileCheck %s --check-prefix=QK12 --input-file=%t/qk12.mlir
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=QK16
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=8" -o %t/qk8.mlir 2>/dev/null
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors components=qk qk-rank=12" --attn-lowrank="stats=%t/stats.safetensors components=qk qk-rank=8" -o %t/qk12-8.mlir 2>/dev/null
// RUN: cat %t/qk8.mlir %t/qk12-8.mlir | FileCheck %s --check-prefix=COMPOSE
// QK12-REMARK: remark: {{.*}}attn-lowrank: method a3, ranks qk 12 of 16; attention+MLP parameters 61440 -> 58368 (removed 5%)
// QK12: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x12xf32>, %arg3: tensor<?x?x2x16xf32>, %arg4: tensor<?x?x2x12xf32>, %arg5: tensor<?x?x2x16xf32>)
// QK12: attn.rope {{.*}} {attn.layer = 0 : i64, base_dim = 16 : i64, frequencies = array<i64: {{([0-9]+, ){5}[0-9]+}}>, pairing = #attn<pairing rotate_half>, rotary_dim = 12 : i64
// QK12: attn.attention {{.*}} : tensor<?x?x4x12xf32>, tensor<?x?x2x12xf32>, tensor<?x?x2x16xf32> -> tensor<?x?x4x16xf32>
// QK16: ranks qk 16 of 16; attention+MLP parameters 61440 -> 61440 (removed 0%)
// COMPOSE: attn.param "model.layers.0.self_attn.q_proj.weight.a3" {{.*}} : tensor<32x64xf32>
// COMPOSE: frequencies = array<i64: [[F0:[0-9, ]+]]>
// COMPOSE: attn.param "model.layers.1.self_attn.q_proj.weight.a3" {{.*}} : tensor<32x64xf32>
// COMPOSE: frequencies = array<i64: [[F1:[0-9, ]+]]>
// COMPOSE: attn.param "model.layers.0.self_attn.q_proj.weight.a3.a3" {{.*}} : tensor<32x64xf32>
// COMPOSE: frequencies = array<i64: [[F0]]>
// COMPOSE: attn.param "model.layers.1.self_attn.q_proj.weight.a3.a3" {{.*}} : tensor<32x64xf32>
// COMPOSE: frequencies = array<i64: [[F1]]>
//
// New names never reuse a stored one: with the first run's archive loaded,
// the weights it holds (<name>.a3) exist, so the new ones are <name>.a3.2.
// RUN: attn-opt %t/m.mlir --attn-params=%t/ckpt/model.safetensors,%t/a3.safetensors --attn-lowrank="stats=%t/stats.safetensors components=qk qk-rank=12" -o - 2>/dev/null | FileCheck %s --check-prefix=UNIQUE
// UNIQUE: attn.param "model.layers.0.self_attn.q_proj.weight.a3.2" {attn.layer = 0 : i64} : tensor<48x64xf32>
//
// OV weighted by the per-head R_P (ov-stat=rp): V head dim 8, K unchanged.
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors components=ov param-ratio=0.5 ov-stat=rp" -o - 2>&1 | FileCheck %s --check-prefix=RP
// RP: remark: {{.*}}ranks ov 8 of 16; attention+MLP parameters 61440 -> 55296 (removed 10%)
// RP: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x16xf32>, %arg3: tensor<?x?x2x8xf32>,
// RP: attn.param "model.layers.0.self_attn.v_proj.weight.a3" {attn.layer = 0 : i64} : tensor<16x64xf32>
// RP: attn.attention {{.*}} : tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x2x8xf32> -> tensor<?x?x4x8xf32>
// RP: attn.param "model.layers.0.self_attn.o_proj.weight.a3" {attn.layer = 0 : i64} : tensor<64x32xf32>
//
// Without RoPE, QK takes the closed form: new q/k weights, no rope op.
// RUN: %PYTHON %attn_src/test/Integration/Inputs/lowrank_check.py strip-rope %t/m.mlir %t/nope.mlir
// RUN: attn-opt %t/nope.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=6" -o - 2>/dev/null | FileCheck %s --check-prefix=NOPE --implicit-check-not=attn.rope
// NOPE: attn.param "model.layers.0.self_attn.q_proj.weight.a3" {attn.layer = 0 : i64} : tensor<24x64xf32>
// NOPE: attn.param "model.layers.0.self_attn.k_proj.weight.a3" {attn.layer = 0 : i64} : tensor<12x64xf32>
// NOPE: attn.attention {{.*}} : tensor<?x?x4x6xf32>, tensor<?x?x2x6xf32>, tensor<?x?x2x16xf32> -> tensor<?x?x4x16xf32>
//
// svd: every projection becomes x -> B -> A with r(out + in) ~ (1-R)·out·in
// (q 16, k/v 12, o 16, gate/up/down 20 at R = 0.5, round-to=4); the MLP is
// expanded first, and every op carries its layer.
// RUN: attn-opt %t/m.mlir --attn-lowrank="method=svd param-ratio=0.5 round-to=4" -o %t/svd.mlir 2>&1 | FileCheck %s --check-prefix=SVD-REMARK
// RUN: FileCheck %s --check-prefix=SVD --input-file=%t/svd.mlir --implicit-check-not=attn.mlp
// SVD-REMARK: remark: {{.*}}attn-lowrank: method svd, ranks down_proj 20 of 64, gate_proj 20 of 64, k_proj 12 of 32, o_proj 16 of 64, q_proj 16 of 64, up_proj 20 of 64, v_proj 12 of 32; attention+MLP parameters 61440 -> 32000 (removed 47.9%)
// SVD: func.func @forward(%arg0: tensor<?x?xi64>, %arg1: tensor<?x?xi64>, %arg2: tensor<?x?x2x16xf32>,
// SVD: %[[A:.*]] = attn.param "model.layers.0.self_attn.q_proj.weight.svd_a" {attn.layer = 0 : i64} : tensor<64x16xf32>
// SVD: %[[B:.*]] = attn.param "model.layers.0.self_attn.q_proj.weight.svd_b" {attn.layer = 0 : i64} : tensor<16x64xf32>
// SVD: %[[H:.*]] = attn.linear %{{.*}}, %[[B]] {attn.layer = 0 : i64} : tensor<?x?x64xf32>, tensor<16x64xf32> -> tensor<?x?x16xf32>
// SVD: attn.linear %[[H]], %[[A]] {attn.layer = 0 : i64} : tensor<?x?x16xf32>, tensor<64x16xf32> -> tensor<?x?x64xf32>
// SVD: attn.param "model.layers.0.self_attn.k_proj.weight.svd_b" {attn.layer = 0 : i64} : tensor<12x64xf32>
// SVD: attn.param "model.layers.0.self_attn.o_proj.weight.svd_b" {attn.layer = 0 : i64} : tensor<16x64xf32>
// SVD: attn.param "model.layers.0.mlp.gate_proj.weight.svd_b" {attn.layer = 0 : i64} : tensor<20x64xf32>
// SVD: arith.negf %{{.*}} {attn.layer = 0 : i64}
// SVD: math.exp %{{.*}} {attn.layer = 0 : i64}
// SVD: attn.param "model.layers.0.mlp.down_proj.weight.svd_a" {attn.layer = 0 : i64} : tensor<64x20xf32>
//
// whitened-svd: the same shapes, SVD-LLM factors.
// RUN: attn-opt %t/m.mlir --attn-lowrank="method=whitened-svd stats=%t/stats.safetensors param-ratio=0.5 round-to=4" -o - 2>/dev/null | FileCheck %s --check-prefix=WSVD
// WSVD: attn.param "model.layers.0.self_attn.q_proj.weight.wsvd_a" {attn.layer = 0 : i64} : tensor<64x16xf32>
// WSVD: attn.param "model.layers.0.self_attn.q_proj.weight.wsvd_b" {attn.layer = 0 : i64} : tensor<16x64xf32>
// WSVD: attn.param "model.layers.0.mlp.down_proj.weight.wsvd_b" {attn.layer = 0 : i64} : tensor<20x96xf32>
//
// A Gram from 16 tokens of 64 channels is singular: it is damped, with a
// remark naming the layer and λ.
// RUN: %PYTHON %attn_src/test/Integration/Inputs/lowrank_check.py tokens %t/few.npy --vocab 80 --count 16
// RUN: attn-calibrate %t/m.mlir --tokens=%t/few.npy --context=16 -o %t/few.safetensors 2>/dev/null
// RUN: attn-opt %t/m.mlir --attn-lowrank="stats=%t/few.safetensors components=ov ov-rank=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=DAMP
// DAMP: remark: {{.*}}attn-lowrank: layer 0: R_kv is ill-conditioned (condition inf); damped with λ = 1e-06 · mean(diag)
// DAMP: remark: {{.*}}attn-lowrank: layer 1: R_kv is ill-conditioned
// RUN: attn-opt %t/m.mlir --attn-lowrank="method=whitened-svd stats=%t/few.safetensors components=qk qk-rank=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=DAMP-CHOL
// DAMP-CHOL: remark: {{.*}}attn-lowrank: layer 0: R_q (for q_proj) is not positive definite; Cholesky damped with λ = 1e-06 · mean(diag)
// DAMP-CHOL: remark: {{.*}}attn-lowrank: layer 0: R_kv (for k_proj) is not positive definite
//
// Bad options and inputs are diagnostics naming the option or tensor.
// RUN: not attn-opt %t/m.mlir --attn-lowrank="method=qr param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-METHOD
// BAD-METHOD: error: attn-lowrank: option 'method' must be a3, svd or whitened-svd, got 'qr'
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors param-ratio=1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-RATIO
// BAD-RATIO: error: attn-lowrank: option 'param-ratio' must be in [0, 1), got 1
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors param-ratio=-0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-RATIO-NEG
// BAD-RATIO-NEG: error: attn-lowrank: option 'param-ratio' must be in [0, 1), got -0.1
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=18" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-QK
// BAD-QK: error: {{.*}}attn-lowrank: option 'qk-rank': 18 exceeds the QK head dim 16 of layer 0
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=7" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ODD-QK
// ODD-QK: error: {{.*}}attn-lowrank: option 'qk-rank': 7 must be even (RoPE keeps whole frequency pairs)
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors ov-rank=17" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-OV
// BAD-OV: error: {{.*}}attn-lowrank: option 'ov-rank': 17 exceeds the V head dim 16 of layer 0
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors mlp-rank=97" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-MLP
// BAD-MLP: error: {{.*}}attn-lowrank: option 'mlp-rank': 97 exceeds the intermediate size 96 of layer 0
// RUN: not attn-opt %t/m.mlir --attn-lowrank="method=svd qk-rank=65" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-SVD-RANK
// BAD-SVD-RANK: error: {{.*}}attn-lowrank: option 'qk-rank': 65 exceeds min(out, in) = 64 of every projection of layer 0
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=-2" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NEG-RANK
// NEG-RANK: error: attn-lowrank: option 'qk-rank' must be >= 0 (0: from param-ratio), got -2
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NO-BUDGET
// NO-BUDGET: error: attn-lowrank: give option 'param-ratio' or a rank ('qk-rank', 'ov-rank', 'mlp-rank')
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors components=qk,attn param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-COMPONENT
// BAD-COMPONENT: error: attn-lowrank: option 'components': unknown component 'attn' (expected qk, ov, mlp)
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors components=qk,ov qk-rank=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NO-RANK
// NO-RANK: error: attn-lowrank: component 'ov' has no rank: give option 'ov-rank' or option 'param-ratio'
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors components=qk qk-rank=8 mlp-rank=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNSELECTED
// UNSELECTED: error: attn-lowrank: option 'mlp-rank' is given but 'mlp' is not in option 'components'
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors param-ratio=0.1 round-to=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-ROUND
// BAD-ROUND: error: attn-lowrank: option 'round-to' must be >= 1, got 0
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors param-ratio=0.1 ov-stat=rq" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-OVSTAT
// BAD-OVSTAT: error: attn-lowrank: option 'ov-stat' must be rkv or rp, got 'rq'
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/stats.safetensors param-ratio=0.1 entry=main" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD-ENTRY
// BAD-ENTRY: error: attn-lowrank: option 'entry' names no function with a body: 'main'
//
// Statistics: required for a3 and whitened-svd, of this model, with the
// model's dimensions, and with R_P for ov-stat=rp.
// RUN: not attn-opt %t/m.mlir --attn-lowrank="param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NO-STATS
// NO-STATS: error: attn-lowrank: option 'stats' is required for method=a3 (run attn-calibrate)
// RUN: not attn-opt %t/m.mlir --attn-lowrank="method=whitened-svd param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NO-STATS-W
// NO-STATS-W: error: attn-lowrank: option 'stats' is required for method=whitened-svd
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/missing.safetensors param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=MISSING-STATS
// MISSING-STATS: error: attn-lowrank: option 'stats': {{.*}}missing.safetensors: cannot open
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/other --layers 1
// RUN: attn-import hf %t/other -o %t/other.mlir
// RUN: attn-calibrate %t/other.mlir --tokens=%t/few.npy --context=16 -o %t/other-stats.safetensors 2>/dev/null
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/other-stats.safetensors param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=OTHER-MODEL
// OTHER-MODEL: error: attn-lowrank: option 'stats': {{.*}}other-stats.safetensors: statistics were measured on another model
// RUN: %PYTHON %attn_src/test/Integration/Inputs/lowrank_check.py shrink-stat %t/stats.safetensors %t/shrunk.safetensors layers.1.R_d
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/shrunk.safetensors param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=DIMS
// DIMS: error: {{.*}}attn-lowrank: option 'stats': layers.1.R_d is 95x95 but layer 1 needs 96x96
// RUN: not attn-opt %t/m.mlir --attn-lowrank="stats=%t/few.safetensors ov-rank=8 ov-stat=rp" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NO-RP
// NO-RP: error: {{.*}}attn-lowrank: option 'ov-stat=rp': {{.*}}few.safetensors has no layers.0.R_P (calibrate with --rp)
//
// A non-finite weight is named.
// RUN: cp -r %t/ckpt %t/ckpt-nan
// RUN: %PYTHON %attn_src/test/Integration/Inputs/lowrank_check.py poison %t/ckpt-nan/model.safetensors model.layers.1.self_attn.k_proj.weight
// RUN: not attn-opt %t/m.mlir --attn-params=%t/ckpt-nan/model.safetensors --attn-lowrank="stats=%t/stats.safetensors param-ratio=0.1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NAN
// NAN: error: {{.*}}attn-lowrank: tensor "model.layers.1.self_attn.k_proj.weight" has a non-finite value nan at (0, 0)
//
// Models the rewrite cannot follow: partial rotary (QK), an attention op
// outside a projection block, a weight that is not a parameter.
// RUN: sed 's/rotary_dim = 16/rotary_dim = 8/' %t/m.mlir > %t/partial.mlir
// RUN: not attn-opt %t/partial.mlir --attn-lowrank="stats=%t/stats.safetensors qk-rank=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PARTIAL
// PARTIAL: error: {{.*}}attn-lowrank: layer 0: partial rotary (8 of 16 channels) is not supported by the QK pair selection; leave 'qk' out of option 'components'
// RUN: not attn-opt %t/unmatched.mlir --attn-lowrank="method=svd param-ratio=0.5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNMATCHED
// UNMATCHED: error: cannot match the attention block: query is not a head split (tensor.expand_shape) of a projection
// RUN: not attn-opt %t/nonparam.mlir --attn-lowrank="method=svd param-ratio=0.5 components=qk,ov" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NONPARAM
// NONPARAM: error: attn-lowrank: the q_proj weight is not an attn.param (cannot read its weights)
// ... and that has no MLP for component 'mlp'.
// RUN: not attn-opt %t/nonparam.mlir --attn-lowrank="method=svd param-ratio=0.5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NO-MLP
// NO-MLP: error: attn-lowrank: no attn.mlp in @forward for component 'mlp'

//--- unmatched.mlir
func.func @forward(%q: tensor<1x4x2x8xf32>, %k: tensor<1x4x2x8xf32>,
                   %v: tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32> {
  %o = attn.attention %q, %k, %v {attn.layer = 0 : i64, scale = 0.35355339059327373 : f64}
      : tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x4x2x8xf32>
  return %o : tensor<1x4x2x8xf32>
}

//--- nonparam.mlir
func.func @forward(%x: tensor<1x4x16xf32>, %wq: tensor<16x16xf32>) -> tensor<1x4x16xf32> {
  %wk = attn.param "wk" {attn.layer = 0 : i64} : tensor<16x16xf32>
  %wv = attn.param "wv" {attn.layer = 0 : i64} : tensor<16x16xf32>
  %wo = attn.param "wo" {attn.layer = 0 : i64} : tensor<16x16xf32>
  %q = attn.linear %x, %wq {attn.layer = 0 : i64} : tensor<1x4x16xf32>, tensor<16x16xf32> -> tensor<1x4x16xf32>
  %k = attn.linear %x, %wk {attn.layer = 0 : i64} : tensor<1x4x16xf32>, tensor<16x16xf32> -> tensor<1x4x16xf32>
  %v = attn.linear %x, %wv {attn.layer = 0 : i64} : tensor<1x4x16xf32>, tensor<16x16xf32> -> tensor<1x4x16xf32>
  %qh = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 4, 2, 8] : tensor<1x4x16xf32> into tensor<1x4x2x8xf32>
  %kh = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 4, 2, 8] : tensor<1x4x16xf32> into tensor<1x4x2x8xf32>
  %vh = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 4, 2, 8] : tensor<1x4x16xf32> into tensor<1x4x2x8xf32>
  %a = attn.attention %qh, %kh, %vh {attn.layer = 0 : i64, causal, scale = 0.35355339059327373 : f64}
      : tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x4x2x8xf32>
  %m = tensor.collapse_shape %a [[0], [1], [2, 3]] : tensor<1x4x2x8xf32> into tensor<1x4x16xf32>
  %o = attn.linear %m, %wo {attn.layer = 0 : i64} : tensor<1x4x16xf32>, tensor<16x16xf32> -> tensor<1x4x16xf32>
  return %o : tensor<1x4x16xf32>
}

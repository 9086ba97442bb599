// attn-quantize-kv on a small imported model: a random 2-layer GQA Llama
// (d_model 64, 4 query heads and 2 KV heads of 16, vocab 80, f32). The
// numbers are checked in test/Integration/op-kv-quantize.test (the op
// against numpy) and test/Integration/quantize-kv-run.test (the rewritten
// model under attn-eval); here, the IR, the report and the options.
//
// RUN: rm -rf %t && split-file %s %t
// RUN: attn-opt %t/read.mlir --verify-roundtrip -o /dev/null
// RUN: %PYTHON %attn_src/test/Inputs/make_llama_checkpoint.py %t/ckpt --layers 2 --kv-heads 2
// RUN: attn-import hf %t/ckpt -o %t/m.mlir
//
// Every cache read feeding attention goes through attn.kv_quantize: keys per
// channel, values per token.
// RUN: attn-opt %t/m.mlir --attn-quantize-kv="bits=2 window=16 group=16" -o %t/q.mlir 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: attn-opt %t/q.mlir --verify-roundtrip -o /dev/null
// RUN: FileCheck %s --input-file=%t/q.mlir
// REMARK: remark: {{.*}}attn-quantize-kv: 2 of 2 attention ops read a 2-bit cache (group 16, window 16)
// CHECK: %[[KC:.*]] = attn.cache_update %arg2[%{{.*}}], %{{.*}} {attn.layer = 0 : i64} : tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>
// CHECK: %[[VC:.*]] = attn.cache_update %arg3[%{{.*}}], %{{.*}} {attn.layer = 0 : i64} : tensor<?x?x2x16xf32>, tensor<?x?x2x16xf32>
// CHECK: %[[KR:.*]] = tensor.extract_slice %[[KC]]
// CHECK: %[[VR:.*]] = tensor.extract_slice %[[VC]]
// CHECK: %[[KQ:.*]] = attn.kv_quantize %[[KR]] {attn.layer = 0 : i64, axis = "channel", bits = 2 : i64, group = 16 : i64, window = 16 : i64} : tensor<?x?x2x16xf32>
// CHECK: %[[VQ:.*]] = attn.kv_quantize %[[VR]] {attn.layer = 0 : i64, axis = "token", bits = 2 : i64, group = 16 : i64, window = 16 : i64} : tensor<?x?x2x16xf32>
// CHECK: attn.attention %{{.*}}, %[[KQ]], %[[VQ]]
// CHECK: attn.kv_quantize {{.*}}attn.layer = 1 : i64, axis = "channel"
// CHECK: attn.kv_quantize {{.*}}attn.layer = 1 : i64, axis = "token"
//
// Report at seq-len 256 (per layer, 2 heads of 16): keys keep 240 tokens as
// 2-bit codes (8 B) + fp16 scale/zero per channel per 16 tokens (8 B), 16 in
// fp32 (128 B): (240·16 + 16·128)/256 = 23 B/token; values the same (one
// group of 16 channels per token and head: 8 B of scale/zero) = 23. Dense:
// 2 caches x 2 heads x 16 x 4 B = 256.
// RUN: attn-opt %t/m.mlir --attn-report="seq-len=256" -o /dev/null | FileCheck %s --check-prefix=DENSE
// RUN: attn-opt %t/q.mlir --attn-report="seq-len=256" -o /dev/null | FileCheck %s --check-prefix=REPORT
// DENSE: {{^}}0 {{[0-9]+}} 256 {{[0-9]+}}
// REPORT: {{^}}0 {{[0-9]+}} 46 {{[0-9]+}}
// REPORT: {{^}}1 {{[0-9]+}} 46 {{[0-9]+}}
// RUN: attn-opt %t/m.mlir --attn-quantize-kv="bits=4 window=0 group=16" --attn-report="seq-len=256" -o /dev/null 2>/dev/null | FileCheck %s --check-prefix=REPORT4
// 4 bits, no window: (16 + 8) x 2 = 48.
// REPORT4: {{^}}0 {{[0-9]+}} 48 {{[0-9]+}}
//
// Bad options name the option.
// RUN: not attn-opt %t/m.mlir --attn-quantize-kv="bits=3" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BITS
// BITS: error: {{.*}}attn-quantize-kv: option 'bits' must be 2 or 4, got 3
// RUN: not attn-opt %t/m.mlir --attn-quantize-kv="bits=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BITS8
// BITS8: error: {{.*}}attn-quantize-kv: option 'bits' must be 2 or 4, got 8
// RUN: not attn-opt %t/m.mlir --attn-quantize-kv="window=-1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=WINDOW
// WINDOW: error: {{.*}}attn-quantize-kv: option 'window' must be >= 0, got -1
// RUN: not attn-opt %t/m.mlir --attn-quantize-kv="group=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GROUP0
// GROUP0: error: {{.*}}attn-quantize-kv: option 'group' must be >= 1, got 0
// RUN: not attn-opt %t/m.mlir --attn-quantize-kv="group=5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GROUP
// GROUP: error: {{.*}}attn-quantize-kv: option 'group' (5) must divide the value head dim 16
// RUN: not attn-opt %t/m.mlir --attn-quantize-kv="entry=nope" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ENTRY
// ENTRY: error: {{.*}}attn-quantize-kv: option 'entry' names no function with a body: 'nope'
//
// A read that is not of a cache is left alone, with a remark.
// RUN: attn-opt %t/read.mlir --attn-quantize-kv="entry=nocache" -o - 2>&1 | FileCheck %s --check-prefix=SKIP
// SKIP: remark: {{.*}}attn-quantize-kv: skipped (keys and values are not both cache reads)
// SKIP-NOT: attn.kv_quantize

//--- read.mlir
func.func @nocache(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>,
                   %v: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  %o = attn.attention %q, %k, %v {causal, scale = 0.25 : f64}
      : tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>
      -> tensor<1x4x2x16xf32>
  return %o : tensor<1x4x2x16xf32>
}

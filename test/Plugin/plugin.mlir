// libAttnPlugin.so extends Debian's upstream mlir-opt (the same libMLIR.so):
// as a dialect plugin it parses and prints attn ops, as a pass plugin it
// adds the attn passes. Passes from a pass plugin are not command-line flags
// of mlir-opt; they are named through --pass-pipeline.
//
// Dialect plugin: round trip, custom and generic form.
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so %s | FileCheck %s --check-prefix=ROUNDTRIP
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so %s --mlir-print-op-generic | %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so | FileCheck %s --check-prefix=ROUNDTRIP
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so %s --verify-roundtrip -o /dev/null
//
// ... and runs the attn verifiers.
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so %S/Inputs/bad_attention.mlir --verify-diagnostics -o /dev/null
//
// Without the plugin, mlir-opt does not know the dialect.
// RUN: not %mlir_opt %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=NODIALECT
// NODIALECT: Dialect `attn' not found for custom op 'attn.param'
//
// Pass plugin: attn-report through --pass-pipeline (the dialect plugin is
// needed as well, to parse the attn ops). Numbers for this layer, S = 8:
//   params: wq 8*8*4 = 256, wk 4*8*4 = 128, wv 128 -> 512 B
//   kv/token: K and V caches, 1 head * 4 dims * 4 B = 16 each -> 32
//   prefill: linears 2*8*8 + 2*8*4 + 2*8*4 = 256, attention 2 heads *
//     (4+4) * (S+1) = 16*9 = 144 -> 400
//   decode: 256 + 2*16*8 = 256 + 256 = 512
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so --load-pass-plugin=%attn_libs/libAttnPlugin.so --pass-pipeline="builtin.module(attn-report{seq-len=8 label=plugin})" %s -o /dev/null | FileCheck %s --check-prefix=REPORT
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so --load-pass-plugin=%attn_libs/libAttnPlugin.so --pass-pipeline="builtin.module(attn-report{seq-len=8})" --attn-report-format=json %s -o /dev/null | FileCheck %s --check-prefix=JSON
//
// The pass plugin's options are diagnosed like attn-opt's.
// RUN: not %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so --load-pass-plugin=%attn_libs/libAttnPlugin.so --pass-pipeline="builtin.module(attn-report{format=xml})" %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: error: attn-report: option 'format' must be 'text' or 'json', got 'xml'
//
// attn-verify-params through the plugin: archives resolve against the
// module file's directory as in attn-opt.
// RUN: rm -rf %t && mkdir -p %t && cp %S/Inputs/with_params.mlir %t/
// RUN: %PYTHON %S/../Inputs/params_write_safetensors.py %t/weights.safetensors w:BF16:4x8
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so --load-pass-plugin=%attn_libs/libAttnPlugin.so --pass-pipeline="builtin.module(attn-verify-params)" %t/with_params.mlir -o /dev/null
// RUN: %PYTHON %S/../Inputs/params_write_safetensors.py %t/weights.safetensors w:F16:4x8
// RUN: not %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so --load-pass-plugin=%attn_libs/libAttnPlugin.so --pass-pipeline="builtin.module(attn-verify-params)" %t/with_params.mlir -o /dev/null 2>&1 | FileCheck %s --check-prefix=PARAMS -DDIR=%t
// PARAMS: error: parameter "w" is 'tensor<4x8xbf16>' in the IR but F16[4,8] in [[DIR]]/weights.safetensors
//
// The plugin's passes are listed by mlir-opt --help, not as flags.
// RUN: %mlir_opt --load-pass-plugin=%attn_libs/libAttnPlugin.so --help | FileCheck %s --check-prefix=HELP
// HELP: --attn-report {{.*}}Report parameter bytes, KV-cache bytes and FLOPs per layer
// RUN: not %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so --load-pass-plugin=%attn_libs/libAttnPlugin.so --attn-report %s 2>&1 | FileCheck %s --check-prefix=NOFLAG
// NOFLAG: Unknown command line argument '--attn-report'

// ROUNDTRIP-LABEL: func.func @layer
// ROUNDTRIP: attn.param "wq" {attn.layer = 0 : i64} : tensor<8x8xf32>
// ROUNDTRIP: attn.linear %{{.*}}, %{{.*}} {attn.layer = 0 : i64} : tensor<1x?x8xf32>, tensor<8x8xf32> -> tensor<1x?x8xf32>
// ROUNDTRIP: attn.rope %{{.*}}, %{{.*}} {attn.layer = 0 : i64, pairing = #attn<pairing interleaved>, rotary_dim = 4 : i64, theta = 1.000000e+04 : f64} : tensor<1x?x2x4xf32>, tensor<1x?xi64>
// ROUNDTRIP: attn.cache_update %{{.*}}[%{{.*}}], %{{.*}} {attn.layer = 0 : i64} : tensor<1x32x1x4xf32>, tensor<1x?x1x4xf32>
// ROUNDTRIP: attn.attention %{{.*}}, %{{.*}}, %{{.*}} {attn.layer = 0 : i64, causal, scale = 5.000000e-01 : f64} : tensor<1x?x2x4xf32>, tensor<1x?x1x4xf32>, tensor<1x?x1x4xf32> -> tensor<1x?x2x4xf32>

// REPORT:      attn-report [plugin]: @layer, 1 layers, seq-len 8
// REPORT-NEXT: layer params(B) kv(B/token) prefill FLOPs/token decode FLOPs/token
// REPORT-NEXT: {{^}}0 512 32 400 512{{$}}
// REPORT-NEXT: {{^}}other 0 0 0 0{{$}}
// REPORT-NEXT: {{^}}total 512 32 400 512{{$}}

// JSON: "total": {
// JSON-NEXT: "attention_ops": 1,
// JSON-NEXT: "decode_flops_per_token": 512,
// JSON-NEXT: "kv_bytes_per_token": 32,
// JSON-NEXT: "param_bytes": 512,
// JSON-NEXT: "prefill_flops_per_token": 400

func.func @layer(%x: tensor<1x?x8xf32>, %pos: tensor<1x?xi64>,
                 %kc: tensor<1x32x1x4xf32>, %vc: tensor<1x32x1x4xf32>,
                 %start: index)
    -> (tensor<1x?x2x4xf32>, tensor<1x32x1x4xf32>, tensor<1x32x1x4xf32>) {
  %c1 = arith.constant 1 : index
  %n = tensor.dim %x, %c1 : tensor<1x?x8xf32>
  %end = arith.addi %start, %n : index
  %wq = attn.param "wq" {attn.layer = 0 : i64} : tensor<8x8xf32>
  %wk = attn.param "wk" {attn.layer = 0 : i64} : tensor<4x8xf32>
  %wv = attn.param "wv" {attn.layer = 0 : i64} : tensor<4x8xf32>
  %q2 = attn.linear %x, %wq {attn.layer = 0 : i64}
      : tensor<1x?x8xf32>, tensor<8x8xf32> -> tensor<1x?x8xf32>
  %k2 = attn.linear %x, %wk {attn.layer = 0 : i64}
      : tensor<1x?x8xf32>, tensor<4x8xf32> -> tensor<1x?x4xf32>
  %v2 = attn.linear %x, %wv {attn.layer = 0 : i64}
      : tensor<1x?x8xf32>, tensor<4x8xf32> -> tensor<1x?x4xf32>
  %q = tensor.expand_shape %q2 [[0], [1], [2, 3]] output_shape [1, %n, 2, 4]
      : tensor<1x?x8xf32> into tensor<1x?x2x4xf32>
  %k = tensor.expand_shape %k2 [[0], [1], [2, 3]] output_shape [1, %n, 1, 4]
      : tensor<1x?x4xf32> into tensor<1x?x1x4xf32>
  %v = tensor.expand_shape %v2 [[0], [1], [2, 3]] output_shape [1, %n, 1, 4]
      : tensor<1x?x4xf32> into tensor<1x?x1x4xf32>
  %qr = attn.rope %q, %pos {attn.layer = 0 : i64, theta = 1.0e+04 : f64,
                            rotary_dim = 4 : i64,
                            pairing = #attn<pairing interleaved>}
      : tensor<1x?x2x4xf32>, tensor<1x?xi64>
  %kc1 = attn.cache_update %kc[%start], %k {attn.layer = 0 : i64}
      : tensor<1x32x1x4xf32>, tensor<1x?x1x4xf32>
  %vc1 = attn.cache_update %vc[%start], %v {attn.layer = 0 : i64}
      : tensor<1x32x1x4xf32>, tensor<1x?x1x4xf32>
  %ks = tensor.extract_slice %kc1[0, 0, 0, 0] [1, %end, 1, 4] [1, 1, 1, 1]
      : tensor<1x32x1x4xf32> to tensor<1x?x1x4xf32>
  %vs = tensor.extract_slice %vc1[0, 0, 0, 0] [1, %end, 1, 4] [1, 1, 1, 1]
      : tensor<1x32x1x4xf32> to tensor<1x?x1x4xf32>
  %o = attn.attention %qr, %ks, %vs {attn.layer = 0 : i64, causal,
                                      scale = 0.5 : f64}
      : tensor<1x?x2x4xf32>, tensor<1x?x1x4xf32>, tensor<1x?x1x4xf32>
      -> tensor<1x?x2x4xf32>
  return %o, %kc1, %vc1
      : tensor<1x?x2x4xf32>, tensor<1x32x1x4xf32>, tensor<1x32x1x4xf32>
}

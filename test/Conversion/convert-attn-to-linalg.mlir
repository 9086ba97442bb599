// RUN: attn-opt %s --split-input-file --convert-attn-to-linalg | FileCheck %s
// RUN: attn-opt %s --split-input-file --verify-roundtrip -o /dev/null

// The mlir-opt plugin registers the pass, which runs on any op.
// RUN: %mlir_opt --load-dialect-plugin=%attn_libs/libAttnPlugin.so \
// RUN:   --load-pass-plugin=%attn_libs/libAttnPlugin.so --split-input-file \
// RUN:   --pass-pipeline="builtin.module(func.func(convert-attn-to-linalg))" %s \
// RUN:   | FileCheck %s

// checks=report skips a bad write and reports it to the runtime instead.
// RUN: attn-opt %s --split-input-file --convert-attn-to-linalg="checks=report" \
// RUN:   | FileCheck %s --check-prefix=REPORT

// The output re-parses and verifies, and no attn op but attn.param survives.
// RUN: attn-opt %s --split-input-file --convert-attn-to-linalg \
// RUN:   | attn-opt --split-input-file \
// RUN:   | FileCheck %s --check-prefix=NOATTN
// NOATTN-NOT: = attn.{{embed|linear|rms_norm|mlp|rope|attention|cache_update}}

// Kept ops stay for a later lowering; the others still convert.
// RUN: attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-linalg="keep=attn.linear,attn.mlp,attn.attention" \
// RUN:   | FileCheck %s --check-prefix=KEEP

// RUN: not attn-opt %s --split-input-file \
// RUN:   --convert-attn-to-linalg="keep=attn.linear,linalg.matmul" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BADKEEP
// BADKEEP: error: convert-attn-to-linalg: option 'keep' names 'linalg.matmul', which is not an attn op

// CHECK-DAG: #[[$EMB_TOK:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$EMB_ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @embed(
// CHECK-SAME:    %[[TABLE:.+]]: tensor<256x16xf32>, %[[TOK:.+]]: tensor<?x?xi64>
// CHECK:         tensor.empty
// CHECK-DAG:     %[[ZERO:.+]] = arith.constant 0 : index
// CHECK-DAG:     %[[VOCAB:.+]] = arith.constant 256 : index
// CHECK:         %[[LAST:.+]] = arith.subi %[[VOCAB]], %{{.+}} : index
// CHECK:         linalg.generic {indexing_maps = [#[[$EMB_TOK]], #[[$EMB_ID]]], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME:      ins(%[[TOK]] : tensor<?x?xi64>) outs(%{{.+}} : tensor<?x?x16xf32>)
// CHECK:           %[[ID:.+]] = arith.index_cast %{{.+}} : i64 to index
// CHECK:           %[[LO:.+]] = arith.maxsi %[[ID]], %[[ZERO]] : index
// CHECK:           %[[ROW:.+]] = arith.minsi %[[LO]], %[[LAST]] : index
// CHECK:           %[[COL:.+]] = linalg.index 2 : index
// CHECK:           %[[V:.+]] = tensor.extract %[[TABLE]][%[[ROW]], %[[COL]]] : tensor<256x16xf32>
// CHECK:           linalg.yield %[[V]] : f32
// KEEP-LABEL: func.func @embed(
// KEEP-NOT:     attn.embed
func.func @embed(%table: tensor<256x16xf32>, %tokens: tensor<?x?xi64>) -> tensor<?x?x16xf32> {
  %0 = attn.embed %table, %tokens : tensor<256x16xf32>, tensor<?x?xi64> -> tensor<?x?x16xf32>
  return %0 : tensor<?x?x16xf32>
}

// -----

// A matrix input is one matmul that reads the [out, in] weight transposed.
// CHECK-DAG: #[[$MM_A:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$MM_B:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$MM_C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @linear_matrix(
// CHECK-SAME:    %[[X:.+]]: tensor<?x32xf32>, %[[W:.+]]: tensor<64x32xf32>
// CHECK:         %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[EMPTY:.+]] = tensor.empty(%{{.+}}) : tensor<?x64xf32>
// CHECK:         %[[INIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<?x64xf32>)
// CHECK:         %[[Y:.+]] = linalg.matmul indexing_maps = [#[[$MM_A]], #[[$MM_B]], #[[$MM_C]]]
// CHECK-SAME:      ins(%[[X]], %[[W]] : tensor<?x32xf32>, tensor<64x32xf32>) outs(%[[INIT]] : tensor<?x64xf32>)
// CHECK:         return %[[Y]]
// KEEP-LABEL: func.func @linear_matrix(
// KEEP:         attn.linear
// KEEP-NOT:     linalg.matmul
func.func @linear_matrix(%x: tensor<?x32xf32>, %w: tensor<64x32xf32>) -> tensor<?x64xf32> {
  %0 = attn.linear %x, %w : tensor<?x32xf32>, tensor<64x32xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Leading dims collapse into the matmul's rows and expand back after the
// bias is added.
// CHECK-DAG: #[[$BIAS:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[$ID2:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @linear_bias(
// CHECK-SAME:    %[[X:.+]]: tensor<1x?x32xf32>, %[[W:.+]]: tensor<64x32xf32>, %[[B:.+]]: tensor<64xf32>
// CHECK:         %[[X2:.+]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<1x?x32xf32> into tensor<?x32xf32>
// CHECK:         %[[MM:.+]] = linalg.matmul indexing_maps = [#{{.+}}, #{{.+}}, #{{.+}}] ins(%[[X2]], %[[W]] :
// CHECK:         %[[Y2:.+]] = linalg.generic {indexing_maps = [#[[$BIAS]], #[[$ID2]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[B]] : tensor<64xf32>) outs(%[[MM]] : tensor<?x64xf32>)
// CHECK:           %[[SUM:.+]] = arith.addf %{{.+}}, %{{.+}} : f32
// CHECK:           linalg.yield %[[SUM]] : f32
// CHECK:         %[[S:.+]] = tensor.dim %[[X]], %{{.+}} : tensor<1x?x32xf32>
// CHECK:         %[[Y:.+]] = tensor.expand_shape %[[Y2]] {{\[\[}}0, 1], [2]] output_shape [1, %[[S]], 64] : tensor<?x64xf32> into tensor<1x?x64xf32>
// CHECK:         return %[[Y]]
func.func @linear_bias(%x: tensor<1x?x32xf32>, %w: tensor<64x32xf32>, %b: tensor<64xf32>) -> tensor<1x?x64xf32> {
  %0 = attn.linear %x, %w, %b : tensor<1x?x32xf32>, tensor<64x32xf32>, tensor<64xf32> -> tensor<1x?x64xf32>
  return %0 : tensor<1x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @linear_vector(
// CHECK-SAME:    %[[X:.+]]: tensor<32xf32>, %[[W:.+]]: tensor<64x32xf32>
// CHECK:         %[[X2:.+]] = tensor.expand_shape %[[X]] {{\[\[}}0, 1]] output_shape [1, 32] : tensor<32xf32> into tensor<1x32xf32>
// CHECK:         %[[MM:.+]] = linalg.matmul {{.+}} ins(%[[X2]], %[[W]] : tensor<1x32xf32>, tensor<64x32xf32>) outs(%{{.+}} : tensor<1x64xf32>)
// CHECK:         %[[Y:.+]] = tensor.collapse_shape %[[MM]] {{\[\[}}0, 1]] : tensor<1x64xf32> into tensor<64xf32>
// CHECK:         return %[[Y]]
func.func @linear_vector(%x: tensor<32xf32>, %w: tensor<64x32xf32>) -> tensor<64xf32> {
  %0 = attn.linear %x, %w : tensor<32xf32>, tensor<64x32xf32> -> tensor<64xf32>
  return %0 : tensor<64xf32>
}

// -----

// Two dynamic leading dims cannot be expanded back in a way LLVM 22 lowers
// (llvm/llvm-project#186830), so the contraction keeps the input's rank.
// CHECK-DAG: #[[$LX:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[$LW:.+]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-DAG: #[[$LY:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[$LB:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @linear_dynamic(
// CHECK-SAME:    %[[X:.+]]: tensor<?x?x32xf32>, %[[W:.+]]: tensor<64x32xf32>, %[[B:.+]]: tensor<64xf32>
// CHECK-NOT:     tensor.collapse_shape
// CHECK:         %[[INIT:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<?x?x64xf32>)
// CHECK:         %[[MM:.+]] = linalg.generic {indexing_maps = [#[[$LX]], #[[$LW]], #[[$LY]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]], %[[W]] : tensor<?x?x32xf32>, tensor<64x32xf32>) outs(%[[INIT]] : tensor<?x?x64xf32>)
// CHECK:         ^bb0(%[[XV:.+]]: f32, %[[WV:.+]]: f32, %[[ACC:.+]]: f32):
// CHECK:           %[[P:.+]] = arith.mulf %[[XV]], %[[WV]] : f32
// CHECK:           %[[S:.+]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK:           linalg.yield %[[S]] : f32
// CHECK:         %[[Y:.+]] = linalg.generic {indexing_maps = [#[[$LB]], #{{.+}}]
// CHECK-SAME:      ins(%[[B]] : tensor<64xf32>) outs(%[[MM]] : tensor<?x?x64xf32>)
// CHECK-NOT:     tensor.expand_shape
// CHECK:         return %[[Y]]
func.func @linear_dynamic(%x: tensor<?x?x32xf32>, %w: tensor<64x32xf32>, %b: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %0 = attn.linear %x, %w, %b : tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<64xf32> -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// CHECK-DAG: #[[$RN_ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$RN_ROW:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$RN_W:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @rms_norm(
// CHECK-SAME:    %[[X:.+]]: tensor<?x?x32xf32>, %[[W:.+]]: tensor<32xf32>
// CHECK:         %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[INIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<?x?xf32>)
// CHECK:         %[[SS:.+]] = linalg.generic {indexing_maps = [#[[$RN_ID]], #[[$RN_ROW]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[X]] : tensor<?x?x32xf32>) outs(%[[INIT]] : tensor<?x?xf32>)
// CHECK:           %[[SQ:.+]] = arith.mulf %[[XV:.+]], %[[XV]] : f32
// CHECK:           arith.addf %{{.+}}, %[[SQ]] : f32
// CHECK-DAG:     %[[D:.+]] = arith.constant 3.200000e+01 : f32
// CHECK-DAG:     %[[EPS:.+]] = arith.constant 9.99999974E-6 : f32
// CHECK:         linalg.generic {indexing_maps = [#[[$RN_ID]], #[[$RN_ROW]], #[[$RN_W]], #[[$RN_ID]]], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME:      ins(%[[X]], %[[SS]], %[[W]] : tensor<?x?x32xf32>, tensor<?x?xf32>, tensor<32xf32>)
// CHECK:         ^bb0(%[[XV2:.+]]: f32, %[[SV:.+]]: f32, %[[WV:.+]]: f32, %{{.+}}: f32):
// CHECK:           %[[MEAN:.+]] = arith.divf %[[SV]], %[[D]] : f32
// CHECK:           %[[VAR:.+]] = arith.addf %[[MEAN]], %[[EPS]] : f32
// CHECK:           %[[RMS:.+]] = math.sqrt %[[VAR]] : f32
// CHECK:           %[[N:.+]] = arith.divf %[[XV2]], %[[RMS]] : f32
// CHECK:           %[[Y:.+]] = arith.mulf %[[N]], %[[WV]] : f32
// CHECK:           linalg.yield %[[Y]] : f32
func.func @rms_norm(%x: tensor<?x?x32xf32>, %w: tensor<32xf32>) -> tensor<?x?x32xf32> {
  %0 = attn.rms_norm %x, %w {epsilon = 1.0e-05 : f64} : tensor<?x?x32xf32>, tensor<32xf32>
  return %0 : tensor<?x?x32xf32>
}

// -----

// CHECK-LABEL: func.func @mlp(
// CHECK-SAME:    %[[X:.+]]: tensor<1x?x32xf32>, %[[G:.+]]: tensor<96x32xf32>, %[[U:.+]]: tensor<96x32xf32>, %[[D:.+]]: tensor<32x96xf32>
// CHECK:         %[[X2:.+]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]]
// CHECK:         %[[GATE:.+]] = linalg.matmul {{.+}} ins(%[[X2]], %[[G]] : tensor<?x32xf32>, tensor<96x32xf32>)
// CHECK:         %[[UP:.+]] = linalg.matmul {{.+}} ins(%[[X2]], %[[U]] : tensor<?x32xf32>, tensor<96x32xf32>)
// CHECK:         %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK:         %[[H:.+]] = linalg.generic {{.+}} ins(%[[GATE]], %[[UP]] : tensor<?x96xf32>, tensor<?x96xf32>)
// CHECK:         ^bb0(%[[Z:.+]]: f32, %[[UV:.+]]: f32, %{{.+}}: f32):
// CHECK:           %[[NEG:.+]] = arith.negf %[[Z]] : f32
// CHECK:           %[[E:.+]] = math.exp %[[NEG]] : f32
// CHECK:           %[[DEN:.+]] = arith.addf %[[ONE]], %[[E]] : f32
// CHECK:           %[[SILU:.+]] = arith.divf %[[Z]], %[[DEN]] : f32
// CHECK:           %[[HV:.+]] = arith.mulf %[[SILU]], %[[UV]] : f32
// CHECK:           linalg.yield %[[HV]] : f32
// CHECK:         %[[DOWN:.+]] = linalg.matmul {{.+}} ins(%[[H]], %[[D]] : tensor<?x96xf32>, tensor<32x96xf32>)
// CHECK:         %[[Y:.+]] = tensor.expand_shape %[[DOWN]] {{\[\[}}0, 1], [2]] output_shape [1, %{{.+}}, 32]
// CHECK:         return %[[Y]]
// KEEP-LABEL: func.func @mlp(
// KEEP:         attn.mlp
// KEEP-NOT:     linalg.matmul
func.func @mlp(%x: tensor<1x?x32xf32>, %g: tensor<96x32xf32>, %u: tensor<96x32xf32>, %d: tensor<32x96xf32>) -> tensor<1x?x32xf32> {
  %0 = attn.mlp %x, %g, %u, %d : tensor<1x?x32xf32>, tensor<96x32xf32>, tensor<96x32xf32>, tensor<32x96xf32>
  return %0 : tensor<1x?x32xf32>
}

// -----

// Partial rotary (4 of 8 channels), rotate_half: channel c < 2 pairs with
// c + 2 and takes -x[c+2]·sin; ω = 10000^(-2j/4) = [1, 0.01] in f32.
// CHECK-LABEL: func.func @rope_rotate_half(
// CHECK-SAME:    %[[X:.+]]: tensor<?x?x4x8xf32>, %[[POS:.+]]: tensor<?x?xi64>
// CHECK:         %[[OMEGA:.+]] = arith.constant dense<[1.000000e+00, 0.00999999977]> : tensor<2xf32>
// CHECK-DAG:     %[[R:.+]] = arith.constant 4 : index
// CHECK-DAG:     %[[HALF:.+]] = arith.constant 2 : index
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[X]], %[[POS]] : tensor<?x?x4x8xf32>, tensor<?x?xi64>)
// CHECK:         ^bb0(%[[XV:.+]]: f32, %[[P:.+]]: i64, %{{.+}}: f32):
// CHECK:           %[[C:.+]] = linalg.index 3 : index
// CHECK:           %[[ROT:.+]] = arith.cmpi ult, %[[C]], %[[R]] : index
// CHECK:           %[[FIRST:.+]] = arith.cmpi ult, %[[C]], %[[HALF]] : index
// CHECK:           %[[UP:.+]] = arith.subi %[[C]], %[[HALF]] : index
// CHECK:           %[[J:.+]] = arith.select %[[FIRST]], %[[C]], %[[UP]] : index
// CHECK:           %[[DOWN:.+]] = arith.addi %[[C]], %[[HALF]] : index
// CHECK:           %[[PARTNER:.+]] = arith.select %[[FIRST]], %[[DOWN]], %[[UP]] : index
// CHECK:           %[[JJ:.+]] = arith.select %[[ROT]], %[[J]], %{{.+}} : index
// CHECK:           %[[PP:.+]] = arith.select %[[ROT]], %[[PARTNER]], %[[C]] : index
// CHECK:           %[[W:.+]] = tensor.extract %[[OMEGA]][%[[JJ]]] : tensor<2xf32>
// CHECK:           %[[PF:.+]] = arith.sitofp %[[P]] : i64 to f32
// CHECK:           %[[ANGLE:.+]] = arith.mulf %[[PF]], %[[W]] : f32
// CHECK:           %[[COS:.+]] = math.cos %[[ANGLE]] : f32
// CHECK:           %[[SIN:.+]] = math.sin %[[ANGLE]] : f32
// CHECK:           %[[OTHER:.+]] = tensor.extract %[[X]][%{{.+}}, %{{.+}}, %{{.+}}, %[[PP]]] : tensor<?x?x4x8xf32>
// CHECK:           %[[T:.+]] = arith.mulf %[[OTHER]], %[[SIN]] : f32
// CHECK:           %[[NT:.+]] = arith.negf %[[T]] : f32
// CHECK:           %[[ST:.+]] = arith.select %[[FIRST]], %[[NT]], %[[T]] : f32
// CHECK:           %[[XC:.+]] = arith.mulf %[[XV]], %[[COS]] : f32
// CHECK:           %[[OUT:.+]] = arith.addf %[[XC]], %[[ST]] : f32
// CHECK:           %[[Y:.+]] = arith.select %[[ROT]], %[[OUT]], %[[XV]] : f32
// CHECK:           linalg.yield %[[Y]] : f32
// KEEP-LABEL: func.func @rope_rotate_half(
// KEEP-NOT:     attn.rope
func.func @rope_rotate_half(%x: tensor<?x?x4x8xf32>, %pos: tensor<?x?xi64>) -> tensor<?x?x4x8xf32> {
  %0 = attn.rope %x, %pos {theta = 1.0e+04 : f64, rotary_dim = 4 : i64, pairing = #attn<pairing rotate_half>} : tensor<?x?x4x8xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x4x8xf32>
}

// -----

// Interleaved pairs (2j, 2j+1) with kept frequencies 1 and 3 of base_dim 8:
// ω = 10000^(-2·[1, 3]/8) = [0.1, 0.001]. Angles stay f32 for an f16 input;
// cos and sin are rounded to f16 as Hugging Face casts them.
// CHECK-LABEL: func.func @rope_interleaved(
// CHECK:         %[[OMEGA:.+]] = arith.constant dense<[1.000000e-01, 1.000000e-03]> : tensor<2xf32>
// CHECK-DAG:     %[[ZERO:.+]] = arith.constant 0 : index
// CHECK-DAG:     %[[ONE:.+]] = arith.constant 1 : index
// CHECK-DAG:     %[[TWO:.+]] = arith.constant 2 : index
// CHECK:         ^bb0(%{{.+}}: f16, %[[P:.+]]: i32, %{{.+}}: f16):
// CHECK:           %[[C:.+]] = linalg.index 3 : index
// CHECK:           %[[ODD:.+]] = arith.remui %[[C]], %[[TWO]] : index
// CHECK:           %[[FIRST:.+]] = arith.cmpi eq, %[[ODD]], %[[ZERO]] : index
// CHECK:           %[[J:.+]] = arith.divui %[[C]], %[[TWO]] : index
// CHECK:           %[[NEXT:.+]] = arith.addi %[[C]], %[[ONE]] : index
// CHECK:           %[[PREV:.+]] = arith.subi %[[C]], %[[ONE]] : index
// CHECK:           arith.select %[[FIRST]], %[[NEXT]], %[[PREV]] : index
// CHECK:           tensor.extract %[[OMEGA]]
// CHECK:           %[[PF:.+]] = arith.sitofp %[[P]] : i32 to f32
// CHECK:           %[[ANGLE:.+]] = arith.mulf %[[PF]], %{{.+}} : f32
// CHECK:           %[[COS:.+]] = math.cos %[[ANGLE]] : f32
// CHECK:           arith.truncf %[[COS]] : f32 to f16
// CHECK:           %[[SIN:.+]] = math.sin %[[ANGLE]] : f32
// CHECK:           arith.truncf %[[SIN]] : f32 to f16
// CHECK:           linalg.yield %{{.+}} : f16
func.func @rope_interleaved(%x: tensor<1x?x2x4xf16>, %pos: tensor<1x?xi32>) -> tensor<1x?x2x4xf16> {
  %0 = attn.rope %x, %pos {theta = 1.0e+04 : f64, rotary_dim = 4 : i64, base_dim = 8 : i64, frequencies = array<i64: 1, 3>, pairing = #attn<pairing interleaved>} : tensor<1x?x2x4xf16>, tensor<1x?xi32>
  return %0 : tensor<1x?x2x4xf16>
}

// -----

// GQA with 6 query heads over 2 KV heads: head h reads KV head h floordiv 3
// through the indexing maps, without copies.
// CHECK-DAG: #[[$QMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d1, d4)>
// CHECK-DAG: #[[$KMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1 floordiv 3, d4)>
// CHECK-DAG: #[[$SMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$VMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4, d2 floordiv 3, d3)>
// CHECK-DAG: #[[$ID4:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @attention_gqa(
// CHECK-SAME:    %[[Q:.+]]: tensor<?x?x6x32xf32>, %[[K:.+]]: tensor<?x?x2x32xf32>, %[[V:.+]]: tensor<?x?x2x16xf32>
// CHECK:         %[[QK:.+]] = linalg.generic {indexing_maps = [#[[$QMAP]], #[[$KMAP]], #[[$SMAP]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[Q]], %[[K]] : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>) outs(%{{.+}} : tensor<?x6x?x?xf32>)
// CHECK-DAG:     %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG:     %[[FZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG:     %[[SCALE:.+]] = arith.constant 0.176776692 : f32
// CHECK-DAG:     %[[SKV:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<?x?x2x32xf32>
// CHECK-DAG:     %[[SQ:.+]] = tensor.dim %[[Q]], %{{.+}} : tensor<?x?x6x32xf32>
// CHECK:         %[[OFF:.+]] = arith.subi %[[SKV]], %[[SQ]] : index
// CHECK:         %[[S:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ID4]]]
// CHECK-SAME:      ins(%[[QK]] : tensor<?x6x?x?xf32>)
// CHECK:           %[[SC:.+]] = arith.mulf %[[SCALE]], %{{.+}} : f32
// CHECK:           %[[I:.+]] = linalg.index 2 : index
// CHECK:           %[[J:.+]] = linalg.index 3 : index
// CHECK:           %[[LIM:.+]] = arith.addi %[[I]], %[[OFF]] : index
// CHECK:           %[[MASKED:.+]] = arith.cmpi sgt, %[[J]], %[[LIM]] : index
// CHECK:           %[[SM:.+]] = arith.select %[[MASKED]], %[[NEGINF]], %[[SC]] : f32
// CHECK:           linalg.yield %[[SM]] : f32
// CHECK:         %[[MAXINIT:.+]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.+}} : tensor<?x6x?xf32>)
// CHECK:         %[[MAX:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[S]] : tensor<?x6x?x?xf32>) outs(%[[MAXINIT]] : tensor<?x6x?xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[E:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]], #[[$ID4]]]
// CHECK-SAME:      ins(%[[S]], %[[MAX]] : tensor<?x6x?x?xf32>, tensor<?x6x?xf32>)
// CHECK:         ^bb0(%[[SV:.+]]: f32, %[[MV:.+]]: f32, %{{.+}}: f32):
// CHECK:           %[[D:.+]] = arith.subf %[[SV]], %[[MV]] : f32
// CHECK:           %[[EX:.+]] = math.exp %[[D]] : f32
// CHECK:           %[[NOKEY:.+]] = arith.cmpf oeq, %[[MV]], %[[NEGINF]] : f32
// CHECK:           %[[EV:.+]] = arith.select %[[NOKEY]], %[[FZERO]], %[[EX]] : f32
// CHECK:           linalg.yield %[[EV]] : f32
// CHECK:         %[[SUM:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[E]] : tensor<?x6x?x?xf32>)
// CHECK:           arith.addf
// CHECK:         %[[P:.+]] = linalg.generic {indexing_maps = [#[[$ID4]], #[[$ROW]], #[[$ID4]]]
// CHECK-SAME:      ins(%[[E]], %[[SUM]] : tensor<?x6x?x?xf32>, tensor<?x6x?xf32>)
// CHECK:         ^bb0(%[[EV2:.+]]: f32, %[[LV:.+]]: f32, %{{.+}}: f32):
// CHECK:           %[[PV:.+]] = arith.divf %[[EV2]], %[[LV]] : f32
// CHECK:           %[[EMPTYROW:.+]] = arith.cmpf oeq, %[[LV]], %[[FZERO]] : f32
// CHECK:           arith.select %[[EMPTYROW]], %[[FZERO]], %[[PV]] : f32
// CHECK:         %[[O:.+]] = linalg.generic {indexing_maps = [#[[$QMAP]], #[[$VMAP]], #[[$SMAP]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[P]], %[[V]] : tensor<?x6x?x?xf32>, tensor<?x?x2x16xf32>) outs(%{{.+}} : tensor<?x?x6x16xf32>)
// CHECK:         return %[[O]] : tensor<?x?x6x16xf32>
// KEEP-LABEL: func.func @attention_gqa(
// KEEP:         attn.attention
// KEEP-NOT:     linalg.generic
func.func @attention_gqa(%q: tensor<?x?x6x32xf32>, %k: tensor<?x?x2x32xf32>, %v: tensor<?x?x2x16xf32>) -> tensor<?x?x6x16xf32> {
  %0 = attn.attention %q, %k, %v {causal, scale = 0.17677669529663687 : f64} : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x16xf32> -> tensor<?x?x6x16xf32>
  return %0 : tensor<?x?x6x16xf32>
}

// -----

// Equal head counts need no floordiv; without causal there is no mask.
// CHECK-DAG: #[[$KMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d4)>
// CHECK-DAG: #[[$VMAP:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4, d2, d3)>
// CHECK-LABEL: func.func @attention_mha(
// CHECK:         linalg.generic {indexing_maps = [#{{.+}}, #[[$KMAP]], #{{.+}}]
// CHECK-NOT:     arith.cmpi sgt
// CHECK:         linalg.generic {indexing_maps = [#{{.+}}, #[[$VMAP]], #{{.+}}]
func.func @attention_mha(%q: tensor<1x?x4x8xf32>, %k: tensor<1x?x4x8xf32>, %v: tensor<1x?x4x8xf32>) -> tensor<1x?x4x8xf32> {
  %0 = attn.attention %q, %k, %v {scale = 0.35355339059327373 : f64} : tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32>, tensor<1x?x4x8xf32> -> tensor<1x?x4x8xf32>
  return %0 : tensor<1x?x4x8xf32>
}

// -----

// Dynamic head counts: the group size is only known at run time, so the
// body divides the query head by it and extracts K and V elements.
// CHECK-LABEL: func.func @attention_dynamic_heads(
// CHECK-SAME:    %[[Q:.+]]: tensor<?x?x?x8xf32>, %[[K:.+]]: tensor<?x?x?x8xf32>, %[[V:.+]]: tensor<?x?x?x8xf32>
// CHECK:         %[[C2:.+]] = arith.constant 2 : index
// CHECK:         %[[HQ:.+]] = tensor.dim %[[Q]], %[[C2]] : tensor<?x?x?x8xf32>
// CHECK:         %[[KVLEN:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<?x?x?x8xf32>
// CHECK:         %[[HKV:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<?x?x?x8xf32>
// CHECK:         %[[G:.+]] = arith.divui %[[HQ]], %[[HKV]] : index
// CHECK:         linalg.generic
// CHECK-SAME:      ins(%[[Q]] : tensor<?x?x?x8xf32>)
// CHECK:           %[[H:.+]] = linalg.index 1 : index
// CHECK:           %[[KH:.+]] = arith.divui %[[H]], %[[G]] : index
// CHECK:           %[[B:.+]] = linalg.index 0 : index
// CHECK:           %[[J:.+]] = linalg.index 3 : index
// CHECK:           %[[D:.+]] = linalg.index 4 : index
// CHECK:           tensor.extract %[[K]][%[[B]], %[[J]], %[[KH]], %[[D]]] : tensor<?x?x?x8xf32>
// CHECK:         linalg.generic {{.+}} ins(%{{.+}} : tensor<?x?x?x?xf32>) outs(%{{.+}} : tensor<?x?x?x8xf32>)
// CHECK:           %[[H2:.+]] = linalg.index 2 : index
// CHECK:           %[[VH:.+]] = arith.divui %[[H2]], %[[G]] : index
// CHECK:           %[[B2:.+]] = linalg.index 0 : index
// CHECK:           %[[J2:.+]] = linalg.index 4 : index
// CHECK:           %[[E:.+]] = linalg.index 3 : index
// CHECK:           tensor.extract %[[V]][%[[B2]], %[[J2]], %[[VH]], %[[E]]] : tensor<?x?x?x8xf32>
func.func @attention_dynamic_heads(%q: tensor<?x?x?x8xf32>, %k: tensor<?x?x?x8xf32>, %v: tensor<?x?x?x8xf32>) -> tensor<?x?x?x8xf32> {
  %0 = attn.attention %q, %k, %v {scale = 0.35355339059327373 : f64} : tensor<?x?x?x8xf32>, tensor<?x?x?x8xf32>, tensor<?x?x?x8xf32> -> tensor<?x?x?x8xf32>
  return %0 : tensor<?x?x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @cache_update(
// CHECK-SAME:    %[[CACHE:.+]]: tensor<?x64x2x32xf32>, %[[NEW:.+]]: tensor<?x?x2x32xf32>, %[[POS:.+]]: index
// CHECK:         %[[N:.+]] = tensor.dim %[[NEW]], %{{.+}} : tensor<?x?x2x32xf32>
// CHECK:         %[[END:.+]] = arith.addi %[[POS]], %[[N]] : index
// CHECK:         %[[CAP:.+]] = arith.constant 64 : index
// CHECK:         %[[FITS:.+]] = arith.cmpi sle, %[[END]], %[[CAP]] : index
// CHECK:         %[[NONNEG:.+]] = arith.cmpi sge, %[[POS]], %{{.+}} : index
// CHECK:         cf.assert %[[FITS]], "attn.cache_update: write past the cache capacity"
// CHECK:         cf.assert %[[NONNEG]], "attn.cache_update: negative position"
// CHECK:         %[[B:.+]] = tensor.dim %[[NEW]], %{{.+}} : tensor<?x?x2x32xf32>
// CHECK:         %[[S:.+]] = tensor.dim %[[NEW]], %{{.+}} : tensor<?x?x2x32xf32>
// CHECK:         %[[R:.+]] = tensor.insert_slice %[[NEW]] into %[[CACHE]][0, %[[POS]], 0, 0] [%[[B]], %[[S]], 2, 32] [1, 1, 1, 1] : tensor<?x?x2x32xf32> into tensor<?x64x2x32xf32>
// CHECK:         return %[[R]]
// REPORT-LABEL: func.func @cache_update(
// REPORT:         %[[OK:.+]] = arith.andi
// REPORT:         scf.if %[[OK]] -> (tensor<?x64x2x32xf32>) {
// REPORT:           tensor.insert_slice
// REPORT:         } else {
// REPORT:           %[[CODE:.+]] = arith.select
// REPORT:           func.call @attn_rt_report_error(%[[CODE]]) : (i64) -> ()
// REPORT:           scf.yield %{{.+}} : tensor<?x64x2x32xf32>
// REPORT-NOT:     cf.assert
// KEEP-LABEL: func.func @cache_update(
// KEEP:         tensor.insert_slice
func.func @cache_update(%cache: tensor<?x64x2x32xf32>, %new: tensor<?x?x2x32xf32>, %pos: index) -> tensor<?x64x2x32xf32> {
  %0 = attn.cache_update %cache[%pos], %new : tensor<?x64x2x32xf32>, tensor<?x?x2x32xf32>
  return %0 : tensor<?x64x2x32xf32>
}

// -----

// Parameters are resolved later; the conversion leaves them in place.
// CHECK-LABEL: func.func @param(
// CHECK:         %[[W:.+]] = attn.param "w" : tensor<8x4xf32>
// CHECK:         linalg.matmul {{.+}} ins(%{{.+}}, %[[W]] :
// NOATTN:        attn.param "w"
// NOATTN-NOT:    = attn.{{embed|linear|rms_norm|mlp|rope|attention|cache_update}}
func.func @param(%x: tensor<2x4xf32>) -> tensor<2x8xf32> {
  %w = attn.param "w" : tensor<8x4xf32>
  %0 = attn.linear %x, %w : tensor<2x4xf32>, tensor<8x4xf32> -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// MLIR 22's tensor.expand_shape verifier crashes (SEGV in
// getSymbolLessAffineMaps) on an empty reassociation group instead of
// reporting it; found by fuzz-attn_passes (campaign run 8, reproducer
// fuzz/regressions/attn_passes/expand-shape-empty-reassociation-group).
// Every tool that verifies IR it did not build runs the guard in
// Support/VerifierGuard first, so such input is an error at the op.
//
// attn-opt checks each input chunk before MlirOptMain parses (and
// verifies) it; every finding is reported, with the file's line numbers,
// and nothing runs:
// RUN: not attn-opt %s --split-input-file --attn-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPT --implicit-check-not=attn-report
// OPT: upstream-verifier-guard.mlir:32:8: error: 'tensor.expand_shape' op has an empty reassociation group (#1); every group needs at least one dimension
// OPT: upstream-verifier-guard.mlir:39:8: error: 'tensor.collapse_shape' op has an empty reassociation group (#0)
// OPT: upstream-verifier-guard.mlir:46:8: error: 'memref.expand_shape' op has an empty reassociation group (#0)
// The valid function alone goes through (same line count: the guard's
// lines above are the file's):
// RUN: sed -n '/^func.func @valid/,$p' %s > %t.mlir && attn-opt %t.mlir --verify-roundtrip -o /dev/null
// attn-opt parses a second time only where the text has an empty bracket
// pair; one spread over lines is still found:
// RUN: sed -e 's/\[\[0\], \[\], /[[0], [\n  ], /' %s > %t.spaced.mlir
// RUN: not attn-opt %t.spaced.mlir --split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=SPACED
// SPACED: spaced.mlir:32:8: error: 'tensor.expand_shape' op has an empty reassociation group (#1)
// The tools that parse with Execution/ToolSupport (attn-run, attn-eval,
// attn-calibrate): one line naming the file and the op.
// RUN: not attn-run %s --entry=expand 2>&1 | FileCheck %s --check-prefix=RUNNER
// RUNNER: attn-run: {{.*}}upstream-verifier-guard.mlir: loc({{.*}}upstream-verifier-guard.mlir":{{[0-9]+}}:{{[0-9]+}}): 'tensor.expand_shape' op has an empty reassociation group (#1); every group needs at least one dimension
// The fuzzer's reproducer, through attn-opt:
// RUN: not attn-opt %attn_src/fuzz/regressions/attn_passes/expand-shape-empty-reassociation-group -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPRO
// REPRO: error: 'tensor.expand_shape' op has an empty reassociation group (#1)

func.func @expand(%x: tensor<2x3x8xf32>) -> tensor<2x3x2x4xf32> {
  %e = tensor.expand_shape %x [[0], [], [2, 3]] output_shape [2, 3, 2, 4] : tensor<2x3x8xf32> into tensor<2x3x2x4xf32>
  return %e : tensor<2x3x2x4xf32>
}

// -----

func.func @collapse(%x: tensor<2x3x2x4xf32>) -> tensor<2x3x8xf32> {
  %c = tensor.collapse_shape %x [[], [0, 1], [2, 3]] : tensor<2x3x2x4xf32> into tensor<2x3x8xf32>
  return %c : tensor<2x3x8xf32>
}

// -----

func.func @memref_expand(%x: memref<8xf32>) -> memref<2x4xf32> {
  %e = memref.expand_shape %x [[], [0, 1]] output_shape [2, 4] : memref<8xf32> into memref<2x4xf32>
  return %e : memref<2x4xf32>
}

// -----

// Valid reshapes pass the guard and the verifier.
func.func @valid(%x: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  %e = tensor.expand_shape %x [[0], [1], [2, 3]] output_shape [2, 3, 2, 4] : tensor<2x3x8xf32> into tensor<2x3x2x4xf32>
  %c = tensor.collapse_shape %e [[0], [1], [2, 3]] : tensor<2x3x2x4xf32> into tensor<2x3x8xf32>
  return %c : tensor<2x3x8xf32>
}

// attn-pamm on hand-written training graphs: a forward/backward pair (one
// layer of Q/K/V sharing X, one static single projection), a graph that is
// not partitioned, a saved activation with another use, options, and the
// diagnostics for bad input.
//
// RUN: split-file %s %t
// RUN: attn-opt %t/pair.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/local.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/other-use.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/no-backward.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/missing-bwd.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/unmatched.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/type-mismatch.mlir --verify-roundtrip -o /dev/null
//
// RUN: attn-opt %t/pair.mlir --attn-pamm="ratio=1/4 seed=3" | FileCheck %s --check-prefix=PAIR
// Generic-form round trip of the rewritten pair, and a second run is a no-op.
// RUN: attn-opt %t/pair.mlir --attn-pamm="ratio=1/4 seed=3" --mlir-print-op-generic | attn-opt --attn-pamm | FileCheck %s --check-prefix=PAIR
// RUN: attn-opt %t/pair.mlir --attn-pamm="ratio=0.5 epsilon=0.25" | FileCheck %s --check-prefix=EPS
// RUN: attn-opt %t/pair.mlir --attn-pamm | FileCheck %s --check-prefix=DEFAULT
// RUN: attn-opt %t/local.mlir --attn-pamm="ratio=1/8 seed=11" | FileCheck %s --check-prefix=LOCAL
// RUN: attn-opt %t/other-use.mlir --attn-pamm 2>&1 | FileCheck %s --check-prefix=OTHER
//
// Bad options name the option; bad graphs are diagnostics, never crashes.
// RUN: not attn-opt %t/pair.mlir --attn-pamm="ratio=0" 2>&1 | FileCheck %s --check-prefix=RATIO0
// RUN: not attn-opt %t/pair.mlir --attn-pamm="ratio=1.5" 2>&1 | FileCheck %s --check-prefix=RATIO15
// RUN: not attn-opt %t/pair.mlir --attn-pamm="ratio=-1/512" 2>&1 | FileCheck %s --check-prefix=RATIONEG
// RUN: not attn-opt %t/pair.mlir --attn-pamm="ratio=1/0" 2>&1 | FileCheck %s --check-prefix=RATIODIV
// RUN: not attn-opt %t/pair.mlir --attn-pamm="ratio=half" 2>&1 | FileCheck %s --check-prefix=RATIOTEXT
// RUN: not attn-opt %t/pair.mlir --attn-pamm="epsilon=-1" 2>&1 | FileCheck %s --check-prefix=EPSNEG
// RUN: not attn-opt %t/no-backward.mlir --attn-pamm 2>&1 | FileCheck %s --check-prefix=NOBWD
// RUN: not attn-opt %t/missing-bwd.mlir --attn-pamm 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not attn-opt %t/unmatched.mlir --attn-pamm 2>&1 | FileCheck %s --check-prefix=UNMATCHED
// RUN: not attn-opt %t/type-mismatch.mlir --attn-pamm 2>&1 | FileCheck %s --check-prefix=TYPES

// X is compressed once, in the forward, for all three weight gradients; the
// backward receives (C, f, alpha) in X's place and no longer sees X. The
// i-th compressed activation gets seed + i; static tokens fix k.
// PAIR-LABEL: func.func @fwd
// PAIR-SAME: tensor<?x8xf32> {attn.layer = 0 : i64, attn.saved = "l0.x.pamm_generators"}, tensor<?x?xi32> {attn.layer = 0 : i64, attn.saved = "l0.x.pamm_assignment"}, tensor<?x?xf32> {attn.layer = 0 : i64, attn.saved = "l0.x.pamm_scale"}, tensor<8x8xf32> {attn.saved = "l1.x.pamm_generators"}, tensor<2x16xi32> {attn.saved = "l1.x.pamm_assignment"}, tensor<2x16xf32> {attn.saved = "l1.x.pamm_scale"})
// PAIR-SAME: attn.backward = "bwd"
// PAIR: %[[C:.*]], %[[F:.*]], %[[A:.*]] = attn.pamm_compress %arg0 {attn.layer = 0 : i64, ratio = 2.500000e-01 : f64, seed = 3 : i64} : tensor<?x?x8xf32> -> tensor<?x8xf32>, tensor<?x?xi32>, tensor<?x?xf32>
// PAIR: %[[C1:.*]], %[[F1:.*]], %[[A1:.*]] = attn.pamm_compress %arg1 {ratio = 2.500000e-01 : f64, seed = 4 : i64} : tensor<2x16x8xf32> -> tensor<8x8xf32>, tensor<2x16xi32>, tensor<2x16xf32>
// PAIR-NOT: attn.pamm_compress
// PAIR: return %{{.*}}, %{{.*}}, %{{.*}}, %[[C]], %[[F]], %[[A]], %[[C1]], %[[F1]], %[[A1]] :
// PAIR-LABEL: func.func @bwd
// PAIR-SAME: (%[[BC:.*]]: tensor<?x8xf32> {attn.layer = 0 : i64, attn.saved = "l0.x.pamm_generators"}, %[[BF:.*]]: tensor<?x?xi32> {{.*}}, %[[BA:.*]]: tensor<?x?xf32> {{.*}}, %[[BC1:.*]]: tensor<8x8xf32> {{.*}}, %[[BF1:.*]]: tensor<2x16xi32> {{.*}}, %[[BA1:.*]]: tensor<2x16xf32> {attn.saved = "l1.x.pamm_scale"}, %[[DQ:.*]]: tensor<?x?x8xf32>, %[[DK:.*]]: tensor<?x?x4xf32>, %[[DV:.*]]: tensor<?x?x4xf32>, %[[DY:.*]]: tensor<2x16x4xf32>)
// PAIR-NOT: attn.linear_grad_weight
// PAIR: attn.pamm_grad_weight %[[DQ]], %[[BC]], %[[BF]], %[[BA]] {attn.layer = 0 : i64} : {{.*}} -> tensor<8x8xf32>
// PAIR: attn.pamm_grad_weight %[[DK]], %[[BC]], %[[BF]], %[[BA]] {attn.layer = 0 : i64} : {{.*}} -> tensor<4x8xf32>
// PAIR: attn.pamm_grad_weight %[[DV]], %[[BC]], %[[BF]], %[[BA]] {attn.layer = 0 : i64} : {{.*}} -> tensor<4x8xf32>
// PAIR: attn.linear_grad_input %[[DQ]]
// PAIR: attn.pamm_grad_weight %[[DY]], %[[BC1]], %[[BF1]], %[[BA1]] : {{.*}} -> tensor<4x8xf32>
// PAIR-NOT: attn.linear_grad_weight

// EPS: attn.pamm_compress %arg0 {attn.layer = 0 : i64, epsilon = 2.500000e-01 : f64, ratio = 5.000000e-01 : f64, seed = 0 : i64} : tensor<?x?x8xf32> -> tensor<?x8xf32>
// EPS: attn.pamm_compress %arg1 {epsilon = 2.500000e-01 : f64, ratio = 5.000000e-01 : f64, seed = 1 : i64} : tensor<2x16x8xf32> -> tensor<16x8xf32>

// The defaults: ratio 1/512 (32 tokens give one generator), seed 0, no
// epsilon gate.
// DEFAULT: attn.pamm_compress %arg0 {attn.layer = 0 : i64, ratio = 0.001953125 : f64, seed = 0 : i64}
// DEFAULT: attn.pamm_compress %arg1 {ratio = 0.001953125 : f64, seed = 1 : i64} : tensor<2x16x8xf32> -> tensor<1x8xf32>

// Not partitioned: X is compressed where it is defined (an argument at the
// function's start), once for all of its gradients; the layer comes from X's
// producer; seeds follow the order of the gradients.
// LOCAL-LABEL: func.func @train_step
// LOCAL: %[[C2:.*]], %[[F2:.*]], %[[A2:.*]] = attn.pamm_compress %arg3 {ratio = 1.250000e-01 : f64, seed = 12 : i64}
// LOCAL: %[[H:.*]] = attn.rms_norm
// LOCAL-NEXT: %[[C:.*]], %[[F:.*]], %[[A:.*]] = attn.pamm_compress %[[H]] {attn.layer = 2 : i64, ratio = 1.250000e-01 : f64, seed = 11 : i64}
// LOCAL: attn.pamm_grad_weight %arg1, %[[C]], %[[F]], %[[A]]
// LOCAL: attn.pamm_grad_weight %arg2, %[[C]], %[[F]], %[[A]]
// LOCAL: attn.pamm_grad_weight %arg4, %[[C2]], %[[F2]], %[[A2]]
// LOCAL-NOT: attn.linear_grad_weight

// A saved activation the backward also reads otherwise stays saved and its
// gradients exact.
// OTHER: warning: attn-pamm: saved activation "l0.x" is also read by 'arith.addf' in the backward, so it stays saved and its weight gradients stay exact
// OTHER-NOT: attn.pamm
// OTHER: attn.linear_grad_weight
// OTHER-NOT: attn.pamm

// RATIO0: error: attn-pamm: option 'ratio' must be in (0, 1] (a number or a fraction such as 1/512), got '0'
// RATIO15: error: attn-pamm: option 'ratio' must be in (0, 1] (a number or a fraction such as 1/512), got '1.5'
// RATIONEG: error: attn-pamm: option 'ratio' must be in (0, 1] {{.*}}, got '-1/512'
// RATIODIV: error: attn-pamm: option 'ratio' must be in (0, 1] {{.*}}, got '1/0'
// RATIOTEXT: error: attn-pamm: option 'ratio' must be in (0, 1] {{.*}}, got 'half'
// EPSNEG: error: attn-pamm: option 'epsilon' must be a finite number >= 0 (>= 1 drops nothing), got -1
// NOBWD: error: attn-pamm: no projection backward to compress: the module has no attn.linear_grad_weight (import a training graph with `attn-import hf DIR --training`)
// MISSING: error: attn-pamm: @fwd names its backward "nope", which is not a function with a body in this module
// UNMATCHED: error: attn-pamm: argument #0 of @bwd is saved activation "l0.x" but @fwd returns no result with attn.saved = "l0.x"
// TYPES: error: attn-pamm: saved activation "l0.x" is 'tensor<?x?x8xf32>' in @fwd but 'tensor<?x?x16xf32>' in @bwd

//--- pair.mlir
module {
  func.func @fwd(%x: tensor<?x?x8xf32>, %y: tensor<2x16x8xf32>)
      -> (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>,
          tensor<?x?x8xf32> {attn.layer = 0 : i64, attn.saved = "l0.x"},
          tensor<2x16x8xf32> {attn.saved = "l1.x"})
      attributes {attn.backward = "bwd"} {
    %wq = attn.param "wq" : tensor<8x8xf32>
    %wk = attn.param "wk" : tensor<4x8xf32>
    %wv = attn.param "wv" : tensor<4x8xf32>
    %q = attn.linear %x, %wq {attn.layer = 0 : i64} : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %k = attn.linear %x, %wk {attn.layer = 0 : i64} : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x4xf32>
    %v = attn.linear %x, %wv {attn.layer = 0 : i64} : tensor<?x?x8xf32>, tensor<4x8xf32> -> tensor<?x?x4xf32>
    return %q, %k, %v, %x, %y : tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<?x?x8xf32>, tensor<2x16x8xf32>
  }
  func.func @bwd(%x: tensor<?x?x8xf32> {attn.layer = 0 : i64, attn.saved = "l0.x"},
                 %y: tensor<2x16x8xf32> {attn.saved = "l1.x"},
                 %dq: tensor<?x?x8xf32>, %dk: tensor<?x?x4xf32>, %dv: tensor<?x?x4xf32>,
                 %dy: tensor<2x16x4xf32>)
      -> (tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
    %wq = attn.param "wq" : tensor<8x8xf32>
    %dwq = attn.linear_grad_weight %dq, %x {attn.layer = 0 : i64} : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
    %dwk = attn.linear_grad_weight %dk, %x {attn.layer = 0 : i64} : tensor<?x?x4xf32>, tensor<?x?x8xf32> -> tensor<4x8xf32>
    %dwv = attn.linear_grad_weight %dv, %x {attn.layer = 0 : i64} : tensor<?x?x4xf32>, tensor<?x?x8xf32> -> tensor<4x8xf32>
    %dx = attn.linear_grad_input %dq, %wq : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
    %dwy = attn.linear_grad_weight %dy, %y : tensor<2x16x4xf32>, tensor<2x16x8xf32> -> tensor<4x8xf32>
    return %dx, %dwq, %dwk, %dwv, %dwy : tensor<?x?x8xf32>, tensor<8x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  }
}

//--- local.mlir
func.func @train_step(%h0: tensor<?x?x8xf32>, %dq: tensor<?x?x8xf32>,
                      %dk: tensor<?x?x4xf32>, %x2: tensor<?x8xf32>,
                      %d2: tensor<?x6xf32>)
    -> (tensor<8x8xf32>, tensor<4x8xf32>, tensor<6x8xf32>) {
  %g = attn.param "g" : tensor<8xf32>
  %h = attn.rms_norm %h0, %g {attn.layer = 2 : i64, epsilon = 1.0e-05 : f64}
      : tensor<?x?x8xf32>, tensor<8xf32>
  %dwq = attn.linear_grad_weight %dq, %h : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
  %dwk = attn.linear_grad_weight %dk, %h : tensor<?x?x4xf32>, tensor<?x?x8xf32> -> tensor<4x8xf32>
  %dw2 = attn.linear_grad_weight %d2, %x2 : tensor<?x6xf32>, tensor<?x8xf32> -> tensor<6x8xf32>
  return %dwq, %dwk, %dw2 : tensor<8x8xf32>, tensor<4x8xf32>, tensor<6x8xf32>
}

//--- other-use.mlir
func.func @fwd(%x: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32> {attn.saved = "l0.x"})
    attributes {attn.backward = "bwd"} {
  return %x : tensor<?x?x8xf32>
}
func.func @bwd(%x: tensor<?x?x8xf32> {attn.saved = "l0.x"}, %dq: tensor<?x?x8xf32>)
    -> (tensor<8x8xf32>, tensor<?x?x8xf32>) {
  %dw = attn.linear_grad_weight %dq, %x : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
  %s = arith.addf %x, %dq : tensor<?x?x8xf32>
  return %dw, %s : tensor<8x8xf32>, tensor<?x?x8xf32>
}

//--- no-backward.mlir
func.func @forward(%x: tensor<?x?x8xf32>) -> tensor<?x?x8xf32> {
  %w = attn.param "w" : tensor<8x8xf32>
  %y = attn.linear %x, %w : tensor<?x?x8xf32>, tensor<8x8xf32> -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

//--- missing-bwd.mlir
func.func @fwd(%x: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32> {attn.saved = "l0.x"})
    attributes {attn.backward = "nope"} {
  return %x : tensor<?x?x8xf32>
}

//--- unmatched.mlir
func.func @fwd(%x: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32> {attn.saved = "l9.x"})
    attributes {attn.backward = "bwd"} {
  return %x : tensor<?x?x8xf32>
}
func.func @bwd(%x: tensor<?x?x8xf32> {attn.saved = "l0.x"}, %dq: tensor<?x?x8xf32>)
    -> tensor<8x8xf32> {
  %dw = attn.linear_grad_weight %dq, %x : tensor<?x?x8xf32>, tensor<?x?x8xf32> -> tensor<8x8xf32>
  return %dw : tensor<8x8xf32>
}

//--- type-mismatch.mlir
func.func @fwd(%x: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32> {attn.saved = "l0.x"})
    attributes {attn.backward = "bwd"} {
  return %x : tensor<?x?x8xf32>
}
func.func @bwd(%x: tensor<?x?x16xf32> {attn.saved = "l0.x"}, %dq: tensor<?x?x8xf32>)
    -> tensor<8x16xf32> {
  %dw = attn.linear_grad_weight %dq, %x : tensor<?x?x8xf32>, tensor<?x?x16xf32> -> tensor<8x16xf32>
  return %dw : tensor<8x16xf32>
}

// RUN: attn-opt %s --split-input-file --convert-attn-to-runtime=plan=%t.plan --verify-diagnostics -o /dev/null
// RUN: attn-opt %s --split-input-file --verify-roundtrip -o /dev/null
// RUN: not attn-opt %s --split-input-file --convert-attn-to-runtime -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOPLAN
// RUN: not attn-opt %s --split-input-file --convert-attn-to-runtime="plan=- entry=nope" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOENTRY

// NOPLAN: the 'plan' option (where to write the plan, '-' for stdout) is required
// NOENTRY: no function @nope with a body (option 'entry')

// An op the runtime has no kernel for.
func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'arith.mulf' op is not supported by the runtime plan}}
  %0 = arith.mulf %x, %x : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// A dynamic size that no input determines (an index argument).
func.func @forward(%x: tensor<?x8xf32>, %n: tensor<1xi64>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %e = tensor.extract %n[%c0] : tensor<1xi64>
  %i = arith.index_cast %e : i64 to index
  // expected-error @+1 {{'arith.divui' op is not supported by the runtime plan}}
  %h = arith.divui %i, %i : index
  %s = tensor.extract_slice %x[0, 0] [%h, 8] [1, 1] : tensor<?x8xf32> to tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{'func.func' op argument #1 has type 'index': runtime plan inputs are ranked f32, i64 or i32 tensors}}
func.func @forward(%x: tensor<?x8xf32>, %n: index) -> tensor<?x8xf32> {
  %s = tensor.extract_slice %x[0, 0] [%n, 8] [1, 1] : tensor<?x8xf32> to tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// -----

// The dynamic size comes from a computed tensor, which the plan cannot read.
func.func @forward(%x: tensor<?x8xf32>, %t: tensor<4xi64>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %w = attn.param "w" : tensor<4x8xf32>
  %y = attn.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  // expected-error @+1 {{'tensor.extract' op reads a computed or floating-point tensor}}
  %e = tensor.extract %y[%c0, %c0] : tensor<?x4xf32>
  return %x : tensor<?x8xf32>
}

// -----

// bf16 models are not in the plan's f32 subset yet.
// expected-error @+1 {{'func.func' op argument #0 has type 'tensor<2x8xbf16>': runtime plan inputs are ranked f32, i64 or i32 tensors}}
func.func @forward(%x: tensor<2x8xbf16>) -> tensor<2x8xbf16> {
  return %x : tensor<2x8xbf16>
}

// -----

func.func @forward() -> tensor<4x8xbf16> {
  // expected-error @+1 {{'attn.param' op the parameter has element type 'bf16': the runtime plan runs f32 modules}}
  %w = attn.param "w" : tensor<4x8xbf16>
  return %w : tensor<4x8xbf16>
}

// -----

// A strided slice: the runtime's views take unit strides only.
func.func @forward(%x: tensor<8x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'tensor.extract_slice' op has a non-unit stride}}
  %s = tensor.extract_slice %x[0, 0] [4, 8] [2, 1] : tensor<8x8xf32> to tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// Calls are not inlined by the plan.
func.func private @helper(tensor<2x8xf32>) -> tensor<2x8xf32>
func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'func.call' op is not supported by the runtime plan}}
  %0 = func.call @helper(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// A dimension index known only at run time.
func.func @forward(%x: tensor<?x8xf32>, %t: tensor<1xi64>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %e = tensor.extract %t[%c0] : tensor<1xi64>
  %i = arith.index_cast %e : i64 to index
  // expected-error @+1 {{'tensor.dim' op needs a constant dimension index within the rank}}
  %d = tensor.dim %x, %i : tensor<?x8xf32>
  return %x : tensor<?x8xf32>
}

// -----

// Unranked tensors have no shape to plan.
// expected-error @+1 {{'func.func' op argument #0 has type 'tensor<*xf32>': runtime plan inputs are ranked f32, i64 or i32 tensors}}
func.func @forward(%x: tensor<*xf32>) -> tensor<*xf32> {
  return %x : tensor<*xf32>
}

// -----

// A rank-reducing slice: the plan's views keep the rank.
func.func @forward(%x: tensor<4x8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{'tensor.extract_slice' op reduces the rank}}
  %s = tensor.extract_slice %x[0, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<8xf32>
  return %s : tensor<8xf32>
}

// -----

// A negative static output size, which tensor.expand_shape's verifier lets
// through when the result dim is static (found by fuzz-attn_passes).
func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x1x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  // expected-error @+1 {{'tensor.expand_shape' op has a negative static output size (-1)}}
  %e = tensor.expand_shape %x [[0], [1, 2]] output_shape [%n, -1, 4] : tensor<?x4xf32> into tensor<?x1x4xf32>
  return %e : tensor<?x1x4xf32>
}

// -----

// A static output size that disagrees with the result type.
func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x1x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  // expected-error @+1 {{'tensor.expand_shape' op has output size 2 in dimension 1 but its result type says 1}}
  %e = tensor.expand_shape %x [[0], [1, 2]] output_shape [%n, 2, 4] : tensor<?x4xf32> into tensor<?x1x4xf32>
  return %e : tensor<?x1x4xf32>
}

// End to end: attn.embed, attn.rms_norm, attn.linear, attn.mlp and attn.rope
// lowered by convert-attn-to-linalg, bufferized and run by the upstream JIT,
// against an independent numpy reference. Results are rounded to 4 decimals
// before printing so the CHECK lines compare values, not the last bits of f32;
// the inputs keep every expected value well away from a rounding boundary.
//
// DEFINE: %{lower} = --convert-attn-to-linalg \
// DEFINE:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// DEFINE:   --convert-linalg-to-loops --expand-strided-metadata --lower-affine \
// DEFINE:   --convert-scf-to-cf --convert-math-to-llvm --convert-arith-to-llvm \
// DEFINE:   --convert-cf-to-llvm --finalize-memref-to-llvm --convert-func-to-llvm \
// DEFINE:   --convert-index-to-llvm --reconcile-unrealized-casts
// DEFINE: %{libs} = /usr/lib/llvm-22/lib/libmlir_c_runner_utils.so,/usr/lib/llvm-22/lib/libmlir_runner_utils.so
// RUN: attn-opt %s --verify-roundtrip -o /dev/null
// RUN: attn-opt %s %{lower} \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%{libs} \
// RUN:   | FileCheck %s
//
// The expected lines are printed by this numpy program (python3, numpy):
//
//   import numpy as np
//
//   def vals(n, mul, mod, off):  # exact in f32: multiples of 1/4
//       return ((np.arange(n) * mul % mod) - off) / 4.0
//
//   def rope(x, pos, theta, rot, pairing, base=None, freqs=None):
//       f = np.arange(rot // 2) if freqs is None else np.array(freqs)
//       omega = theta ** (-2.0 * f / (base or rot))
//       ang = pos[:, :, None, None] * omega  # [b, s, 1, rot/2]
//       c, s = np.cos(ang), np.sin(ang)
//       y = x.copy()
//       lo, hi = (slice(0, rot // 2), slice(rot // 2, rot)) if pairing == "rotate_half" \
//           else (slice(0, rot, 2), slice(1, rot, 2))
//       y[..., lo] = x[..., lo] * c - x[..., hi] * s
//       y[..., hi] = x[..., hi] * c + x[..., lo] * s
//       return y
//
//   table = vals(18, 5, 13, 6).reshape(6, 3)
//   ids = np.array([[0, 5, 7, -2]])               # 7 and -2 clamp to 5 and 0
//   x = vals(8, 3, 11, 5).reshape(2, 4)
//   norm_w = vals(4, 3, 5, -2)
//   xl = vals(8, 5, 9, 4).reshape(1, 2, 4)
//   w = vals(12, 7, 9, 4).reshape(3, 4)
//   b = vals(3, 2, 5, 2)
//   gate = vals(20, 3, 7, 3).reshape(5, 4)
//   up = vals(20, 5, 9, 4).reshape(5, 4)
//   down = vals(20, 3, 13, 6).reshape(4, 5)
//   xr = vals(18, 5, 11, 5).reshape(1, 3, 1, 6)
//   pos = np.array([[0, 4, 11]])
//   xi = vals(8, 3, 7, 3).reshape(1, 2, 1, 4)
//   pos_i = np.array([[3, 10]])
//
//   silu = lambda z: z / (1 + np.exp(-z))
//   for out in (table[np.clip(ids, 0, 5)],
//               x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-5) * norm_w,
//               xl @ w.T + b,
//               (silu(x @ gate.T) * (x @ up.T)) @ down.T,
//               rope(xr, pos, 1e4, 4, "rotate_half"),
//               rope(xi, pos_i, 1e4, 4, "interleaved", base=8, freqs=[0, 2])):
//       print("[" + ", ".join("%g" % v for v in np.round(out.ravel(), 4)) + "]")

func.func private @printMemrefF32(memref<*xf32>)

func.func @show(%t: tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %t, %c0 : tensor<?xf32>
  %scale = arith.constant 1.0e4 : f32
  %init = tensor.empty(%n) : tensor<?xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%t : tensor<?xf32>) outs(%init : tensor<?xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.mulf %x, %scale : f32
    %i = math.roundeven %s : f32
    %y = arith.divf %i, %scale : f32
    linalg.yield %y : f32
  } -> tensor<?xf32>
  %m = bufferization.to_buffer %r : tensor<?xf32> to memref<?xf32>
  %u = memref.cast %m : memref<?xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}

func.func @main() {
  %table = arith.constant dense<[[-1.5, -0.25, 1.0], [-1.0, 0.25, 1.5], [-0.5, 0.75, -1.25], [0.0, 1.25, -0.75], [0.5, -1.5, -0.25], [1.0, -1.0, 0.25]]> : tensor<6x3xf32>
  %ids = arith.constant dense<[[0, 5, 7, -2]]> : tensor<1x4xi64>
  %e = attn.embed %table, %ids : tensor<6x3xf32>, tensor<1x4xi64> -> tensor<1x4x3xf32>
  %ef = tensor.collapse_shape %e [[0, 1, 2]] : tensor<1x4x3xf32> into tensor<12xf32>
  %ed = tensor.cast %ef : tensor<12xf32> to tensor<?xf32>
  call @show(%ed) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [12] strides = [1]
  // CHECK-NEXT: [-1.5, -0.25, 1, 1, -1, 0.25, 1, -1, 0.25, -1.5, -0.25, 1]

  %x = arith.constant dense<[[-1.25, -0.5, 0.25, 1.0], [-1.0, -0.25, 0.5, 1.25]]> : tensor<2x4xf32>
  %norm_w = arith.constant dense<[0.5, 1.25, 0.75, 1.5]> : tensor<4xf32>
  %xd = tensor.cast %x : tensor<2x4xf32> to tensor<?x4xf32>
  %n = attn.rms_norm %xd, %norm_w {epsilon = 1.0e-05 : f64} : tensor<?x4xf32>, tensor<4xf32>
  %ns = tensor.cast %n : tensor<?x4xf32> to tensor<2x4xf32>
  %nf = tensor.collapse_shape %ns [[0, 1]] : tensor<2x4xf32> into tensor<8xf32>
  %nd = tensor.cast %nf : tensor<8xf32> to tensor<?xf32>
  call @show(%nd) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [8] strides = [1]
  // CHECK-NEXT: [-0.7372, -0.7372, 0.2212, 1.7693, -0.5898, -0.3686, 0.4423, 2.2116]

  // Two dynamic leading dims: the rank-3 contraction, not a reshaped matmul.
  %xl = arith.constant dense<[[[-1.0, 0.25, -0.75, 0.5], [-0.5, 0.75, -0.25, 1.0]]]> : tensor<1x2x4xf32>
  %w = arith.constant dense<[[-1.0, 0.75, 0.25, -0.25], [-0.75, 1.0, 0.5, 0.0], [-0.5, -1.0, 0.75, 0.25]]> : tensor<3x4xf32>
  %b = arith.constant dense<[-0.5, 0.0, 0.5]> : tensor<3xf32>
  %xld = tensor.cast %xl : tensor<1x2x4xf32> to tensor<?x?x4xf32>
  %l = attn.linear %xld, %w, %b : tensor<?x?x4xf32>, tensor<3x4xf32>, tensor<3xf32> -> tensor<?x?x3xf32>
  %ls = tensor.cast %l : tensor<?x?x3xf32> to tensor<1x2x3xf32>
  %lf = tensor.collapse_shape %ls [[0, 1, 2]] : tensor<1x2x3xf32> into tensor<6xf32>
  %ld = tensor.cast %lf : tensor<6xf32> to tensor<?xf32>
  call @show(%ld) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [6] strides = [1]
  // CHECK-NEXT: [0.375, 0.625, 0.3125, 0.25, 1, 0.0625]

  %gate = arith.constant dense<[[-0.75, 0.0, 0.75, -0.25], [0.5, -0.5, 0.25, -0.75], [0.0, 0.75, -0.25, 0.5], [-0.5, 0.25, -0.75, 0.0], [0.75, -0.25, 0.5, -0.5]]> : tensor<5x4xf32>
  %up = arith.constant dense<[[-1.0, 0.25, -0.75, 0.5], [-0.5, 0.75, -0.25, 1.0], [0.0, -1.0, 0.25, -0.75], [0.5, -0.5, 0.75, -0.25], [1.0, 0.0, -1.0, 0.25]]> : tensor<5x4xf32>
  %down = arith.constant dense<[[-1.5, -0.75, 0.0, 0.75, 1.5], [-1.0, -0.25, 0.5, 1.25, -1.25], [-0.5, 0.25, 1.0, -1.5, -0.75], [0.0, 0.75, 1.5, -1.0, -0.25]]> : tensor<4x5xf32>
  %m = attn.mlp %x, %gate, %up, %down : tensor<2x4xf32>, tensor<5x4xf32>, tensor<5x4xf32>, tensor<4x5xf32>
  %mf = tensor.collapse_shape %m [[0, 1]] : tensor<2x4xf32> into tensor<8xf32>
  %md = tensor.cast %mf : tensor<8xf32> to tensor<?xf32>
  call @show(%md) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [8] strides = [1]
  // CHECK-NEXT: [-0.6274, -1.3421, -0.6727, -0.2599, -0.2247, -1.037, -0.7633, -0.5224]

  // Partial rotary: channels 4 and 5 pass through.
  %xr = arith.constant dense<[[[[-1.25, 0.0, 1.25, -0.25, 1.0, -0.5]], [[0.75, -0.75, 0.5, -1.0, 0.25, -1.25]], [[0.0, 1.25, -0.25, 1.0, -0.5, 0.75]]]]> : tensor<1x3x1x6xf32>
  %pos = arith.constant dense<[[0, 4, 11]]> : tensor<1x3xi64>
  %r = attn.rope %xr, %pos {theta = 1.0e+04 : f64, rotary_dim = 4 : i64,
                            pairing = #attn<pairing rotate_half>}
      : tensor<1x3x1x6xf32>, tensor<1x3xi64>
  %rf = tensor.collapse_shape %r [[0, 1, 2, 3]] : tensor<1x3x1x6xf32> into tensor<18xf32>
  %rd = tensor.cast %rf : tensor<18xf32> to tensor<?xf32>
  call @show(%rd) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [18] strides = [1]
  // CHECK-NEXT: [-1.25, 0, 1.25, -0.25, 1, -0.5, -0.1118, -0.7094, -0.8944, -1.0292, 0.25, -1.25, -0.25, 1.1327, -0.0011, 1.1312, -0.5, 0.75]

  %xi = arith.constant dense<[[[[-0.75, 0.0, 0.75, -0.25]], [[0.5, -0.5, 0.25, -0.75]]]]> : tensor<1x2x1x4xf32>
  %pos_i = arith.constant dense<[[3, 10]]> : tensor<1x2xi64>
  %ri = attn.rope %xi, %pos_i {theta = 1.0e+04 : f64, rotary_dim = 4 : i64,
                               base_dim = 8 : i64, frequencies = array<i64: 0, 2>,
                               pairing = #attn<pairing interleaved>}
      : tensor<1x2x1x4xf32>, tensor<1x2xi64>
  %rif = tensor.collapse_shape %ri [[0, 1, 2, 3]] : tensor<1x2x1x4xf32> into tensor<8xf32>
  %rid = tensor.cast %rif : tensor<8xf32> to tensor<?xf32>
  call @show(%rid) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [8] strides = [1]
  // CHECK-NEXT: [0.7425, -0.1058, 0.7572, -0.2274, -0.6915, 0.1475, 0.3236, -0.7213]
  return
}

// End to end: attn.attention and attn.cache_update lowered by
// convert-attn-to-linalg, bufferized and run by the upstream JIT, against an
// independent numpy reference. Results are rounded to 4 decimals before
// printing so the CHECK lines compare values, not the last bits of f32.
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
//   def attention(q, k, v, scale, causal):
//       b, sq, hq, _ = q.shape
//       skv, hkv = k.shape[1], k.shape[2]
//       out = np.zeros((b, sq, hq, v.shape[3]))
//       for bi in range(b):
//           for h in range(hq):
//               g = h // (hq // hkv)
//               s = scale * q[bi, :, h] @ k[bi, :, g].T
//               if causal:  # bottom-right: query i sees keys j <= i + skv - sq
//                   s[np.arange(skv)[None, :] > np.arange(sq)[:, None] + skv - sq] = -np.inf
//               for i in range(sq):
//                   if np.isneginf(s[i]).all():
//                       continue  # a row that sees no key is zero
//                   p = np.exp(s[i] - s[i].max())
//                   out[bi, i, h] = (p / p.sum()) @ v[bi, :, g]
//       return out
//
//   # Prefill, GQA 4 query heads over 2 KV heads, d_qk 3 != d_v 2.
//   q1 = vals(48, 7, 11, 5).reshape(1, 4, 4, 3)
//   k1 = vals(24, 5, 9, 4).reshape(1, 4, 2, 3)
//   v1 = vals(16, 3, 7, 3).reshape(1, 4, 2, 2)
//   # Decode: one new token written at position 3 of a 6-token cache, MQA.
//   cache_k = np.zeros((1, 6, 1, 3)); cache_k[0, :3] = vals(9, 4, 7, 3).reshape(3, 1, 3)
//   cache_v = np.zeros((1, 6, 1, 2)); cache_v[0, :3] = vals(6, 5, 9, 4).reshape(3, 1, 2)
//   k_new = vals(3, 2, 5, 2).reshape(1, 1, 1, 3)
//   v_new = vals(2, 3, 5, 1).reshape(1, 1, 1, 2)
//   q2 = vals(6, 5, 7, 3).reshape(1, 1, 2, 3)
//   cache_k[0, 3:4] = k_new[0]; cache_v[0, 3:4] = v_new[0]
//   # Three queries over two keys: query 0 sees none; logits x100 stay finite.
//   q3 = vals(18, 5, 9, 4).reshape(1, 3, 2, 3)
//   k3 = vals(6, 7, 9, 4).reshape(1, 2, 1, 3)
//   v3 = vals(4, 3, 7, 2).reshape(1, 2, 1, 2)
//
//   for out in (attention(q1, k1, v1, 0.5, True),
//               attention(q2, cache_k[:, :4], cache_v[:, :4], 0.5, True),
//               attention(q3, k3, v3, 100.0, True)):
//       print("[" + ", ".join("%g" % x for x in np.round(out.ravel(), 4)) + "]")

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
  %q1 = arith.constant dense<[[[[-1.25, 0.5, -0.5], [1.25, 0.25, -0.75], [1.0, 0.0, -1.0], [0.75, -0.25, -1.25]], [[0.5, -0.5, 1.25], [0.25, -0.75, 1.0], [0.0, -1.0, 0.75], [-0.25, -1.25, 0.5]], [[-0.5, 1.25, 0.25], [-0.75, 1.0, 0.0], [-1.0, 0.75, -0.25], [-1.25, 0.5, -0.5]], [[1.25, 0.25, -0.75], [1.0, 0.0, -1.0], [0.75, -0.25, -1.25], [0.5, -0.5, 1.25]]]]> : tensor<1x4x4x3xf32>
  %k1 = arith.constant dense<[[[[-1.0, 0.25, -0.75], [0.5, -0.5, 0.75]], [[-0.25, 1.0, 0.0], [-1.0, 0.25, -0.75]], [[0.5, -0.5, 0.75], [-0.25, 1.0, 0.0]], [[-1.0, 0.25, -0.75], [0.5, -0.5, 0.75]]]]> : tensor<1x4x2x3xf32>
  %v1 = arith.constant dense<[[[[-0.75, 0.0], [0.75, -0.25]], [[0.5, -0.5], [0.25, -0.75]], [[0.0, 0.75], [-0.25, 0.5]], [[-0.5, 0.25], [-0.75, 0.0]]]]> : tensor<1x4x2x2xf32>
  %o1 = attn.attention %q1, %k1, %v1 {causal, scale = 5.0e-01 : f64}
      : tensor<1x4x4x3xf32>, tensor<1x4x2x3xf32>, tensor<1x4x2x2xf32>
      -> tensor<1x4x4x2xf32>
  %f1 = tensor.collapse_shape %o1 [[0, 1, 2, 3]] : tensor<1x4x4x2xf32> into tensor<32xf32>
  %d1 = tensor.cast %f1 : tensor<32xf32> to tensor<?xf32>
  call @show(%d1) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [32] strides = [1]
  // CHECK-NEXT: [-0.75, 0, -0.75, 0, 0.75, -0.25, 0.75, -0.25, 0.0189, -0.3075, -0.0666, -0.2734, 0.6093, -0.3907, 0.5792, -0.4208, -0.0076, -0.1138, -0.0807, -0.1026, 0.1245, -0.1927, 0.1411, -0.2666, -0.1264, 0.125, -0.1875, 0.125, 0.0188, -0.1719, -0.0129, -0.0927]

  // Decode over a dynamically shaped cache, read by slicing up to pos + 1.
  %zk = arith.constant dense<0.0> : tensor<1x6x1x3xf32>
  %zv = arith.constant dense<0.0> : tensor<1x6x1x2xf32>
  %pk = arith.constant dense<[[[[-0.75, 0.25, -0.5]], [[0.5, -0.25, 0.75]], [[0.0, -0.75, 0.25]]]]> : tensor<1x3x1x3xf32>
  %pv = arith.constant dense<[[[[-1.0, 0.25]], [[-0.75, 0.5]], [[-0.5, 0.75]]]]> : tensor<1x3x1x2xf32>
  %c0 = arith.constant 0 : index
  %c3 = arith.constant 3 : index
  %ck0 = attn.cache_update %zk[%c0], %pk : tensor<1x6x1x3xf32>, tensor<1x3x1x3xf32>
  %cv0 = attn.cache_update %zv[%c0], %pv : tensor<1x6x1x2xf32>, tensor<1x3x1x2xf32>
  %kn = arith.constant dense<[[[[-0.5, 0.0, 0.5]]]]> : tensor<1x1x1x3xf32>
  %vn = arith.constant dense<[[[[-0.25, 0.5]]]]> : tensor<1x1x1x2xf32>
  %ckd = tensor.cast %ck0 : tensor<1x6x1x3xf32> to tensor<?x6x1x3xf32>
  %cvd = tensor.cast %cv0 : tensor<1x6x1x2xf32> to tensor<?x6x1x2xf32>
  %knd = tensor.cast %kn : tensor<1x1x1x3xf32> to tensor<?x?x1x3xf32>
  %vnd = tensor.cast %vn : tensor<1x1x1x2xf32> to tensor<?x?x1x2xf32>
  %ck1 = attn.cache_update %ckd[%c3], %knd : tensor<?x6x1x3xf32>, tensor<?x?x1x3xf32>
  %cv1 = attn.cache_update %cvd[%c3], %vnd : tensor<?x6x1x2xf32>, tensor<?x?x1x2xf32>
  %ks = tensor.extract_slice %ck1[0, 0, 0, 0] [1, 4, 1, 3] [1, 1, 1, 1] : tensor<?x6x1x3xf32> to tensor<1x4x1x3xf32>
  %vs = tensor.extract_slice %cv1[0, 0, 0, 0] [1, 4, 1, 2] [1, 1, 1, 1] : tensor<?x6x1x2xf32> to tensor<1x4x1x2xf32>
  %q2 = arith.constant dense<[[[[-0.75, 0.5, 0.0], [-0.5, 0.75, 0.25]]]]> : tensor<1x1x2x3xf32>
  %o2 = attn.attention %q2, %ks, %vs {causal, scale = 5.0e-01 : f64}
      : tensor<1x1x2x3xf32>, tensor<1x4x1x3xf32>, tensor<1x4x1x2xf32>
      -> tensor<1x1x2x2xf32>
  %f2 = tensor.collapse_shape %o2 [[0, 1, 2, 3]] : tensor<1x1x2x2xf32> into tensor<4xf32>
  %d2 = tensor.cast %f2 : tensor<4xf32> to tensor<?xf32>
  call @show(%d2) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [4] strides = [1]
  // CHECK-NEXT: [-0.6416, 0.4656, -0.6316, 0.4717]

  %q3 = arith.constant dense<[[[[-1.0, 0.25, -0.75], [0.5, -0.5, 0.75]], [[-0.25, 1.0, 0.0], [-1.0, 0.25, -0.75]], [[0.5, -0.5, 0.75], [-0.25, 1.0, 0.0]]]]> : tensor<1x3x2x3xf32>
  %k3 = arith.constant dense<[[[[-1.0, 0.75, 0.25]], [[-0.25, -0.75, 1.0]]]]> : tensor<1x2x1x3xf32>
  %v3 = arith.constant dense<[[[[-0.5, 0.25]], [[1.0, 0.0]]]]> : tensor<1x2x1x2xf32>
  %o3 = attn.attention %q3, %k3, %v3 {causal, scale = 1.0e+02 : f64}
      : tensor<1x3x2x3xf32>, tensor<1x2x1x3xf32>, tensor<1x2x1x2xf32>
      -> tensor<1x3x2x2xf32>
  %f3 = tensor.collapse_shape %o3 [[0, 1, 2, 3]] : tensor<1x3x2x2xf32> into tensor<12xf32>
  %d3 = tensor.cast %f3 : tensor<12xf32> to tensor<?xf32>
  call @show(%d3) : (tensor<?xf32>) -> ()
  // CHECK: rank = 1 offset = 0 sizes = [12] strides = [1]
  // CHECK-NEXT: [0, 0, 0, 0, -0.5, 0.25, -0.5, 0.25, 1, 0, -0.5, 0.25]
  return
}

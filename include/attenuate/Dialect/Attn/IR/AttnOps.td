//===- AttnOps.td - operations of the attn dialect ---------*- tablegen -*-===//
#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "attenuate/Dialect/Attn/IR/AttnDialect.td"
include "attenuate/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_FloatTensor : RankedTensorOf<[AnyFloat]>;
def Attn_IntTensor : RankedTensorOf<[AnySignlessInteger]>;
// Caches hold floats, or integer codes of an encoded cache (attn-sparse-kv).
def Attn_CacheTensor : RankedTensorOf<[AnyFloat, AnySignlessInteger]>;
def Attn_I16Tensor : RankedTensorOf<[I16]>;
def Attn_F16Tensor : RankedTensorOf<[F16]>;

//===----------------------------------------------------------------------===//
// attn.param
//===----------------------------------------------------------------------===//

def Attn_ParamOp : Attn_Op<"param", [Pure]> {
  let summary = "a named parameter from the module's archives";
  let description = [{
    A weight tensor named by its key in a safetensors archive (for an imported
    checkpoint, exactly the Hugging Face tensor name). The archives are listed
    by the module's `attn.params` attribute, or given to the tool with
    `--attn-params=a.safetensors,b.safetensors`; tensors made by a rewrite
    live in the tool's in-memory store until `--attn-params-out` writes them.
    The result type is the stored shape and element type, so `attn-report`
    counts parameter bytes exactly as they are stored.

    ```mlir
    %wq = attn.param "model.layers.0.self_attn.q_proj.weight" : tensor<192x192xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.embed
//===----------------------------------------------------------------------===//

def Attn_EmbedOp : Attn_Op<"embed", [Pure]> {
  let summary = "embedding lookup: rows of a table gathered by token id";
  let description = [{
    `result[..., :] = table[tokens[...], :]` for a table of shape
    `[vocab, d_model]`. Token ids outside `[0, vocab)` are undefined
    behaviour; the CPU lowering clamps them.

    ```mlir
    %h = attn.embed %table, %tokens
        : tensor<256x192xf32>, tensor<?x?xi64> -> tensor<?x?x192xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$table, Attn_IntTensor:$tokens);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $table `,` $tokens attr-dict `:` type($table) `,` type($tokens) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.linear
//===----------------------------------------------------------------------===//

def Attn_LinearOp : Attn_Op<"linear", [Pure]> {
  let summary = "y = x · Wᵀ (+ b), W in Hugging Face [out, in] layout";
  let description = [{
    A projection over the last dimension of `x`: for `x : [..., in]`,
    `weight : [out, in]` and an optional `bias : [out]`, the result is
    `[..., out]` with `y[..., o] = Σ_i x[..., i] · weight[o, i] (+ bias[o])`.
    The weight keeps the checkpoint's layout so rewrites can slice rows
    (output channels) and columns (input channels) by name.

    ```mlir
    %q = attn.linear %x, %wq : tensor<?x?x192xf32>, tensor<192x192xf32>
        -> tensor<?x?x192xf32>
    %k = attn.linear %x, %wk, %bk
        : tensor<?x?x192xf32>, tensor<64x192xf32>, tensor<64xf32>
        -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$weight,
                       Optional<Attn_FloatTensor>:$bias);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,`
    type($weight) (`,` type($bias)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.rms_norm
//===----------------------------------------------------------------------===//

def Attn_RmsNormOp : Attn_Op<"rms_norm", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "RMSNorm over the last dimension with a learned scale";
  let description = [{
    `y = x / sqrt(mean(x², last dim) + epsilon) · weight`, the Llama norm
    (no mean subtraction, no bias). `weight : [d]` for `x : [..., d]`.

    ```mlir
    %n = attn.rms_norm %h, %w {epsilon = 1.0e-05 : f64}
        : tensor<?x?x192xf32>, tensor<192xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$weight,
                       F64Attr:$epsilon);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.mlp
//===----------------------------------------------------------------------===//

def Attn_MlpOp : Attn_Op<"mlp", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "gated SiLU MLP: down(silu(gate(x)) · up(x))";
  let description = [{
    The Llama feed-forward block kept as one op, because A3's MLP step
    selects intermediate channels jointly across the three weights:
    `gate : [i, d]`, `up : [i, d]`, `down : [d, i]` for `x : [..., d]`, and
    `y = (silu(x · gateᵀ) ⊙ (x · upᵀ)) · downᵀ` with `silu(z) = z·σ(z)`.

    ```mlir
    %y = attn.mlp %x, %gate, %up, %down : tensor<?x?x192xf32>,
        tensor<512x192xf32>, tensor<512x192xf32>, tensor<192x512xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$gate,
                       Attn_FloatTensor:$up, Attn_FloatTensor:$down);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gate `,` $up `,` $down attr-dict `:` type($input) `,`
    type($gate) `,` type($up) `,` type($down)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.rope
//===----------------------------------------------------------------------===//

def Attn_RopeOp : Attn_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding of per-head vectors";
  let description = [{
    Rotates pairs of channels of `input : [batch, seq, heads, head_dim]` by
    angles `positions[b, s] · ω_j`. The first `rotary_dim` channels rotate
    (partial rotary leaves the rest unchanged); they form `rotary_dim / 2`
    pairs, `(j, j + rotary_dim/2)` for `rotate_half` (Hugging Face Llama) or
    `(2j, 2j + 1)` for `interleaved`.

    Pair `j` uses frequency `ω_j = theta^(-2 f_j / base_dim)` where
    `f_j = frequencies[j]` when the kept-frequency list is present (A3 keeps
    a subset of the original frequency pairs) and `f_j = j` otherwise;
    `base_dim` defaults to `rotary_dim`. Positions are absolute token
    positions, so a decode step passes its offset into the sequence.

    ```mlir
    %qr = attn.rope %q, %pos {theta = 1.0e+04 : f64, rotary_dim = 32 : i64,
                              pairing = #attn<pairing rotate_half>}
        : tensor<?x?x6x32xf32>, tensor<?x?xi64>
    // A3 kept frequencies 0, 3, 7 and 12 of the original 16 pairs:
    %kr = attn.rope %k, %pos {theta = 1.0e+04 : f64, rotary_dim = 8 : i64,
                              base_dim = 32 : i64,
                              frequencies = array<i64: 0, 3, 7, 12>,
                              pairing = #attn<pairing rotate_half>}
        : tensor<?x?x2x8xf32>, tensor<?x?xi64>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_IntTensor:$positions,
                       F64Attr:$theta,
                       ConfinedAttr<I64Attr, [IntPositive]>:$rotary_dim,
                       Attn_RopePairingAttr:$pairing,
                       OptionalAttr<I64Attr>:$base_dim,
                       OptionalAttr<DenseI64ArrayAttr>:$frequencies);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// base_dim if present, else rotary_dim.
    int64_t getEffectiveBaseDim();
    /// f_j for every rotated pair j (frequencies, or 0..rotary_dim/2-1).
    ::llvm::SmallVector<int64_t> getFrequencyIndices();
  }];
}

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

def Attn_AttentionOp : Attn_Op<"attention", [Pure]> {
  let summary = "scaled dot-product attention with GQA by head counts";
  let description = [{
    `out[b, i, h, :] = Σ_j softmax_j(scale · q[b,i,h,:]·k[b,j,g,:]) v[b,j,g,:]`
    with `q : [batch, q_len, q_heads, d_qk]`, `k : [batch, kv_len, kv_heads,
    d_qk]`, `v : [batch, kv_len, kv_heads, d_v]` and the result
    `[batch, q_len, q_heads, d_v]`. Query head `h` reads key/value head
    `g = h / (q_heads / kv_heads)`: grouped-query attention without copies
    (`kv_heads = 1` is multi-query). `d_qk` may differ from `d_v`.

    `scale` is explicit because rewrites change it (MLA absorption, low-rank
    heads). With `causal`, the mask is aligned bottom-right: query `i` sees
    keys `j <= i + kv_len - q_len`, so the same op serves prefill
    (`q_len = kv_len`) and decode over a cache (`q_len < kv_len`). A query
    row that sees no key yields zeros.

    MLA in absorbed form is this op with one KV head, `k = [c ; k_rope]` and
    `v = c`. Shared attention is this op with another layer's `q` and `k`.

    ```mlir
    %o = attn.attention %q, %k, %v {causal, scale = 0.17677669529663687 : f64}
        : tensor<?x?x6x32xf32>, tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>
        -> tensor<?x?x6x32xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
                       Attn_FloatTensor:$value, F64Attr:$scale,
                       UnitAttr:$causal);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:` type($query) `,` type($key) `,`
    type($value) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.cache_update
//===----------------------------------------------------------------------===//

def Attn_CacheUpdateOp : Attn_Op<"cache_update", [Pure,
    AllTypesMatch<["cache", "result"]>]> {
  let summary = "write new per-token entries into a KV cache value";
  let description = [{
    The KV cache is an ordinary tensor value `[batch, capacity, kv_heads,
    head_dim]`. This op returns the cache with tokens
    `[position, position + new_len)` replaced by `new : [batch, new_len,
    kv_heads, head_dim]`; it is then read by slicing
    (`tensor.extract_slice`) up to `position + new_len`. Writing past the
    capacity is a runtime error in the CPU lowering. The cache's shape and
    element type are what `attn-report` counts as KV bytes per token. A
    cache may hold integers: `attn-sparse-kv` caches int16 atom indices next
    to fp16 coefficients.

    ```mlir
    %k1 = attn.cache_update %k0[%pos], %knew
        : tensor<?x?x2x32xf32>, tensor<?x?x2x32xf32>
    ```
  }];
  let arguments = (ins Attn_CacheTensor:$cache, Attn_CacheTensor:$update,
                       Index:$position);
  let results = (outs Attn_CacheTensor:$result);
  let assemblyFormat = [{
    $cache `[` $position `]` `,` $update attr-dict `:` type($cache) `,`
    type($update)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// CSR: attn.sparse_encode, attn.sparse_decode
//===----------------------------------------------------------------------===//

def Attn_SparseEncodeOp : Attn_Op<"sparse_encode", [Pure]> {
  let summary = "CSR: matching-pursuit codes of head vectors over a dictionary";
  let description = [{
    Encodes every head vector of `input : [batch, seq, heads, d]` as sparse
    codes over `dictionary : [atoms, d / chunks]` (one unit-norm atom per
    row). The vector is split into `chunks` consecutive chunks of
    `d_c = d / chunks` channels, each encoded separately by `sparsity = s`
    steps of matching pursuit (CSR, Zhang et al., arXiv 2412.11741):

    ```
    r = x_chunk (f32)
    for g in 0 .. s-1:
      dots_n = Σ_j r[j] · dictionary[n, j]          (j ascending, f32)
      i_g    = argmax_n |dots_n|                    (ties: lowest n)
      c_g    = f16(clamp(dots_{i_g}, ±65504))       (round to nearest even)
      r      = r − f32(c_g) · dictionary[i_g, :]
    ```

    The residual is updated with the stored (fp16) coefficient, so later
    steps correct its rounding. Code slot `chunk · s + g` of the results
    `indices : [batch, seq, heads, chunks · s]` (i16) and
    `coefficients` (same shape, f16) holds step `g` of chunk `chunk`.
    `attn.sparse_decode` inverts it. With the identity basis as dictionary
    and `s = d_c`, `‖x − decode(encode(x))‖∞ ≤ 2⁻¹¹‖x‖∞ + 2⁻²⁴`.

    ```mlir
    %idx, %coef = attn.sparse_encode %k, %dict {sparsity = 4 : i64,
                                               chunks = 1 : i64}
        : tensor<?x?x2x32xf32>, tensor<256x32xf32>
        -> tensor<?x?x2x4xi16>, tensor<?x?x2x4xf16>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$dictionary,
                       ConfinedAttr<I64Attr, [IntPositive]>:$sparsity,
                       ConfinedAttr<I64Attr, [IntPositive]>:$chunks);
  let results = (outs Attn_I16Tensor:$indices, Attn_F16Tensor:$coefficients);
  let assemblyFormat = [{
    $input `,` $dictionary attr-dict `:` type($input) `,` type($dictionary)
    `->` type($indices) `,` type($coefficients)
  }];
  let hasVerifier = 1;
}

def Attn_SparseDecodeOp : Attn_Op<"sparse_decode", [Pure]> {
  let summary = "CSR: head vectors rebuilt from sparse codes and a dictionary";
  let description = [{
    The inverse of `attn.sparse_encode`: for codes `indices : [batch, seq,
    heads, chunks · s]` (i16) and `coefficients` (f16, same shape) over
    `dictionary : [atoms, d_c]`, the result `[batch, seq, heads, chunks · d_c]`
    is

    `result[b, t, h, c·d_c + j] = Σ_g f32(coefficients[b,t,h,c·s+g]) ·
    dictionary[indices[b,t,h,c·s+g], j]` (g ascending, accumulated in the
    result's element type from zero).

    An index outside `[0, atoms)` is undefined behaviour; the reference
    lowering clamps it. The KV cache of `attn-sparse-kv` holds the codes, and
    this op rebuilds keys (before RoPE) and values from the cache read.

    ```mlir
    %v = attn.sparse_decode %idx, %coef, %dict {chunks = 2 : i64}
        : tensor<?x?x2x8xi16>, tensor<?x?x2x8xf16>, tensor<256x16xf32>
        -> tensor<?x?x2x32xf32>
    ```
  }];
  let arguments = (ins Attn_I16Tensor:$indices, Attn_F16Tensor:$coefficients,
                       Attn_FloatTensor:$dictionary,
                       ConfinedAttr<I64Attr, [IntPositive]>:$chunks);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $indices `,` $coefficients `,` $dictionary attr-dict `:` type($indices)
    `,` type($coefficients) `,` type($dictionary) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// KIVI: attn.kv_quantize
//===----------------------------------------------------------------------===//

def Attn_KvQuantizeOp : Attn_Op<"kv_quantize", [Pure,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "KIVI: cached keys/values as read back from a quantized cache";
  let description = [{
    The values a KIVI cache (Liu et al., arXiv 2402.02750) returns for the
    `L` tokens of `input : [batch, L, heads, d]`: asymmetric `bits`-bit
    quantization of all but the most recent tokens, which stay in full
    precision. With `Q = 2^bits − 1`, a group of values `x` is stored as
    `scale = f16((max x − min x) / Q)`, `zero = f16(min x)` and codes
    `q = clamp(floor((x − zero) / scale + 0.5), 0, Q)` (`q = 0` when
    `scale = 0`), and read back as `zero + q · scale` (f32 arithmetic).

    - `axis = "channel"` (keys): groups are `group` consecutive tokens of
      one channel of one head. Tokens `[0, L_q)` are quantized with
      `L_q = ⌊max(L − window, 0) / group⌋ · group`: only whole groups older
      than the window, so between `window` and `window + group − 1` recent
      tokens stay exact (KIVI's residual).
    - `axis = "token"` (values): groups are `group` consecutive channels of
      one token of one head (`d % group == 0`); tokens
      `[0, max(L − window, 0))` are quantized.

    The op is the read side of the cache: the reference lowering computes
    exactly the values a packed cache of codes, fp16 scales/zeros and an
    fp window returns, and `attn-report` counts those bytes (codes
    `bits/8` per value, scale and zero per group, the window in the cache's
    element type) for the cache this op reads. The boundary is taken from
    the read's length `L`, so every query of a call sees the cache as stored
    after that call: a prefill of many tokens reads more of its own context
    from codes than token-by-token decode would (KIVI attends to full
    precision during prefill), which makes prefill scores (attn-eval)
    pessimistic for KIVI; CSR caches behave the same way.

    ```mlir
    %kq = attn.kv_quantize %k {axis = "channel", bits = 2 : i64,
                               group = 32 : i64, window = 32 : i64}
        : tensor<?x?x2x32xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input,
                       ConfinedAttr<I64Attr, [IntPositive]>:$bits,
                       StrAttr:$axis,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$window);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Training: projection gradients and PAMM
//===----------------------------------------------------------------------===//

def Attn_I32Tensor : RankedTensorOf<[I32]>;

def Attn_LinearGradWeightOp : Attn_Op<"linear_grad_weight", [Pure]> {
  let summary = "weight gradient of attn.linear: dW = dYᵀ · X over all tokens";
  let description = [{
    For `y = attn.linear x, W` with `x : [..., in]` and `W : [out, in]`, the
    gradient of a loss with respect to `W` is
    `result[o, i] = Σ_t grad_output[t, o] · input[t, i]`, summed over every
    token `t`: every index of the leading dimensions, which `grad_output
    : [..., out]` and `input : [..., in]` share. The result has the weight's
    `[out, in]` layout (a bias gradient is not part of this op).

    This is the product that forces a training graph to keep the projection's
    input from the forward pass; `attn-pamm` replaces it with
    `attn.pamm_grad_weight` on a compressed input.

    ```mlir
    %dwq = attn.linear_grad_weight %dq, %x
        : tensor<?x?x192xf32>, tensor<?x?x192xf32> -> tensor<192x192xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$grad_output, Attn_FloatTensor:$input);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `,` $input attr-dict `:` type($grad_output) `,` type($input)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def Attn_LinearGradInputOp : Attn_Op<"linear_grad_input", [Pure]> {
  let summary = "input gradient of attn.linear: dX = dY · W";
  let description = [{
    For `y = attn.linear x, W` with `W : [out, in]`, the gradient with respect
    to `x` is `result[..., i] = Σ_o grad_output[..., o] · weight[o, i]`, for
    `grad_output : [..., out]` and a result `[..., in]`. It needs the weight,
    not the saved input, so it stays exact under `attn-pamm`. A layer input
    read by several projections (Q, K and V) receives the sum of their input
    gradients.

    ```mlir
    %dxq = attn.linear_grad_input %dq, %wq
        : tensor<?x?x192xf32>, tensor<192x192xf32> -> tensor<?x?x192xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$grad_output, Attn_FloatTensor:$weight);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `,` $weight attr-dict `:` type($grad_output) `,`
    type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Attn_PammCompressOp : Attn_Op<"pamm_compress", [Pure]> {
  let summary = "PAMM: a projection input as generators, assignment and scales";
  let description = [{
    Point-approximate compression (Khalaf et al., arXiv 2506.02939) of the
    `b` tokens of `input : [..., n]`, where `b` is the product of the leading
    dims and tokens are numbered in row-major order:

    - **generators** `: [k, n]` with `k = clamp(⌈ratio · b⌉, 1, b)` (`0` when
      `b = 0`; the ceiling is taken of the f64 product): tokens sampled
      uniformly without replacement by a partial Fisher–Yates shuffle of
      `0 .. b−1`: for `j = 0 .. k−1`, position `j` is swapped with position
      `j + z_j mod (b − j)`, where `z_j` is splitmix64's output at state
      `seed + (j + 1) · 0x9E3779B97F4A7C15` (64-bit wrapping arithmetic, the
      seed read as unsigned). Row `j` is the token at position `j`.
    - **assignment** `f : [...]` (the leading dims of `input`):
      `f(t) = argmax_j |cos(x_t, C_j)|`, computed as `⟨x_t, C_j⟩² / ‖C_j‖²`.
      A token that is a generator is assigned to itself; ties go to the
      lowest `j`; a generator of norm 0 is never chosen (if all are, `f = 0`).
    - **scale** `α : [...]`: `α_t = ⟨x_t, C_f(t)⟩ / ‖C_f(t)‖²`, so that
      `α_t · C_f(t)` is the point of the line through `C_f(t)` closest to
      `x_t` (`α = 1` for a generator, `0` when every generator is zero).
    - **epsilon** (optional; absent keeps every token): the paper's
      neighbourhood condition. A token with
      `‖x_t − α_t C_f(t)‖² > epsilon · ‖x_t‖²` is dropped (`α_t = 0`), and the
      scales of all tokens are multiplied by `β = b / (b − η)` for `η`
      dropped tokens, so the segment sum keeps its scale. Generators are never
      dropped; `epsilon >= 1` drops nothing.

    At `ratio = 1` every token is its own generator and the compression is
    exact. `k·n + 2·b` values replace `b·n`; `attn-report` counts all of
    them. The result is a fixed function of the input, `ratio` and `seed`
    (the sample depends on `b`, not on the token values).

    ```mlir
    %c, %f, %alpha = attn.pamm_compress %x
        {ratio = 1.953125e-03 : f64, seed = 0 : i64}
        : tensor<?x?x192xf32> -> tensor<?x192xf32>, tensor<?x?xi32>,
          tensor<?x?xf32>
    %c2, %f2, %a2 = attn.pamm_compress %x2
        {epsilon = 5.000000e-01 : f64, ratio = 1.250000e-01 : f64,
         seed = 7 : i64}
        : tensor<2x16x64xf32> -> tensor<4x64xf32>, tensor<2x16xi32>,
          tensor<2x16xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, F64Attr:$ratio, I64Attr:$seed,
                       OptionalAttr<F64Attr>:$epsilon);
  let results = (outs Attn_FloatTensor:$generators,
                      Attn_I32Tensor:$assignment, Attn_FloatTensor:$scale);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($generators) `,`
    type($assignment) `,` type($scale)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// k for `tokens` tokens at `ratio` in (0, 1], as the description
    /// defines it (the runtime's attn_pamm_num_generators).
    static int64_t numGenerators(int64_t tokens, double ratio);
  }];
}

def Attn_PammGradWeightOp : Attn_Op<"pamm_grad_weight", [Pure]> {
  let summary = "PAMM weight gradient: segment sum, then a small GEMM";
  let description = [{
    The approximation of `attn.linear_grad_weight %grad_output, %x` from the
    compressed `x` (`attn.pamm_compress`): with `grad_output : [..., out]`,
    `generators C : [k, in]`, and `assignment f` and `scale α` over the
    leading dims of `grad_output`,

    `B̃[j, :] = Σ_{t : f(t) = j} α_t · grad_output[t, :]` (`[k, out]`), and
    `result = B̃ᵀ · C` (`[out, in]`),

    which equals `Σ_t grad_output[t]ᵀ (α_t C_f(t))`: the exact gradient of
    the approximated input. An assignment outside `[0, k)` is undefined
    behaviour; the runtime kernel reports it as an error, the reference
    lowering clamps it.

    ```mlir
    %dwq = attn.pamm_grad_weight %dq, %c, %f, %alpha
        : tensor<?x?x192xf32>, tensor<?x192xf32>, tensor<?x?xi32>,
          tensor<?x?xf32> -> tensor<192x192xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$grad_output,
                       Attn_FloatTensor:$generators,
                       Attn_I32Tensor:$assignment, Attn_FloatTensor:$scale);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $grad_output `,` $generators `,` $assignment `,` $scale attr-dict `:`
    type($grad_output) `,` type($generators) `,` type($assignment) `,`
    type($scale) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // ATTN_OPS_TD

//===- Passes.td - rewrite and analysis passes of attn -----*- tablegen -*-===//
#ifndef ATTN_TRANSFORMS_PASSES_TD
#define ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnReportPass : Pass<"attn-report", "::mlir::ModuleOp"> {
  let summary = "Report parameter bytes, KV-cache bytes and FLOPs per layer";
  let description = [{
    Prints, for every function that contains `attn` ops, one row per
    transformer layer (ops grouped by their `attn.layer` attribute), a row
    `other` for everything outside the layers (embeddings, final norm, LM
    head) and a `total` row:

    - **params**: bytes of the distinct `attn.param` tensors, at their stored
      element type (a parameter used twice, like tied embeddings, counts once;
      it is attributed to the layer of its `attn.param` op).
    - **kv/token**: bytes one token adds to the KV cache, summed over the
      layer's `attn.cache_update` ops: `kv_heads · head_dim · sizeof(elt)`
      per cache.
    - **prefill FLOPs/token**, for a causal prompt of `seq-len` tokens:
      `2·in·out` per `attn.linear`, `6·d·i` per `attn.mlp`, and per
      `attn.attention` `q_heads · (d_qk + d_v) · (S + 1)` (the average causal
      context `(S+1)/2` times two FLOPs per multiply-add, over `QKᵀ` and `PV`);
      a non-causal attention uses `2 · q_heads · (d_qk + d_v) · S`.
    - **decode FLOPs/token**, one new token over a cache of `seq-len` tokens:
      the same projections plus `2 · q_heads · (d_qk + d_v) · S` per
      attention.

    Norms, RoPE, softmax and element-wise ops are not counted: they are
    O(d) per token, far below the projections.

    Training graphs (`attn-import hf DIR --training`, `attn-pamm`) add:

    - **saved/token**, in functions whose results carry `attn.saved` (the
      activations a forward keeps for its backward), in bytes per token of
      the batch, attributed to the result's `attn.layer`: a saved
      `[..., features]` tensor costs `features · sizeof(elt)`; PAMM's
      generators `[k, n]` cost `ratio · n · sizeof(elt)` (k = ⌈ratio·b⌉ rows
      shared by b tokens; the ceiling adds at most one row per batch, not
      counted), its assignment and scale `sizeof(elt)` each (4 + 4 bytes for
      i32 and f32). A line under the table gives the total, the uncompressed
      size of the same activations, and the reduction both with the index
      and scale metadata and for the generators alone (the figure the PAMM
      paper quotes).
    - FLOPs per token of the batch, in both FLOPs columns:
      `2·out·in` for `attn.linear_grad_weight` and `attn.linear_grad_input`;
      `2·n·⌈ratio·S⌉` for `attn.pamm_compress` (scores against the generators
      of a batch of S = `seq-len` tokens); `2·out + 2·ratio·out·in` for
      `attn.pamm_grad_weight` (segment sum, then `B̃ᵀ·C` shared by the batch;
      the ratio is that of the compress op the generators come from, through
      `attn.saved` names across functions, and the second term is left out
      when no such op is found).

    Example:
    ```
    attn-opt model.mlir --attn-report -o /dev/null
    attn-opt model.mlir --attn-report="format=json output=report.json"
    attn-opt model.mlir --attn-report --attn-report-format=json
    ```
    `--attn-report-format` is a tool-wide default for `format`.
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"text\"",
           "Output format: text or json">,
    Option<"output", "output", "std::string", /*default=*/"\"-\"",
           "File to write the report to ('-' for stdout)">,
    Option<"seqLen", "seq-len", "int64_t", /*default=*/"1024",
           "Context length S used by the FLOPs formulas">,
    Option<"label", "label", "std::string", /*default=*/"\"\"",
           "Title printed with the report (e.g. before/after)">,
  ];
}

def AttnVerifyParamsPass : Pass<"attn-verify-params", "::mlir::ModuleOp"> {
  let summary = "Check that every attn.param resolves to a stored tensor";
  let description = [{
    Opens the parameter archives named by the module's `attn.params`
    attribute (paths relative to the module file), or those given with the
    tool's `--attn-params=a.safetensors,b.safetensors` option, and checks that
    every `attn.param` names a tensor that exists with the op's shape and
    element type. Errors point at the op and name the tensor and archive.
    Only headers are read, so this is fast on any checkpoint size.

    ```
    attn-opt model.mlir --attn-verify-params
    ```
  }];
}

def AttnParamsToArgsPass : Pass<"attn-params-to-args", "::mlir::ModuleOp"> {
  let summary = "Turn attn.param ops into trailing function arguments";
  let description = [{
    Execution binds parameters by pointer rather than embedding weights in
    the compiled code: each distinct `attn.param "name"` used in a public
    function becomes a trailing argument of that function, marked with the
    argument attribute `attn.param = "name"`, and the op is erased. `attn-run`
    fills those arguments from the parameter archives (memory-mapped, no
    copy when the stored data is aligned f32).

    ```mlir
    func.func @forward(%x: tensor<?x192xf32>) -> tensor<?x64xf32> {
      %w = attn.param "w" : tensor<64x192xf32>
      ...
    // becomes
    func.func @forward(%x: tensor<?x192xf32>,
                       %w: tensor<64x192xf32> {attn.param = "w"}) -> ...
    ```
    A function that uses parameters and is called from elsewhere in the
    module is an error: its callers could not supply the new arguments.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def AttnCalibrationTapsPass : Pass<"attn-calibration-taps", "::mlir::ModuleOp"> {
  let summary = "Return the activations calibration needs as extra results";
  let description = [{
    The instrumentation behind `attn-calibrate`: for every attention block of
    the entry function (found by the attention-block matcher) and the
    `attn.mlp` of the same layer, appends to the function's results the
    values whose statistics the compression passes use, each marked with a
    result attribute `attn.tap = "layers.<i>.<name>"`:

    - `x_q`, `x_kv`: inputs of the Q and K/V projections (`x_kv` only when it
      differs from `x_q`); `x_o`: the merged heads entering the output
      projection;
    - `q`, `k`: the attention's query and key operands (after RoPE), from
      which the host computes attention probabilities;
    - `k_pre`, `v`: keys before RoPE and values (the KV cache contents);
    - `x_mlp`: the MLP input; `h_mlp`: the MLP intermediate
      `silu(x·gateᵀ) ⊙ (x·upᵀ)`, for which the `attn.mlp` op is expanded
      into its three projections (same numbers).

    ```
    attn-opt model.mlir --attn-calibration-taps="entry=forward"
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "Function to instrument">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnShareAttentionPass
    : Pass<"attn-share-attention", "::mlir::ModuleOp"> {
  let summary = "Shared Attention: layers reuse an earlier layer's attention "
                "probabilities";
  let description = [{
    Shared Attention (Liao & Vargas, arXiv 2407.12866): every layer ℓ of a
    span `[s, e]` computes `O_ℓ = A_{s-1} · V_ℓ · W_O,ℓ` with the attention
    probabilities of the source layer `s-1`. The rewrite replaces the
    query and key operands of ℓ's `attn.attention` (and its scale) by the
    source's; ℓ's query/key projections, RoPE and key-cache write become
    dead and are erased, and the key-cache argument and result of ℓ are
    removed from the function, so `attn-report` shows the KV saving.

    Spans are given (`spans=23-26,27-30`) or chosen from calibration
    statistics (`stats=` from `attn-calibrate`): each layer ℓ ≥ 1 is scored
    by the mean over heads of the similarity of its attention distributions
    to layer ℓ-1's (`metric=cosine`, higher is more similar, or `metric=js`,
    Jensen-Shannon divergence, lower is more similar); layers passing
    `threshold` are shared, at most `max-shared-layers` of them (the best
    scores first). Consecutive shared layers form one span whose source is
    the layer before it. With neither spans nor stats the pass does nothing.

    ```
    attn-opt m.mlir --attn-share-attention="spans=5-6"
    attn-opt m.mlir --attn-share-attention="stats=s.safetensors threshold=0.8"
    attn-opt m.mlir --attn-share-attention="stats=s.safetensors max-shared-layers=2"
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "Function to rewrite">,
    Option<"spans", "spans", "std::string", /*default=*/"\"\"",
           "Comma-separated layer spans s-e (or single layers) to share">,
    Option<"stats", "stats", "std::string", /*default=*/"\"\"",
           "Calibration statistics (attn-calibrate) to choose spans from">,
    Option<"threshold", "threshold", "double", /*default=*/"NAN",
           "Share layers whose score passes this (cosine >=, js <=)">,
    Option<"maxShared", "max-shared-layers", "int64_t", /*default=*/"0",
           "At most this many shared layers (0: no limit)">,
    Option<"metric", "metric", "std::string", /*default=*/"\"cosine\"",
           "Similarity statistic: cosine or js">,
  ];
}

def AttnWriteParamsPass : Pass<"attn-write-params", "::mlir::ModuleOp"> {
  let summary = "Write the parameters passes created and record the archive";
  let description = [{
    Rewrites such as `attn-lowrank` put the weights they make into the
    context's in-memory parameter store. This pass writes them to `path` (a
    safetensors file, written to a temporary and renamed) and prepends the
    file to the module's `attn.params` list, so the output module runs with
    no further flags. The recorded path is relative to `relative-to` (the
    directory of the output module) when given, and so are the archives the
    module already listed, so the output module finds them from wherever it
    is written. Nothing is written when no pass created parameters; without
    `path` the pass only re-records the archive list relative to
    `relative-to`. `attn-opt -o DIR/out.mlir` appends this pass with
    `relative-to=DIR` (and `path=FILE` under `--attn-params-out=FILE`).

    ```
    attn-opt m.mlir --attn-lowrank="..." --attn-params-out=new.safetensors -o out.mlir
    ```
  }];
  let options = [
    Option<"path", "path", "std::string", /*default=*/"\"\"",
           "Output safetensors file">,
    Option<"relativeTo", "relative-to", "std::string", /*default=*/"\"\"",
           "Directory the recorded path is made relative to">,
  ];
}

def AttnLowRankPass : Pass<"attn-lowrank", "::mlir::ModuleOp"> {
  let summary = "A3 analytical low-rank attention and MLP (and the SVD "
                "baselines)";
  let description = [{
    Shrinks the attention and MLP weights of every layer of the entry
    function, by one of three methods (`method=`):

    **a3** (Wong et al., arXiv 2505.12942) — closed forms that minimise the
    error of what the weights compute on calibration data (`stats=` from
    `attn-calibrate`), shrinking dimensions instead of adding GEMMs:
    - QK with RoPE (CUR over frequency pairs): with L = R_q^{1/2} W_q,h and
      M = W_k,gᵀ R_kv^{1/2}, pair j = (a, b) of the head scores
      `λ_j = Σ_h ‖L_{:,a}‖²‖M_{a,:}‖² + ‖L_{:,b}‖²‖M_{b,:}‖²` (summed over all
      query heads: one `attn.rope` serves every head, so all keep the same
      pairs). The top `qk-rank / 2` pairs are kept: q_proj/k_proj rows are
      sliced to them, the head dim becomes `qk-rank`, and the rope op gets
      `rotary_dim = qk-rank`, the original `base_dim` and the kept
      `frequencies` (composed with an existing list). The K cache (function
      argument and result) shrinks to `[?, ?, Hkv, qk-rank]`. The attention
      `scale` is unchanged: the scores are a subset of the same sum.
    - QK without RoPE: per KV group, the SVD of the stacked whitened
      circuits `[R_q^{1/2} W_q,h W_k,gᵀ R_kv^{1/2} ]_h = U Σ Vᵀ` gives
      `W̃_q,h = R_q^{-1/2} U_h,r` and a shared `W̃_k,g = R_kv^{-1/2} V_r Σ_r`.
    - OV: per KV group, the SVD of `[R^{1/2} W_v,g W_o,h ]_h = U Σ Vᵀ` gives a
      shared `W̃_v,g = R^{-1/2} U_r Σ_r` and `W̃_o,h` = column block h of
      `V_rᵀ`; new head dim `ov-rank`, V cache `[?, ?, Hkv, ov-rank]`. R is
      R_kv (`ov-stat=rkv`, "A3-Xkv") or the group's mean per-head R_P
      (`ov-stat=rp`, calibrated with `attn-calibrate --rp`).
    - MLP: intermediate channel i scores `λ_i = (R_d)_ii · ‖W_down[:, i]‖²`;
      the top `mlp-rank` channels of gate/up (rows) and down (columns) stay.

    **svd** / **whitened-svd** — the baselines: each projection (q, k, v, o,
    and the MLP's gate/up/down, after expanding `attn.mlp`) becomes two
    `attn.linear` ops `x → B → A` with `W ≈ A·B`: the truncated SVD of W, or
    SVD-LLM's `A·B = SVD_r(W·L)·L⁻¹` with `R = L Lᵀ` the Cholesky factor of
    the projection's input Gram (R_q for q, R_kv for k/v, R_o for o, R_mlp
    for gate/up, R_d for down).

    Budget: `param-ratio=R` is the fraction of the attention and MLP
    parameters to remove. For a3 each component loses about R of its own
    parameters (`qk-rank = d_h(1−R)`, `ov-rank = d_h(1−R)`,
    `mlp-rank = I(1−R)`); for the baselines each projection gets the rank r
    with `r·(out+in) ≈ (1−R)·out·in`. Ranks are rounded to the nearest
    multiple of `round-to` (the QK rank with RoPE to an even one) and capped
    at the full dimension; `param-ratio=0` keeps full rank and reproduces the
    model (for the baselines: rank min(out, in), exact but larger).
    `qk-rank=`, `ov-rank=`, `mlp-rank=` override the ratio per component (for
    the baselines they are the factor rank of each of the component's
    projections, capped at its min(out, in)); without `param-ratio` only the
    components given a rank are rewritten. `components=` restricts the
    rewrite. A remark reports the ranks and the achieved parameter ratio.

    After `attn-share-attention`, a shared layer reads its source layer's
    query and key: QK is rewritten once, with the source layer's statistics,
    and the shared layer's attention reads the narrowed (or factored) query
    and key as they are; a remark names each such layer. A layer that reads
    one layer's query with another's key is an error when `qk` is rewritten.

    New weights (in the element type of the ones they replace) go to the
    parameter store as `<name>.a3`, `<name>.svd_a`/`.svd_b` or
    `<name>.wsvd_a`/`.wsvd_b`; write them with `--attn-params-out`. An
    ill-conditioned Gram is damped (`R + λ·mean(diag R)·I`) with a remark
    naming the layer and λ.

    ```
    attn-calibrate m.mlir --text=calib.txt -o stats.safetensors
    attn-opt m.mlir --attn-lowrank="stats=stats.safetensors param-ratio=0.3" \
        --attn-params-out=lowrank.safetensors -o m-a3.mlir
    attn-opt m.mlir --attn-lowrank="stats=stats.safetensors qk-rank=32 components=qk" ...
    attn-opt m.mlir --attn-lowrank="method=svd param-ratio=0.2" ...
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "Function to rewrite">,
    Option<"stats", "stats", "std::string", /*default=*/"\"\"",
           "Calibration statistics (attn-calibrate); required by a3 and "
           "whitened-svd">,
    Option<"method", "method", "std::string", /*default=*/"\"a3\"",
           "a3, svd or whitened-svd">,
    Option<"paramRatio", "param-ratio", "double", /*default=*/"NAN",
           "Fraction of the attention+MLP parameters to remove, in [0, 1)">,
    Option<"qkRank", "qk-rank", "int64_t", /*default=*/"0",
           "New QK head dim (svd methods: factor rank of q_proj/k_proj)">,
    Option<"ovRank", "ov-rank", "int64_t", /*default=*/"0",
           "New V head dim (svd methods: factor rank of v_proj/o_proj)">,
    Option<"mlpRank", "mlp-rank", "int64_t", /*default=*/"0",
           "New intermediate size (svd methods: factor rank of gate/up/down)">,
    Option<"components", "components", "std::string",
           /*default=*/"\"qk,ov,mlp\"",
           "Comma-separated components to rewrite: qk, ov, mlp">,
    Option<"roundTo", "round-to", "int64_t", /*default=*/"8",
           "Ranks from param-ratio are rounded to a multiple of this">,
    Option<"ovStat", "ov-stat", "std::string", /*default=*/"\"rkv\"",
           "Statistic weighting the a3 OV error: rkv or rp">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnPammPass : Pass<"attn-pamm", "::mlir::ModuleOp"> {
  let summary = "PAMM: compress the saved inputs of projection weight "
                "gradients";
  let description = [{
    Point-approximate matrix multiplication (Khalaf et al., arXiv
    2506.02939) for training graphs. A projection `Z = X·Wᵀ` needs its input
    `X` in the backward only for the weight gradient `dW = dZᵀ·X`
    (`attn.linear_grad_weight`); `dX = dZ·W` needs the weight. This pass
    replaces the saved `X` by `attn.pamm_compress` (k = ⌈ratio·b⌉ generator
    rows, an i32 assignment and a scale per token) and each weight gradient
    by `attn.pamm_grad_weight` (a segment sum and a `[out,k]·[k,in]` GEMM).

    Forward/backward pairs are found through the function attribute
    `attn.backward = "bwd"` (the backward's name) of the forward; a forward
    result and a backward
    argument with the same `attn.saved = "name"` attribute are one saved
    activation. When every use of that argument in the backward is the
    `input` of an `attn.linear_grad_weight`, the forward returns
    `(C, f, α)` instead (results and arguments named `name.pamm_generators`,
    `name.pamm_assignment`, `name.pamm_scale`) and the backward computes the
    gradients from them. An input shared by several projections (the Q, K
    and V of a layer) is compressed once and serves all of their gradients.
    A saved activation with any other use in the backward stays saved, with
    a warning. An `attn.linear_grad_weight` outside such a pair (a graph
    that is not partitioned) gets its input compressed where it is defined.

    The i-th compressed activation (module order) uses `seed + i`.
    `epsilon` is the paper's neighbourhood condition (see
    `attn.pamm_compress`); the default drops nothing, which the paper found
    best. A module with no projection weight gradient is an error.

    ```
    attn-import hf models/bytellama --training -o train.mlir
    attn-opt train.mlir --attn-pamm="ratio=1/512 seed=7" -o train-pamm.mlir
    attn-opt train-pamm.mlir --attn-report="seq-len=2048" -o /dev/null
    ```
  }];
  let options = [
    Option<"ratio", "ratio", "std::string", /*default=*/"\"1/512\"",
           "Generators per token, in (0, 1]: a number or a fraction such as "
           "1/512">,
    Option<"seed", "seed", "int64_t", /*default=*/"0",
           "Seed of the generator sampling (seed + i for the i-th "
           "compressed activation)">,
    Option<"epsilon", "epsilon", "double", /*default=*/"1.0",
           "Drop tokens with |x - alpha C|^2 > epsilon |x|^2 and rescale the "
           "rest; >= 1 drops nothing">,
  ];
}

def AttnMlaUpcyclePass : Pass<"attn-mla-upcycle", "::mlir::ModuleOp"> {
  let summary = "X-EcoMLA: turn MHA/GQA layers into multi-head latent "
                "attention with a latent KV cache";
  let description = [{
    X-EcoMLA (Li et al., arXiv 2503.11132) upcycles a trained MHA/GQA layer
    to MLA by SVD, so only `r + d_r` values per token and layer are cached
    instead of `2 · Hkv · d_h`. For every attention block of the entry
    function (or the layers listed in `layers=`):

    - **Decoupled RoPE key.** `rope-dim=d_r` channels keep RoPE: d_r/2 whole
      frequency pairs of the original rotation (`rope-pairs=norm`: the pairs
      with the largest `Σ_i ‖W_Q,i[pair]‖·‖W_K,g(i)[pair]‖`, MHA2MLA's 2-norm
      criterion on the weights; `high-frequency`: the fastest-turning ones).
      Whole pairs, because the "last d_r channels" of a rotate_half head are
      halves of different pairs. The RoPE key `k_rope = W_KR x` is those
      rows of `W_K` averaged over the KV heads and is shared by all query
      heads; the other channels of each head are NoPE.
    - **Joint KV SVD.** The stacked NoPE key rows and value rows
      `[W_K,N ; W_V] = U Σ Vᵀ` give the latent `c = W_DKV x`,
      `W_DKV = Σ_r V_rᵀ`, and per-KV-head up-projections `W_UK,g`, `W_UV,g`
      (row blocks of `U_r`). GQA heads are not repeated before the SVD:
      repeating rows changes neither the row space nor the reconstructions
      (Numerics/Mla.h). The rank is `kv-rank=r`, or the smallest r keeping
      `energy=δ` of Σσ² rounded up to `round-to`, per layer. K/V biases
      become a latent bias.
    - **Query.** Optionally low rank (`q-rank=r_q`: `W_Q ≈ W_UQ W_DQ` by SVD).

    `form=absorbed` (the inference form): each layer becomes one
    `attn.attention` with a single KV head. The projection
    `[W_KR ; W_DKV]` writes `[k_rope ; c]` (RoPE with `rotary_dim = d_r`, the
    kept `frequencies` and the original `base_dim`) into one latent cache
    `[batch, capacity, 1, d_r + r]`; the keys are the whole latent row and
    the values its last r channels (`c`). Query head i is
    `[q_i,rope ; W_UK,gᵀ q_i,nope]` (head dim d_r + r), the scale is the
    original one (`1/√(d_nope + d_r)` for `d_nope + d_r = d_h`), and the
    value up-projections are folded into the output projection,
    `W_O' = [W_O,i W_UV,g(i)]_i` (`o_proj` reads Hq·r channels). The latent
    sits after `k_rope` (the paper writes `[c ; k_rope]`) because `attn.rope`
    rotates the leading channels of a head: one projection, one RoPE and one
    cache carry the whole latent, and the block still matches the
    attention-block matcher.

    `form=explicit`: the same latent cache, with per-head keys
    `[k_rope ; W_UK,g c]` and values `W_UV,g c` rebuilt from it by two
    `attn.linear` ops, the original `o_proj`, and queries permuted to the
    `[rope ; nope]` head order. Both forms compute the same function.

    Each layer's K cache argument and result become the latent cache (named
    `latent_cache_<i>`) and its V cache argument and result are removed, so
    `attn-report` shows the new KV bytes per token. The new attention op
    carries an `attn.mla` dictionary (form, ranks, kept pairs, RoPE
    parameters and the names of the new tensors) for tools such as
    `python/attenuate/distill_mla.py`. New tensors go to the parameter store
    as `<name>.mla`, `.mla_a`/`.mla_b` (low-rank q), `.mla_latent` and, in
    the explicit form, `.mla_up`; write them with `--attn-params-out`.

    Without RoPE changes (a model without RoPE, `rope-dim=0`, full rank)
    the rewrite is exact; with RoPE it is an initialisation that
    distillation must repair, since the dropped pairs lose their rotation
    and the RoPE key is averaged over KV heads. Layers whose query/key feed
    other layers (shared attention) are skipped with a remark unless named
    in `layers=`, which is then an error. A remark reports the ranks, the
    fraction of K/V energy kept and the KV cache reduction.

    ```
    attn-opt m.mlir --attn-mla-upcycle="kv-rank=16 rope-dim=4" \
        --attn-params-out=mla.safetensors -o m-mla.mlir
    attn-opt m.mlir --attn-mla-upcycle="energy=0.95 round-to=8 form=explicit" ...
    attn-opt m.mlir --attn-mla-upcycle="kv-rank=32 rope-dim=8 q-rank=96 layers=2-5" ...
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "Function to rewrite">,
    Option<"kvRank", "kv-rank", "int64_t", /*default=*/"0",
           "Latent size r (0: from energy)">,
    Option<"energy", "energy", "double", /*default=*/"NAN",
           "Per-layer rank keeping this fraction of the K/V spectrum's "
           "energy, in (0, 1]">,
    Option<"roundTo", "round-to", "int64_t", /*default=*/"8",
           "Energy ranks are rounded up to a multiple of this">,
    Option<"ropeDim", "rope-dim", "int64_t", /*default=*/"-1",
           "Channels of the decoupled RoPE key/query, even (-1: half the "
           "rotated channels; 0: no RoPE)">,
    Option<"ropePairs", "rope-pairs", "std::string", /*default=*/"\"norm\"",
           "Which RoPE pairs to keep: norm or high-frequency">,
    Option<"qRank", "q-rank", "int64_t", /*default=*/"0",
           "Rank of a low-rank query W_UQ W_DQ (0: keep W_Q full)">,
    Option<"layers", "layers", "std::string", /*default=*/"\"\"",
           "Comma-separated layers or ranges to rewrite (empty: all)">,
    Option<"form", "form", "std::string", /*default=*/"\"absorbed\"",
           "absorbed (one latent KV head) or explicit (per-head K/V from the "
           "latent)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnSparseKvPass : Pass<"attn-sparse-kv", "::mlir::ModuleOp"> {
  let summary = "CSR: a KV cache of sparse codes over learned dictionaries";
  let description = [{
    CSR (Zhang et al., arXiv 2412.11741). For every attention block of the
    entry function whose keys and values are cached, each new key (before
    RoPE) and value head vector is encoded by `attn.sparse_encode` as `s`
    (int16 atom index, fp16 coefficient) pairs per chunk over a dictionary
    of unit-norm atoms; the caches store those codes, and the read rebuilds
    keys and values with `attn.sparse_decode`, applying RoPE to the rebuilt
    keys (at the cache row's position, the token's absolute position).

    - `k-atoms=s_k` codes per key (one chunk), `v-atoms=s_v` per value chunk,
      `v-chunks=s_n` chunks per value head (TECHNIQUES.md §4: K s_n = 1,
      V s_n = 2). Bits per value `32·s·s_n/d_h`.
    - Dictionaries: `atoms=N` atoms each, one for keys and one for values
      per group of `group=` consecutive layers, learned from the pre-RoPE
      key and value samples of `stats=` (attn-calibrate's
      `layers.<i>.k_samples` / `v_samples`, checked to come from this
      model): k-means initialisation, then `rounds=` rounds of matching
      pursuit and an approximate K-SVD sweep, keeping the dictionary with
      the lowest matching-pursuit reconstruction error (Numerics/Dictionary.h).
      A remark gives the relative error of the initialisation and the
      result per dictionary. `dictionary=identity` uses the identity basis
      instead (no stats; `N = d_h / chunks`): with `s` = the chunk size the
      codes reproduce K and V up to fp16 rounding of the coefficients.
    - The dictionaries (`[N, d_c]` f32, atoms as rows) go to the parameter
      store as `attn.csr.layers.<first>-<last>.k_dict` / `v_dict`; write
      them with `--attn-params-out`.

    Each K cache argument and result `[b, cap, h, d]` becomes two, the
    indices `[b, cap, h, s_k]` i16 (`k_idx_<i>`) and coefficients f16
    (`k_coef_<i>`), and likewise for V (`v_idx_<i>`, `v_coef_<i>`, last dim
    `s_n·s_v`), so `attn-report` counts 4 bytes per code plus the
    dictionaries as parameters. A cache read by several attention ops
    (after `attn-share-attention`) is encoded once and all its readers get
    the decoded values; blocks whose keys and values share a cache (MLA's
    latent) or are not cached are skipped with a remark. Run it after the
    other compression passes: their block matcher does not see through the
    codecs. Prefill and decode agree: a token's codes depend on that token
    only, and the decoded keys are rotated at their cache row's position.

    ```
    attn-calibrate m.mlir --text val.txt -o stats.safetensors
    attn-opt m.mlir --attn-sparse-kv="stats=stats.safetensors k-atoms=8 \
        v-atoms=4 v-chunks=2 atoms=512" --attn-params-out=csr.safetensors \
        -o m-csr.mlir
    attn-eval m-csr.mlir --text val.txt
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "Function to rewrite">,
    Option<"stats", "stats", "std::string", /*default=*/"\"\"",
           "Calibration statistics with KV samples (attn-calibrate)">,
    Option<"kAtoms", "k-atoms", "int64_t", /*default=*/"8",
           "Nonzeros per key head vector, in [1, head_dim]">,
    Option<"vAtoms", "v-atoms", "int64_t", /*default=*/"4",
           "Nonzeros per value chunk, in [1, head_dim / v-chunks]">,
    Option<"vChunks", "v-chunks", "int64_t", /*default=*/"2",
           "Chunks per value head vector (divides head_dim)">,
    Option<"atoms", "atoms", "int64_t", /*default=*/"256",
           "Atoms per dictionary, in [1, 32768]">,
    Option<"group", "group", "int64_t", /*default=*/"1",
           "Consecutive layers sharing one K and one V dictionary">,
    Option<"rounds", "rounds", "int64_t", /*default=*/"8",
           "Refinement rounds after k-means">,
    Option<"seed", "seed", "int64_t", /*default=*/"0",
           "Seed of the k-means initialisation">,
    Option<"dictionary", "dictionary", "std::string", /*default=*/"\"\"",
           "identity: the identity basis instead of learned atoms">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnQuantizeKvPass : Pass<"attn-quantize-kv", "::mlir::ModuleOp"> {
  let summary = "KIVI: asymmetric low-bit KV cache (K per channel, V per "
                "token) with a full-precision window";
  let description = [{
    The KIVI baseline (Liu et al., arXiv 2402.02750) against which CSR is
    compared at equal bits. Every cache read feeding an attention op of the
    entry function goes through `attn.kv_quantize`: keys quantized per
    channel over groups of `group=` tokens, values per token over groups of
    `group=` channels, `bits=` 2 or 4, asymmetric (fp16 scale and zero per
    group), with the most recent `window=` tokens (keys: up to
    `window + group − 1`, KIVI's residual) in full precision. The reference
    lowering computes exactly what a packed cache returns; `attn-report`
    counts codes (`bits/8` bytes per value), scales and zeros, and the
    full-precision window amortised at its `seq-len`.

    ```
    attn-opt m.mlir --attn-quantize-kv="bits=2 window=32" -o m-kivi.mlir
    attn-eval m-kivi.mlir --text val.txt
    ```
  }];
  let options = [
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "Function to rewrite">,
    Option<"bits", "bits", "int64_t", /*default=*/"2",
           "Bits per code: 2 or 4">,
    Option<"window", "window", "int64_t", /*default=*/"32",
           "Most recent tokens kept in full precision (>= 0)">,
    Option<"group", "group", "int64_t", /*default=*/"32",
           "Quantization group: tokens per key group, channels per value "
           "group (divides head_dim)">,
  ];
}

def AttnCompressPass : Pass<"attn-compress", "::mlir::ModuleOp"> {
  let summary = "Stack shared attention, MLA upcycling, low rank and the "
                "sparse-dictionary KV cache in one documented order";
  let description = [{
    Runs, in this order, each compression pass whose option is given, with
    that option string as the pass's own options:

    1. `share=` → `attn-share-attention`. First, because it chooses layers
       from the original model's attention similarity and ties their query
       and key to a source layer; the later stages leave tied layers' Q/K
       alone (MLA skips them with a remark).
    2. `mla=` → `attn-mla-upcycle`. Before low rank, because its joint SVD
       needs the original K/V weights, which low rank would factor.
    3. `lowrank=` → `attn-lowrank` on what remains (Q/O, MLP, the K/V of
       layers MLA did not take; restrict it with `components=`).
    4. `sparse-kv=` → `attn-sparse-kv`, last, so that only the caches the
       other stages kept (dense layers, the V caches of shared layers) are
       encoded.

    `stats=S` is appended to the options of the stages that read
    calibration statistics (share, lowrank, sparse-kv) unless they name
    their own (and to share only when it has no `spans=`). The statistics
    describe the original model: a stage after another sees activations
    the statistics did not measure, so stacking
    is an initialisation to evaluate, not a guarantee (recalibrating the
    rewritten module between stages with `attn-calibrate` is the
    alternative). A stage option that does not parse is an error naming
    the option; new weights of every stage go out with
    `--attn-params-out`, and `attn-report` shows the combined KV bytes per
    token.

    ```
    attn-opt m.mlir --attn-compress="stats=s.safetensors \
        share={spans=1-2} mla={kv-rank=8 rope-dim=4 layers=3-7} \
        sparse-kv={k-atoms=2 v-atoms=2}" \
        --attn-params-out=new.safetensors -o small.mlir
    ```
  }];
  let options = [
    Option<"stats", "stats", "std::string", /*default=*/"\"\"",
           "Calibration statistics passed to share, lowrank and sparse-kv">,
    Option<"share", "share", "std::string", /*default=*/"\"\"",
           "Options of attn-share-attention (empty: stage skipped)">,
    Option<"mla", "mla", "std::string", /*default=*/"\"\"",
           "Options of attn-mla-upcycle (empty: stage skipped)">,
    Option<"lowrank", "lowrank", "std::string", /*default=*/"\"\"",
           "Options of attn-lowrank (empty: stage skipped)">,
    Option<"sparseKv", "sparse-kv", "std::string", /*default=*/"\"\"",
           "Options of attn-sparse-kv (empty: stage skipped)">,
  ];
}

#endif // ATTN_TRANSFORMS_PASSES_TD

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
    directory of the output module) when given. Nothing is written when no
    pass created parameters. `attn-opt --attn-params-out=FILE` appends this
    pass to the pipeline.

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

#endif // ATTN_TRANSFORMS_PASSES_TD

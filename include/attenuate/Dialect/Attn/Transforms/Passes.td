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

#endif // ATTN_TRANSFORMS_PASSES_TD

//===- Passes.td - conversions out of the attn dialect -----*- tablegen -*-===//
#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLinalgPass : Pass<"convert-attn-to-linalg"> {
  let summary = "Lower attn ops to their reference semantics in linalg/tensor";
  let description = [{
    Rewrites every `attn` op except `attn.param` into upstream dialects on
    tensors (`linalg`, `tensor`, `arith`, `math`, `cf`), exactly as the op
    descriptions define it. This is the reference the fused kernels are
    checked against, so it favours plain loops over speed: attention
    materialises the full score matrix. Arithmetic runs in the op's element
    type.

    - `attn.embed`: a `linalg.generic` gathering table rows with
      `tensor.extract`; token ids are clamped into `[0, vocab)`.
    - `attn.linear`: leading dims collapsed to one, `linalg.matmul` with the
      transposed-B indexing map (the weight stays `[out, in]`), bias added
      by a `linalg.generic`, dims expanded back. An input with two or more
      dynamic leading dims (`[?, ?, d]`) is contracted by a `linalg.generic`
      at its own rank instead: LLVM 22's `expand-strided-metadata` cannot
      lower the expansion back (llvm/llvm-project#186830).
    - `attn.rms_norm`: a sum-of-squares reduction, then
      `x / sqrt(sum / d + epsilon) · weight`.
    - `attn.mlp`: three such contractions and `silu(g) · u` with
      `silu(z) = z / (1 + exp(-z))`.
    - `attn.rope`: one `linalg.generic` over the output reading each
      channel's pair partner. Frequencies and angles are computed in f32
      whatever the element type, as Hugging Face does (`inv_freq` in f32,
      `position · inv_freq` in f32, `cos`/`sin` in f32 then cast), so the
      result matches a torch Llama to rounding of the element type.
    - `attn.attention`: scores `scale · q·kᵀ` with the GQA head mapping in
      the indexing maps (no K/V copies; with dynamic head counts, computed in
      the body), the bottom-right causal mask as `-inf`, a max-subtracted
      softmax in which a fully masked row gives zeros, then `P·V`. Element
      types without infinities (e.g. `f8E4M3FN`) are rejected.
    - `attn.cache_update`: `tensor.insert_slice` at `[0, position, 0, 0]`,
      guarded by a check that the write stays inside the cache: with
      `checks=assert` (the default) a `cf.assert`, which aborts the program;
      with `checks=report` the write is skipped and the runtime's
      `attn_rt_report_error(code)` records the error for the host to report
      after the call (the CPU pipeline uses this, so a bad position is a
      one-line error of `attn-run`, not a crash).

    Ops named in `keep` are left as they are, for a later lowering (the CPU
    pipeline turns `attn.linear`, `attn.mlp` and `attn.attention` into
    library calls):
    ```
    attn-opt m.mlir --convert-attn-to-linalg
    attn-opt m.mlir --convert-attn-to-linalg="keep=attn.linear,attn.mlp"
    ```
  }];
  let options = [
    ListOption<"keep", "keep", "std::string",
               "attn ops to leave unconverted (e.g. attn.linear,attn.mlp)">,
    Option<"checks", "checks", "std::string", /*default=*/"\"assert\"",
           "Runtime checks: assert (cf.assert) or report (skip the write "
           "and call attn_rt_report_error)">,
  ];
  let dependentDialects = [
    "::mlir::attn::AttnDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // ATTN_CONVERSION_PASSES_TD

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

def ConvertAttnToRuntimePass : Pass<"convert-attn-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower the entry function to an attn-plan of runtime kernel calls";
  let description = [{
    Walks the entry function (`entry`, default `forward`) of a module of attn
    ops and writes an *attn-plan* (JSON, version 1; docs/runtime-plan.md) to
    `plan`: the kernel calls of the runtime's C ABI (`attn.embed`,
    `attn.rms_norm`, `attn.linear`, `attn.mlp`, `attn.rope`,
    `attn.attention`, `attn.cache_update`, residual `arith.addf`) over
    buffers, parameters referenced by name in the module's safetensors
    archives (absolute paths), and the index arithmetic (`tensor.dim`,
    `tensor.extract` of an integer input, `arith.addi/subi/muli`) that the
    runtime evaluates from the inputs to size everything. Reshapes
    (`tensor.expand_shape`/`collapse_shape`) and unit-stride
    `tensor.extract_slice` become views; a cache whose old version nothing
    else reads is updated in place. Buffers get slots by liveness: a slot is
    reused once every value in it is dead, so an 8-layer model needs a
    handful of slots whatever its depth. The module is left unchanged.

    The plan runs without MLIR/LLVM: `attn-exec plan --device=cpu|cuda`.
    Anything the runtime cannot run is a diagnostic naming the op: other
    ops, element types other than f32 (inputs may be i64/i32), dynamic
    sizes not computable from the inputs, strided or rank-reducing slices.
    ```
    attn-opt m.mlir --convert-attn-to-runtime="plan=m.plan" -o /dev/null
    attn-opt m.mlir --attn-lower-to-cuda="plan=m.plan" -o /dev/null
    attn-exec m.plan --input=tokens.npy --input=positions.npy ... \
        --output=logits.npy --device=cpu
    ```
  }];
  let options = [
    Option<"planPath", "plan", "std::string", /*default=*/"\"\"",
           "Where to write the plan ('-' for stdout); required">,
    Option<"entry", "entry", "std::string", /*default=*/"\"forward\"",
           "The function to lower">,
  ];
  let dependentDialects = [
    "::mlir::attn::AttnDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // ATTN_CONVERSION_PASSES_TD

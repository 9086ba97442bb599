//===- Adapters.cpp - _mlir_ciface_attn_rt_* entry points for JIT code ----===//
//
// JIT-compiled code passes memref<*xf32> operands as pointers to
// {rank, descriptor} and cannot look at a return code, so each adapter
// converts its memrefs to views, calls the kernel, and on any failure records
// the first error process-wide (attn_rt_take_error) and zeroes the output:
// a host that forgets to check sees zeros, never stale or partial data.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

namespace attenuate::runtime::detail {

namespace {

/// One adapter call: converts operands and routes failures to the
/// process-wide slot. The output is converted first so that it can be zeroed
/// even when another operand is what failed.
class AdapterCall {
public:
  AdapterCall(const char *adapter, const char *outName,
              attn_unranked_memref *out)
      : adapter(adapter) {
    outputOk = convert(outName, out, output);
  }

  bool convert(const char *operand, attn_unranked_memref *m,
               attn_view_f32 &view) {
    if (viewFromMemref(adapter, operand, m, view) == ATTN_OK)
      return true;
    record();
    return false;
  }

  /// Whether every operand converted so far is usable.
  bool ok() const { return !failed; }
  const attn_view_f32 *out() const { return &output; }

  /// Records a kernel failure, then zeroes the output after any failure.
  void finish(int rc) {
    if (rc != ATTN_OK)
      record();
    if (failed && outputOk)
      fillZero(output);
  }

private:
  void record() {
    failed = true;
    recordAdapterError(adapter, attn_last_error());
  }

  const char *adapter;
  attn_view_f32 output{};
  bool outputOk = false;
  bool failed = false;
};

} // namespace

} // namespace attenuate::runtime::detail

using attenuate::runtime::detail::AdapterCall;

extern "C" void _mlir_ciface_attn_rt_linear_f32(attn_unranked_memref *x,
                                                attn_unranked_memref *w,
                                                attn_unranked_memref *y) {
  AdapterCall call("attn_rt_linear_f32", "y", y);
  attn_view_f32 xv, wv;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("x", x, xv) && call.convert("w", w, wv))
    rc = attn_linear_f32(&xv, &wv, nullptr, call.out());
  call.finish(rc);
}

extern "C" void _mlir_ciface_attn_rt_linear_bias_f32(attn_unranked_memref *x,
                                                     attn_unranked_memref *w,
                                                     attn_unranked_memref *b,
                                                     attn_unranked_memref *y) {
  AdapterCall call("attn_rt_linear_bias_f32", "y", y);
  attn_view_f32 xv, wv, bv;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("x", x, xv) && call.convert("w", w, wv) &&
      call.convert("b", b, bv))
    rc = attn_linear_f32(&xv, &wv, &bv, call.out());
  call.finish(rc);
}

extern "C" void _mlir_ciface_attn_rt_mlp_f32(attn_unranked_memref *x,
                                             attn_unranked_memref *gate,
                                             attn_unranked_memref *up,
                                             attn_unranked_memref *down,
                                             attn_unranked_memref *y) {
  AdapterCall call("attn_rt_mlp_f32", "y", y);
  attn_view_f32 xv, gv, uv, dv;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("x", x, xv) && call.convert("gate", gate, gv) &&
      call.convert("up", up, uv) && call.convert("down", down, dv))
    rc = attn_mlp_f32(&xv, &gv, &uv, &dv, call.out());
  call.finish(rc);
}

extern "C" void _mlir_ciface_attn_rt_attention_f32(attn_unranked_memref *q,
                                                   attn_unranked_memref *k,
                                                   attn_unranked_memref *v,
                                                   double scale, int64_t causal,
                                                   attn_unranked_memref *o) {
  AdapterCall call("attn_rt_attention_f32", "o", o);
  attn_view_f32 qv, kv, vv;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("q", q, qv) && call.convert("k", k, kv) &&
      call.convert("v", v, vv))
    rc = attn_attention_f32(&qv, &kv, &vv, scale, causal != 0 ? 1 : 0,
                            call.out());
  call.finish(rc);
}

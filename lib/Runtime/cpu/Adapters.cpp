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

  /// A further output of a call with several (PAMM's compress), converted
  /// even after a failure so that it is zeroed with the first.
  bool convertOutput(const char *operand, attn_unranked_memref *m,
                     attn_view_f32 &view) {
    if (viewFromMemref(adapter, operand, m, view) != ATTN_OK) {
      record();
      return false;
    }
    if (extraOutputs < kMaxExtraOutputs)
      extra[extraOutputs++] = view;
    return true;
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
    for (int i = 0; failed && i < extraOutputs; ++i)
      fillZero(extra[i]);
  }

private:
  void record() {
    failed = true;
    recordAdapterError(adapter, attn_last_error());
  }

  static constexpr int kMaxExtraOutputs = 2;
  const char *adapter;
  attn_view_f32 output{};
  attn_view_f32 extra[kMaxExtraOutputs]{};
  int extraOutputs = 0;
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

extern "C" void
_mlir_ciface_attn_rt_linear_grad_weight_f32(attn_unranked_memref *dy,
                                            attn_unranked_memref *x,
                                            attn_unranked_memref *dw) {
  AdapterCall call("attn_rt_linear_grad_weight_f32", "dw", dw);
  attn_view_f32 yv, xv;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("dy", dy, yv) && call.convert("x", x, xv))
    rc = attn_linear_grad_weight_f32(&yv, &xv, call.out());
  call.finish(rc);
}

extern "C" void
_mlir_ciface_attn_rt_linear_grad_input_f32(attn_unranked_memref *dy,
                                           attn_unranked_memref *w,
                                           attn_unranked_memref *dx) {
  AdapterCall call("attn_rt_linear_grad_input_f32", "dx", dx);
  attn_view_f32 yv, wv;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("dy", dy, yv) && call.convert("w", w, wv))
    rc = attn_linear_grad_input_f32(&yv, &wv, call.out());
  call.finish(rc);
}

/// A memref<*xi32> descriptor has the f32 one's layout (4-byte elements,
/// offsets in elements), so it converts through the same reader.
static attn_view_i32 asI32(const attn_view_f32 &v) {
  attn_view_i32 out{};
  out.data = reinterpret_cast<int32_t *>(v.data);
  out.rank = v.rank;
  for (int d = 0; d < ATTN_MAX_RANK; ++d) {
    out.sizes[d] = v.sizes[d];
    out.strides[d] = v.strides[d];
  }
  return out;
}

extern "C" void _mlir_ciface_attn_rt_pamm_compress_f32(
    attn_unranked_memref *x, double ratio, int64_t seed, double epsilon,
    attn_unranked_memref *c, attn_unranked_memref *f,
    attn_unranked_memref *alpha) {
  AdapterCall call("attn_rt_pamm_compress_f32", "c", c);
  attn_view_f32 fv, av, xv;
  bool outputs = call.convertOutput("f", f, fv);
  outputs = call.convertOutput("alpha", alpha, av) && outputs;
  int rc = ATTN_OK;
  if (outputs && call.ok() && call.convert("x", x, xv)) {
    attn_view_i32 fi = asI32(fv);
    rc = attn_pamm_compress_f32(&xv, ratio, static_cast<uint64_t>(seed),
                                epsilon, call.out(), &fi, &av);
  }
  call.finish(rc);
}

extern "C" void _mlir_ciface_attn_rt_pamm_grad_weight_f32(
    attn_unranked_memref *dz, attn_unranked_memref *c,
    attn_unranked_memref *f, attn_unranked_memref *alpha,
    attn_unranked_memref *dw) {
  AdapterCall call("attn_rt_pamm_grad_weight_f32", "dw", dw);
  attn_view_f32 zv, cv, fv, av;
  int rc = ATTN_OK;
  if (call.ok() && call.convert("dz", dz, zv) && call.convert("c", c, cv) &&
      call.convert("f", f, fv) && call.convert("alpha", alpha, av)) {
    attn_view_i32 fi = asI32(fv);
    rc = attn_pamm_grad_weight_f32(&zv, &cv, &fi, &av, call.out());
  }
  call.finish(rc);
}

/*===- attn_runtime.h - the C ABI of every Attenuate kernel ----------------===
 *
 * Two layers:
 *  1. attn_<op>_f32(...) on strided views (attn_view_f32). These are the
 *     kernels; CUDA versions mirror them. They validate shapes and return 0,
 *     or a non-zero code with attn_last_error() describing the problem.
 *  2. _mlir_ciface_attn_rt_<op>_f32(...) adapters that JIT-compiled code
 *     calls with MLIR unranked memrefs (memref<*xf32>, passed as pointers to
 *     {rank, descriptor}). On error they record it (attn_rt_take_error) and
 *     leave the output zeroed; the host checks after the call.
 *
 * Needs no MLIR/LLVM headers: it builds on the GPU machine.
 *===----------------------------------------------------------------------===*/
#ifndef ATTENUATE_RUNTIME_ATTN_RUNTIME_H
#define ATTENUATE_RUNTIME_ATTN_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTN_MAX_RANK 8

/* A strided view: element (i0, i1, ...) is at data[Σ i_k · strides[k]]
 * (strides in elements, as in MLIR memrefs). */
typedef struct {
  float *data;
  int32_t rank;
  int64_t sizes[ATTN_MAX_RANK];
  int64_t strides[ATTN_MAX_RANK];
} attn_view_f32;

/* MLIR's unranked memref as passed by the C interface. The descriptor is
 * {T *allocated; T *aligned; int64_t offset; int64_t sizes[rank];
 *  int64_t strides[rank];}. */
typedef struct {
  int64_t rank;
  void *descriptor;
} attn_unranked_memref;

enum {
  ATTN_OK = 0,
  ATTN_ERR_NULL = 1,  /* a required pointer is null */
  ATTN_ERR_SHAPE = 2, /* shapes/ranks disagree */
  ATTN_ERR_UNSUPPORTED = 3
};

/* Message of the last error on this thread ("" if none). */
const char *attn_last_error(void);
/* Threads used by the kernels (default: hardware concurrency). */
void attn_set_num_threads(int n);

/* y[..., o] = Σ_i x[..., i] w[o, i] (+ b[o]); w is [out, in]. b may be NULL. */
int attn_linear_f32(const attn_view_f32 *x, const attn_view_f32 *w,
                    const attn_view_f32 *b, const attn_view_f32 *y);

/* y = (silu(x gateᵀ) ⊙ (x upᵀ)) downᵀ; gate/up [i, d], down [d, i]. */
int attn_mlp_f32(const attn_view_f32 *x, const attn_view_f32 *gate,
                 const attn_view_f32 *up, const attn_view_f32 *down,
                 const attn_view_f32 *y);

/* q [B,Sq,Hq,Dqk], k [B,Skv,Hkv,Dqk], v [B,Skv,Hkv,Dv] -> o [B,Sq,Hq,Dv].
 * GQA: query head h reads kv head h / (Hq/Hkv). Causal is bottom-right
 * aligned (query i sees keys j <= i + Skv - Sq); rows that see no key are 0. */
int attn_attention_f32(const attn_view_f32 *q, const attn_view_f32 *k,
                       const attn_view_f32 *v, double scale, int causal,
                       const attn_view_f32 *o);

/* An int32 strided view, laid out like attn_view_f32 (PAMM assignments). */
typedef struct {
  int32_t *data;
  int32_t rank;
  int64_t sizes[ATTN_MAX_RANK];
  int64_t strides[ATTN_MAX_RANK];
} attn_view_i32;

/* Training: gradients of y = x wᵀ. dw [out, in] = Σ_t dy[t, :]ᵀ x[t, :] over
 * every token t (the shared leading dims of dy [..., out] and x [..., in]). */
int attn_linear_grad_weight_f32(const attn_view_f32 *dy,
                                const attn_view_f32 *x,
                                const attn_view_f32 *dw);
/* dx [..., in] = dy [..., out] · w [out, in]. */
int attn_linear_grad_input_f32(const attn_view_f32 *dy,
                               const attn_view_f32 *w,
                               const attn_view_f32 *dx);

/* PAMM (arXiv 2506.02939), as attn.pamm_compress / attn.pamm_grad_weight
 * define it. Generators for b tokens at `ratio` in (0, 1]:
 * k = clamp(ceil(ratio · b), 1, b), 0 when b = 0; -1 for a bad argument. */
int64_t attn_pamm_num_generators(int64_t tokens, double ratio);
/* x [..., n] (b tokens) -> c [k, n] generators (tokens sampled without
 * replacement by a partial Fisher-Yates shuffle seeded by `seed`),
 * f [...] the generator of each token (argmax |cos|; a generator is its own),
 * alpha [...] the scale putting alpha·c[f] closest to the token. Tokens with
 * ‖x − alpha·c[f]‖² > epsilon·‖x‖² are dropped (alpha 0) and the kept scales
 * multiplied by b / (b − dropped); epsilon >= 1 drops nothing.
 * Multithreaded (attn_set_num_threads). */
int attn_pamm_compress_f32(const attn_view_f32 *x, double ratio, uint64_t seed,
                           double epsilon, const attn_view_f32 *c,
                           const attn_view_i32 *f, const attn_view_f32 *alpha);
/* dw [out, in] = B̃ᵀ c with B̃ [k, out], B̃[j] = Σ_{t: f[t] = j} alpha[t] dz[t]
 * (the segment sum), for dz [..., out], c [k, in], f and alpha [...] (the
 * leading dims of dz). An assignment outside [0, k) is an error. */
int attn_pamm_grad_weight_f32(const attn_view_f32 *dz, const attn_view_f32 *c,
                              const attn_view_i32 *f,
                              const attn_view_f32 *alpha,
                              const attn_view_f32 *dw);

/* Converts an MLIR unranked memref to a view (no copy). */
int attn_view_from_memref(const attn_unranked_memref *m, attn_view_f32 *out);

/* Adapters for JIT-compiled code (see the header comment). */
void _mlir_ciface_attn_rt_linear_f32(attn_unranked_memref *x,
                                     attn_unranked_memref *w,
                                     attn_unranked_memref *y);
void _mlir_ciface_attn_rt_linear_bias_f32(attn_unranked_memref *x,
                                          attn_unranked_memref *w,
                                          attn_unranked_memref *b,
                                          attn_unranked_memref *y);
void _mlir_ciface_attn_rt_mlp_f32(attn_unranked_memref *x,
                                  attn_unranked_memref *gate,
                                  attn_unranked_memref *up,
                                  attn_unranked_memref *down,
                                  attn_unranked_memref *y);
void _mlir_ciface_attn_rt_attention_f32(attn_unranked_memref *q,
                                        attn_unranked_memref *k,
                                        attn_unranked_memref *v, double scale,
                                        int64_t causal,
                                        attn_unranked_memref *o);

void _mlir_ciface_attn_rt_linear_grad_weight_f32(attn_unranked_memref *dy,
                                                 attn_unranked_memref *x,
                                                 attn_unranked_memref *dw);
void _mlir_ciface_attn_rt_linear_grad_input_f32(attn_unranked_memref *dy,
                                                attn_unranked_memref *w,
                                                attn_unranked_memref *dx);
/* f is a memref<*xi32>; the others memref<*xf32>. */
void _mlir_ciface_attn_rt_pamm_compress_f32(attn_unranked_memref *x,
                                            double ratio, int64_t seed,
                                            double epsilon,
                                            attn_unranked_memref *c,
                                            attn_unranked_memref *f,
                                            attn_unranked_memref *alpha);
void _mlir_ciface_attn_rt_pamm_grad_weight_f32(attn_unranked_memref *dz,
                                               attn_unranked_memref *c,
                                               attn_unranked_memref *f,
                                               attn_unranked_memref *alpha,
                                               attn_unranked_memref *dw);

/* Called by compiled code on a failed runtime check (1: cache write past
 * capacity, 2: negative cache position); recorded like adapter errors. */
void attn_rt_report_error(int64_t code);

/* The first error an adapter recorded since the last call (NULL if none);
 * clears it. Errors are process-wide: JIT code may run on any thread. */
const char *attn_rt_take_error(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTENUATE_RUNTIME_ATTN_RUNTIME_H */

/*===- attn_runtime_cuda.h - the C ABI of the CUDA kernels ----------------===
 *
 * The GPU half of the runtime (libattn_runtime_cuda.so, built with
 * -DATTN_ENABLE_CUDA=ON). It mirrors attn_runtime.h's kernels on device
 * memory, for bf16 and fp16 inputs with fp32 accumulation, and adds the
 * kernels a decode step needs (split-K decode attention, RoPE fused with the
 * cache append, SiLU·mul). GEMMs go through cuBLASLt.
 *
 * Conventions
 *  - Every pointer inside an attn_cuda_tensor is a device pointer; every
 *    other pointer argument is a host pointer unless it says otherwise.
 *  - Tensors are strided views like attn_view_f32 (strides in elements),
 *    with a dtype. The innermost dimension must be contiguous (stride 1):
 *    the kernels move whole rows. The attention kernels load rows 16 bytes at
 *    a time, so for them the base pointer must be 16-byte aligned and every
 *    other stride a multiple of 8 elements; a view that breaks this is
 *    refused (ATTN_ERR_UNSUPPORTED), never read misaligned.
 *  - Entries validate their arguments before touching the device, in the
 *    order: tensors (null, rank, dtype, shapes, strides), then the context.
 *    They return ATTN_OK or an error code, with attn_cuda_last_error()
 *    describing it. Work is enqueued on `stream` (a cudaStream_t; NULL is the
 *    legacy default stream) and runs asynchronously: a launch failure is
 *    reported by the call (ATTN_ERR_CUDA), a fault while the kernel runs by
 *    the next synchronising CUDA call, as for any CUDA library.
 *  - A context is not thread-safe and owns scratch memory used in stream
 *    order: use one context per thread, or per stream.
 *
 * Needs no CUDA headers: it builds into hosts that only dlopen the library.
 *===----------------------------------------------------------------------===*/
#ifndef ATTENUATE_RUNTIME_ATTN_RUNTIME_CUDA_H
#define ATTENUATE_RUNTIME_ATTN_RUNTIME_CUDA_H

#include "attenuate/Runtime/attn_runtime.h" /* ATTN_MAX_RANK, error codes */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A CUDA runtime, driver or cuBLAS call failed (the message names it). */
#define ATTN_ERR_CUDA 4

typedef enum {
  ATTN_DTYPE_F32 = 0,
  ATTN_DTYPE_F16 = 1,
  ATTN_DTYPE_BF16 = 2
} attn_dtype;

/* A strided view of device memory: element (i0, i1, ...) is at
 * data + Σ i_k · strides[k] elements of `dtype`. */
typedef struct {
  void *data;
  int32_t dtype; /* attn_dtype */
  int32_t rank;
  int64_t sizes[ATTN_MAX_RANK];
  int64_t strides[ATTN_MAX_RANK];
} attn_cuda_tensor;

/* RoPE parameters, the attributes of attn.rope. Pair j rotates by
 * position · ω_j with ω_j = theta^(-2 f_j / base_dim), f_j = frequencies[j]
 * if `frequencies` is non-NULL (host array of rotary_dim / 2 entries) and j
 * otherwise. Pairs are (j, j + rotary_dim/2) (rotate_half, Hugging Face
 * Llama) or (2j, 2j + 1) (interleaved); channels past rotary_dim are copied. */
typedef struct {
  double theta;
  int64_t rotary_dim;     /* even, 2 ≤ rotary_dim ≤ head dim, ≤ 512 */
  int64_t base_dim;       /* 0: rotary_dim */
  int32_t interleaved;    /* 0: rotate_half, 1: interleaved */
  const int64_t *frequencies;
} attn_rope_config;

typedef struct attn_cuda_context attn_cuda_context;

/* Message of the last error of an attn_cuda_* call on this thread ("" if
 * none). Separate from attn_last_error(): this library does not need the
 * CPU runtime. */
const char *attn_cuda_last_error(void);

/* 1 when a CUDA device this build can run on is present. 0 otherwise, with
 * attn_cuda_last_error() saying why (the driver's message when there is no
 * driver or device, or the compute capability when the device is older than
 * the sm_90 code this library carries). */
int attn_cuda_available(void);

/* A context for `device`: its cuBLASLt handle and workspace, its SM count,
 * scratch memory for decode and the MLP. */
int attn_cuda_context_create(int device, attn_cuda_context **out);
void attn_cuda_context_destroy(attn_cuda_context *ctx);

/*--- Attention -------------------------------------------------------------
 * q [B,Sq,Hq,Dqk], k [B,Skv,Hkv,Dqk], v [B,Skv,Hkv,Dv] -> o [B,Sq,Hq,Dv],
 * all bf16 or all fp16; softmax(scale · q·kᵀ)·v accumulated in fp32, with
 * the semantics of attn_attention_f32: GQA/MQA by head counts (Hq % Hkv == 0,
 * query head h reads kv head h / (Hq/Hkv)), causal bottom-right aligned
 * (query i sees keys j ≤ i + Skv − Sq), rows that see no key are 0.
 * Head dims: Dqk and Dv multiples of 8 up to 256; or, for MLA's absorbed
 * form, Dqk ≤ 576 and Dv ≤ 512 with v a prefix of k (same data pointer and
 * strides, Dv ≤ Dqk), which is then read once. */

/* Flash attention (online softmax, no materialised scores), one pass over
 * the keys per block of query rows: prefill. */
int attn_cuda_attention(attn_cuda_context *ctx, const attn_cuda_tensor *q,
                        const attn_cuda_tensor *k, const attn_cuda_tensor *v,
                        double scale, int causal, const attn_cuda_tensor *o,
                        void *stream);

/* Split-K decode attention: the rows of one kv head (its Hq/Hkv query heads
 * times Sq) share each key tile, and the keys are split across
 * `num_splits` blocks (0: chosen from the SM count and the cache length)
 * whose partial results a second kernel combines. Any Sq works; it pays
 * off for small Sq over long caches. Needs `workspace_bytes` ≥
 * attn_cuda_decode_workspace_size(...) of device memory at `workspace`, or
 * workspace = NULL to use the context's scratch. */
int attn_cuda_decode_workspace_size(attn_cuda_context *ctx,
                                    const attn_cuda_tensor *q,
                                    const attn_cuda_tensor *k,
                                    const attn_cuda_tensor *v, int num_splits,
                                    size_t *bytes);
int attn_cuda_decode_attention(attn_cuda_context *ctx,
                               const attn_cuda_tensor *q,
                               const attn_cuda_tensor *k,
                               const attn_cuda_tensor *v, double scale,
                               int causal, const attn_cuda_tensor *o,
                               int num_splits, void *workspace,
                               size_t workspace_bytes, void *stream);

/*--- Elementwise -----------------------------------------------------------*/

/* y [B,S,H,D] = rope(x [B,S,H,D]) at positions[b·S + s] (a contiguous
 * device int64 array of B·S entries) or, when positions is NULL, at
 * position_offset + s. x and y bf16 or fp16 (the same). */
int attn_cuda_rope(attn_cuda_context *ctx, const attn_cuda_tensor *x,
                   const int64_t *positions, int64_t position_offset,
                   const attn_rope_config *rope, const attn_cuda_tensor *y,
                   void *stream);

/* cache[b, cache_pos + s, h, :] = rope(x[b, s, h, :]) for the S new tokens
 * of x [B,S,H,D] into cache [B,C,H,D]: the rotated keys go straight into the
 * cache. Refused (cache unchanged) unless 0 ≤ cache_pos and
 * cache_pos + S ≤ C. Positions as for attn_cuda_rope. */
int attn_cuda_rope_cache_append(attn_cuda_context *ctx,
                                const attn_cuda_tensor *x,
                                const int64_t *positions,
                                int64_t position_offset,
                                const attn_rope_config *rope,
                                const attn_cuda_tensor *cache,
                                int64_t cache_pos, void *stream);

/* cache[b, cache_pos + s, ...] = x[b, s, ...] (values, MLA latents); same
 * bounds rule. x and cache of rank ≥ 2 with equal trailing sizes. */
int attn_cuda_cache_append(attn_cuda_context *ctx, const attn_cuda_tensor *x,
                           const attn_cuda_tensor *cache, int64_t cache_pos,
                           void *stream);

/* y = x / sqrt(mean(x², last dim) + eps) · w over the last dim; x, y
 * [..., D], w [D]; all bf16 or all fp16, fp32 statistics. */
int attn_cuda_rms_norm(attn_cuda_context *ctx, const attn_cuda_tensor *x,
                       const attn_cuda_tensor *w, double eps,
                       const attn_cuda_tensor *y, void *stream);

/* y = silu(gate) ⊙ up, elementwise over [..., I]; views may be column
 * slices of one fused [rows, 2I] projection. */
int attn_cuda_silu_mul(attn_cuda_context *ctx, const attn_cuda_tensor *gate,
                       const attn_cuda_tensor *up, const attn_cuda_tensor *y,
                       void *stream);

/*--- GEMMs (cuBLASLt, fp32 accumulation) -----------------------------------*/

/* y [..., out] = x [..., in] · wᵀ (+ b); w [out, in], b [out] or NULL. The
 * leading dims of x and y must flatten to rows of one stride. */
int attn_cuda_linear(attn_cuda_context *ctx, const attn_cuda_tensor *x,
                     const attn_cuda_tensor *w, const attn_cuda_tensor *b,
                     const attn_cuda_tensor *y, void *stream);

/* y = (silu(x gateᵀ) ⊙ (x upᵀ)) downᵀ: three GEMMs and attn_cuda_silu_mul,
 * intermediates in the context's scratch. */
int attn_cuda_mlp(attn_cuda_context *ctx, const attn_cuda_tensor *x,
                  const attn_cuda_tensor *gate, const attn_cuda_tensor *up,
                  const attn_cuda_tensor *down, const attn_cuda_tensor *y,
                  void *stream);

#ifdef __cplusplus
}
#endif

#endif /* ATTENUATE_RUNTIME_ATTN_RUNTIME_CUDA_H */

//===- Gemm.cpp - attn_cuda_linear and attn_cuda_mlp over cuBLASLt --------===//
//
// y[rows, out] = x[rows, in] · Wᵀ (+ b) in cuBLAS's column-major terms:
// Yᵀ (out × rows, ld = y's row stride) = op(A) · B with A = W read as the
// column-major in × out matrix (lda = W's row stride) transposed, and B = Xᵀ,
// the column-major in × rows matrix (ldb = x's row stride). No copies, fp32
// accumulation (CUBLAS_COMPUTE_32F), the bias fused as cuBLASLt's epilogue.
// The heuristic's choice is cached per shape in the context.
//
//===----------------------------------------------------------------------===//

#include "Context.h"

namespace attenuate::cuda::host {

namespace {

cudaDataType_t cudaType(int32_t dtype) {
  return dtype == ATTN_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
}

struct GemmArgs {
  int32_t dtype;
  int64_t rows, in, out;
  const void *x;
  int64_t ldx;
  const void *w;
  int64_t ldw;
  const void *bias; // may be null
  void *y;
  int64_t ldy;
};

int planFor(const char *op, attn_cuda_context *ctx, const GemmArgs &g,
            GemmPlan *&out) {
  const GemmKey key{g.dtype, g.out, g.rows, g.in, g.ldw, g.ldx, g.ldy,
                    g.bias != nullptr};
  auto it = ctx->gemmPlans.find(key);
  if (it != ctx->gemmPlans.end()) {
    out = it->second.get();
    return ATTN_OK;
  }
  auto plan = std::make_unique<GemmPlan>();
  const cudaDataType_t t = cudaType(g.dtype);
  if (cublasStatus_t s =
          cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F))
    return cublasFail(op, "cublasLtMatmulDescCreate", s);
  const cublasOperation_t transA = CUBLAS_OP_T, transB = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA,
                                 &transA, sizeof(transA));
  cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB,
                                 &transB, sizeof(transB));
  if (g.bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                   &epilogue, sizeof(epilogue));
    // Set again before every call; the heuristic wants one to judge
    // alignment.
    cublasLtMatmulDescSetAttribute(plan->op,
                                   CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                   sizeof(g.bias));
  }
  if (cublasStatus_t s = cublasLtMatrixLayoutCreate(
          &plan->a, t, static_cast<uint64_t>(g.in),
          static_cast<uint64_t>(g.out), g.ldw))
    return cublasFail(op, "cublasLtMatrixLayoutCreate (w)", s);
  if (cublasStatus_t s = cublasLtMatrixLayoutCreate(
          &plan->b, t, static_cast<uint64_t>(g.in),
          static_cast<uint64_t>(g.rows), g.ldx))
    return cublasFail(op, "cublasLtMatrixLayoutCreate (x)", s);
  if (cublasStatus_t s = cublasLtMatrixLayoutCreate(
          &plan->c, t, static_cast<uint64_t>(g.out),
          static_cast<uint64_t>(g.rows), g.ldy))
    return cublasFail(op, "cublasLtMatrixLayoutCreate (y)", s);
  cublasLtMatmulPreference_t pref = nullptr;
  if (cublasStatus_t s = cublasLtMatmulPreferenceCreate(&pref))
    return cublasFail(op, "cublasLtMatmulPreferenceCreate", s);
  const uint64_t workspace = ctx->ltWorkspaceBytes;
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
      sizeof(workspace));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(
      ctx->lt, plan->op, plan->a, plan->b, plan->c, plan->c, pref, 1, &result,
      &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS || found == 0)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": cuBLASLt has no algorithm for " +
                    std::to_string(g.rows) + "x" + std::to_string(g.in) +
                    " · (" + std::to_string(g.out) + "x" +
                    std::to_string(g.in) + ")ᵀ with row strides x " +
                    std::to_string(g.ldx) + ", w " + std::to_string(g.ldw) +
                    ", y " + std::to_string(g.ldy) + " (status " +
                    std::to_string(static_cast<int>(s)) + ")");
  plan->algo = result.algo;
  out = plan.get();
  ctx->gemmPlans.emplace(key, std::move(plan));
  return ATTN_OK;
}

int gemm(const char *op, attn_cuda_context *ctx, const GemmArgs &g,
         cudaStream_t stream) {
  if (g.rows == 0 || g.out == 0)
    return ATTN_OK;
  GemmPlan *plan = nullptr;
  if (int rc = planFor(op, ctx, g, plan))
    return rc;
  if (g.bias)
    cublasLtMatmulDescSetAttribute(plan->op,
                                   CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                   sizeof(g.bias));
  const float alpha = 1.f, beta = 0.f;
  if (cublasStatus_t s = cublasLtMatmul(
          ctx->lt, plan->op, &alpha, g.w, plan->a, g.x, plan->b, &beta, g.y,
          plan->c, g.y, plan->c, &plan->algo, ctx->ltWorkspace,
          ctx->ltWorkspaceBytes, stream))
    return cublasFail(op, "cublasLtMatmul", s);
  return ATTN_OK;
}

/// Fills the GEMM of x rows `xr` by w [out, in] into y rows `yr`, checking
/// that no stride makes rows overlap.
int makeArgs(const char *op, int32_t dtype, const Rows &xr, const void *x,
             const attn_cuda_tensor &w, const void *bias, const Rows &yr,
             void *y, const std::string &shapes, GemmArgs &g) {
  g.dtype = dtype;
  g.rows = xr.rows;
  g.in = xr.cols;
  g.out = yr.cols;
  g.ldx = xr.stride;
  g.ldy = yr.stride;
  g.ldw = w.sizes[0] > 1 ? w.strides[0] : g.in;
  if (g.in == 0 && g.rows > 0 && g.out > 0)
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": in = 0 (an empty contraction)" + shapes);
  if ((g.rows > 1 && (g.ldx < g.in || g.ldy < g.out)) ||
      (g.out > 1 && g.ldw < g.in))
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": rows overlap (a row stride is smaller "
                                  "than the row)" +
                    shapes);
  // cuBLASLt wants ld >= the stored matrix's rows even where unused.
  g.ldx = std::max(g.ldx, g.in);
  g.ldy = std::max(g.ldy, g.out);
  g.ldw = std::max(g.ldw, g.in);
  g.x = x;
  g.w = w.data;
  g.bias = bias;
  g.y = y;
  return ATTN_OK;
}

int flattenRows(const char *op, const char *name, const attn_cuda_tensor &t,
                Rows &out) {
  if (!asRows(t, out))
    return fail(ATTN_ERR_UNSUPPORTED,
                std::string(op) + ": the leading dims of " + name + " " +
                    describe(t) + " must flatten to rows of one stride");
  return ATTN_OK;
}

} // namespace

} // namespace attenuate::cuda::host

using namespace attenuate::cuda::host;

extern "C" int attn_cuda_linear(attn_cuda_context *ctx,
                                const attn_cuda_tensor *x,
                                const attn_cuda_tensor *w,
                                const attn_cuda_tensor *b,
                                const attn_cuda_tensor *y, void *stream) {
  const char *op = "attn_cuda_linear";
  return guarded(op, [&]() -> int {
    TensorRule any, matrix, vector;
    matrix.rank = 2;
    vector.rank = 1;
    if (int rc = checkTensor(op, "x", x, any))
      return rc;
    if (int rc = checkTensor(op, "w", w, matrix))
      return rc;
    if (b)
      if (int rc = checkTensor(op, "b", b, vector))
        return rc;
    if (int rc = checkTensor(op, "y", y, any))
      return rc;
    if (int rc = checkSameDtype(op, "w", *w, "x", *x))
      return rc;
    if (b)
      if (int rc = checkSameDtype(op, "b", *b, "x", *x))
        return rc;
    if (int rc = checkSameDtype(op, "y", *y, "x", *x))
      return rc;
    const std::string shapes =
        " (x " + describe(*x) + ", w " + describe(*w) +
        (b ? ", b " + describe(*b) : std::string()) + ", y " + describe(*y) +
        ")";
    bool same = x->rank == y->rank;
    for (int i = 0; same && i + 1 < x->rank; ++i)
      same = x->sizes[i] == y->sizes[i];
    if (!same || w->sizes[1] != x->sizes[x->rank - 1] ||
        w->sizes[0] != y->sizes[y->rank - 1] ||
        (b && b->sizes[0] != w->sizes[0]))
      return fail(ATTN_ERR_SHAPE, std::string(op) +
                                      ": expected x [..., in], w [out, in], "
                                      "b [out], y [..., out]" +
                                      shapes);
    Rows xr, yr;
    if (int rc = flattenRows(op, "x", *x, xr))
      return rc;
    if (int rc = flattenRows(op, "y", *y, yr))
      return rc;
    GemmArgs g{};
    if (int rc = makeArgs(op, x->dtype, xr, x->data, *w, b ? b->data : nullptr,
                          yr, y->data, shapes, g))
      return rc;
    std::unique_ptr<DeviceGuard> guard;
    if (int rc = enterContext(op, ctx, guard))
      return rc;
    return gemm(op, ctx, g, static_cast<cudaStream_t>(stream));
  });
}

extern "C" int attn_cuda_mlp(attn_cuda_context *ctx,
                             const attn_cuda_tensor *x,
                             const attn_cuda_tensor *gate,
                             const attn_cuda_tensor *up,
                             const attn_cuda_tensor *down,
                             const attn_cuda_tensor *y, void *stream) {
  const char *op = "attn_cuda_mlp";
  return guarded(op, [&]() -> int {
    TensorRule any, matrix;
    matrix.rank = 2;
    if (int rc = checkTensor(op, "x", x, any))
      return rc;
    if (int rc = checkTensor(op, "gate", gate, matrix))
      return rc;
    if (int rc = checkTensor(op, "up", up, matrix))
      return rc;
    if (int rc = checkTensor(op, "down", down, matrix))
      return rc;
    if (int rc = checkTensor(op, "y", y, any))
      return rc;
    for (auto [name, t] : {std::pair<const char *, const attn_cuda_tensor *>{
                               "gate", gate},
                           {"up", up},
                           {"down", down},
                           {"y", y}})
      if (int rc = checkSameDtype(op, name, *t, "x", *x))
        return rc;
    const std::string shapes = " (x " + describe(*x) + ", gate " +
                               describe(*gate) + ", up " + describe(*up) +
                               ", down " + describe(*down) + ", y " +
                               describe(*y) + ")";
    const int64_t inter = gate->sizes[0], dim = gate->sizes[1];
    bool same = x->rank == y->rank;
    for (int i = 0; same && i < x->rank; ++i)
      same = x->sizes[i] == y->sizes[i];
    if (!same || x->sizes[x->rank - 1] != dim || up->sizes[0] != inter ||
        up->sizes[1] != dim || down->sizes[0] != dim ||
        down->sizes[1] != inter)
      return fail(ATTN_ERR_SHAPE,
                  std::string(op) + ": expected x, y [..., d], gate and up "
                                    "[i, d], down [d, i]" +
                      shapes);
    Rows xr, yr;
    if (int rc = flattenRows(op, "x", *x, xr))
      return rc;
    if (int rc = flattenRows(op, "y", *y, yr))
      return rc;
    // The intermediates: contiguous [rows, i] each, in the context scratch.
    const Rows hidden{xr.rows, inter, inter};
    GemmArgs g{}, u{}, d{};
    if (int rc = makeArgs(op, x->dtype, xr, x->data, *gate, nullptr, hidden,
                          nullptr, shapes, g))
      return rc;
    if (int rc = makeArgs(op, x->dtype, xr, x->data, *up, nullptr, hidden,
                          nullptr, shapes, u))
      return rc;
    if (int rc = makeArgs(op, x->dtype, hidden, nullptr, *down, nullptr, yr,
                          y->data, shapes, d))
      return rc;
    std::unique_ptr<DeviceGuard> guard;
    if (int rc = enterContext(op, ctx, guard))
      return rc;
    if (xr.rows == 0 || dim == 0)
      return ATTN_OK;
    auto s = static_cast<cudaStream_t>(stream);
    const size_t half =
        (static_cast<size_t>(xr.rows * inter) * 2 + 255) / 256 * 256;
    void *buffer = nullptr;
    if (int rc = scratch(op, ctx, 2 * half, s, buffer))
      return rc;
    void *gOut = buffer;
    void *uOut = static_cast<char *>(buffer) + half;
    g.y = gOut;
    u.y = uOut;
    d.x = gOut;
    if (int rc = gemm(op, ctx, g, s))
      return rc;
    if (int rc = gemm(op, ctx, u, s))
      return rc;
    attenuate::cuda::SiluMulParams p{};
    p.gate = gOut;
    p.up = uOut;
    p.y = gOut;
    p.gateStride = p.upStride = p.yStride = inter;
    p.rows = xr.rows;
    p.cols = inter;
    if (cudaError_t e = launchSiluMul(x->dtype, p, s))
      return cudaFail(op, "launching silu_mul", e);
    return gemm(op, ctx, d, s);
  });
}

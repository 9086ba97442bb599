//===- CudaBackend.cpp - attn-plan steps on the CUDA kernels --------------===//
//
// Activations, caches and parameters live in device memory as bf16 (the
// CUDA kernels take bf16/fp16 with fp32 accumulation): f32 host data is
// rounded to nearest even on upload and widened back on download. Token ids
// and positions stay int64. GEMMs, MLP, attention (flash prefill, or split-K
// decode for short query blocks), RoPE, RMSNorm and cache appends are the
// entries of attn_runtime_cuda.h; embed, add and strided copies are
// CudaKernels.cu. Everything is queued on one stream; download synchronises.
//
//===----------------------------------------------------------------------===//

#include "CudaKernels.h"

#include "attenuate/Plan/Executor.h"
#include "attenuate/Runtime/attn_runtime_cuda.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>

namespace attenuate::plan {

using exec::HostTensor;
using params::DType;

namespace {

uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN stays a quiet NaN
    return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float fromBf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::string shapeStr(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool cudaOk(cudaError_t e, const char *what, std::string &error) {
  if (e == cudaSuccess)
    return true;
  error = std::string(what) + ": " + cudaGetErrorString(e);
  return false;
}

/// In argument-check mode (no device) an entry that got as far as the
/// context has accepted every argument.
bool attnOk(int rc, std::string &error, bool checkOnly = false) {
  if (rc == ATTN_OK)
    return true;
  error = attn_cuda_last_error();
  return checkOnly && rc == ATTN_ERR_NULL &&
         error.find("the context is null") != std::string::npos;
}

attn_cuda_tensor toCuda(const View &v) {
  attn_cuda_tensor t{};
  t.data = v.data;
  t.dtype = v.dtype == DType::F16 ? ATTN_DTYPE_F16 : ATTN_DTYPE_BF16;
  t.rank = static_cast<int32_t>(v.sizes.size());
  for (size_t i = 0; i < v.sizes.size() && i < ATTN_MAX_RANK; ++i) {
    t.sizes[i] = v.sizes[i];
    t.strides[i] = v.strides[i];
  }
  return t;
}

/// cudaMalloc, or 256-byte aligned host memory in argument-check mode.
bool allocate(bool host, size_t bytes, void *&out, std::string &error) {
  bytes = (bytes + 255) / 256 * 256 + 256; // never zero-sized
  if (host) {
    out = std::aligned_alloc(256, bytes);
    if (!out)
      error = "out of host memory";
    return out != nullptr;
  }
  return cudaOk(cudaMalloc(&out, bytes), "cudaMalloc", error);
}

void release(bool host, void *p) {
  if (!p)
    return;
  if (host)
    std::free(p);
  else
    cudaFree(p);
}

/// Device memory that grows on demand (contents not kept when it grows).
struct DeviceBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  bool reserve(bool host, size_t want, std::string &error) {
    if (want <= bytes && ptr)
      return true;
    release(host, ptr);
    ptr = nullptr;
    bytes = 0;
    if (!allocate(host, want, ptr, error))
      return false;
    bytes = want;
    return true;
  }
};

class CudaBackend final : public Backend {
public:
  explicit CudaBackend(bool checkOnly) : checkOnly_(checkOnly) {}
  ~CudaBackend() override {
    for (void *p : params_)
      release(checkOnly_, p);
    for (DeviceBuffer &b : inputs_)
      release(checkOnly_, b.ptr);
    for (DeviceBuffer &b : slots_)
      release(checkOnly_, b.ptr);
    if (stream_)
      cudaStreamDestroy(stream_);
    if (ctx_)
      attn_cuda_context_destroy(ctx_);
  }

  bool init(std::string &error) {
    if (checkOnly_)
      return true; // no context, no stream: entries stop at the context
    if (!attn_cuda_available()) {
      error = std::string("no usable CUDA device: ") + attn_cuda_last_error();
      return false;
    }
    if (!attnOk(attn_cuda_context_create(0, &ctx_), error))
      return false;
    return cudaOk(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                  "cudaStreamCreate", error);
  }

  const char *name() const override {
    return checkOnly_ ? "cuda (argument check, no device)" : "cuda";
  }
  DType activationType() const override { return DType::BF16; }

  bool uploadParam(const std::vector<float> &data, char *&out,
                   std::string &error) override {
    std::vector<uint16_t> h(data.size());
    for (size_t i = 0; i < data.size(); ++i)
      h[i] = toBf16(data[i]);
    void *p = nullptr;
    if (!allocate(checkOnly_, h.size() * 2, p, error))
      return false;
    params_.push_back(p);
    if (!copyIn(p, h.data(), h.size() * 2, error))
      return false;
    out = static_cast<char *>(p);
    return true;
  }

  bool uploadInput(size_t index, const HostTensor &t, char *&out,
                   std::string &error) override {
    if (inputs_.size() <= index)
      inputs_.resize(index + 1);
    DeviceBuffer &b = inputs_[index];
    const void *src = t.bytes.data();
    size_t bytes = t.bytes.size();
    std::vector<uint16_t> h;
    if (t.dtype == DType::F32) {
      h.resize(t.numElements());
      for (size_t i = 0; i < h.size(); ++i)
        h[i] = toBf16(t.data<float>()[i]);
      src = h.data();
      bytes = h.size() * 2;
    } else if (t.dtype != DType::I64) {
      error = "the CUDA backend takes F32 and I64 inputs, not " + t.describe();
      return false;
    }
    if (!b.reserve(checkOnly_, bytes, error))
      return false;
    if (!copyIn(b.ptr, src, bytes, error))
      return false;
    out = static_cast<char *>(b.ptr);
    return true;
  }

  bool reserveSlots(const std::vector<uint64_t> &bytes,
                    std::vector<char *> &slots, std::string &error) override {
    if (slots_.size() < bytes.size())
      slots_.resize(bytes.size());
    slots.clear();
    bool grows = false;
    for (size_t i = 0; i < bytes.size(); ++i)
      grows |= bytes[i] > slots_[i].bytes || !slots_[i].ptr;
    if (grows && !checkOnly_ && !cudaOk(cudaStreamSynchronize(stream_),
                         "cudaStreamSynchronize", error))
      return false;
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (!slots_[i].reserve(checkOnly_, bytes[i], error))
        return false;
      slots.push_back(static_cast<char *>(slots_[i].ptr));
    }
    return true;
  }

  bool download(const View &v, DType planType, HostTensor &out,
                std::string &error) override {
    if (!v.isContiguous()) {
      error = "the CUDA backend copies out contiguous results only, not " +
              shapeStr(v.sizes);
      return false;
    }
    out = HostTensor::zeros(planType, v.sizes);
    size_t n = out.numElements();
    if (!checkOnly_ &&
        !cudaOk(cudaStreamSynchronize(stream_), "running the plan", error))
      return false;
    if (v.dtype == DType::BF16 && planType == DType::F32) {
      std::vector<uint16_t> h(n);
      if (!copyOut(h.data(), v.data, n * 2, error))
        return false;
      for (size_t i = 0; i < n; ++i)
        out.data<float>()[i] = fromBf16(h[i]);
      return true;
    }
    return copyOut(out.bytes.data(), v.data, out.bytes.size(), error);
  }

  bool embed(const View &table, const View &tokens, const View &y,
             std::string &error) override {
    if (table.sizes.size() != 2 || tokens.dtype != DType::I64 ||
        !table.isContiguous() || !tokens.isContiguous() ||
        !y.isContiguous() || y.sizes.back() != table.sizes[1] ||
        y.numElements() != tokens.numElements() * table.sizes[1]) {
      error = "table " + shapeStr(table.sizes) + ", tokens " +
              shapeStr(tokens.sizes) + " (int64, contiguous) and result " +
              shapeStr(y.sizes) + " disagree";
      return false;
    }
    if (checkOnly_)
      return true;
    return cudaOk(cuda::launchEmbed(table.data,
                                    reinterpret_cast<const int64_t *>(
                                        tokens.data),
                                    y.data, tokens.numElements(),
                                    table.sizes[1], table.sizes[0], stream_),
                  "embedding kernel", error);
  }

  bool rmsNorm(const View &x, const View &w, double eps, const View &y,
               std::string &error) override {
    attn_cuda_tensor xt = toCuda(x), wt = toCuda(w), yt = toCuda(y);
    return check(attn_cuda_rms_norm(ctx_, &xt, &wt, eps, &yt, stream_),
                  error);
  }

  bool linear(const View &x, const View &w, const View *b, const View &y,
              std::string &error) override {
    attn_cuda_tensor xt = toCuda(x), wt = toCuda(w), yt = toCuda(y), bt;
    if (b)
      bt = toCuda(*b);
    return check(attn_cuda_linear(ctx_, &xt, &wt, b ? &bt : nullptr, &yt,
                                   stream_),
                  error);
  }

  bool mlp(const View &x, const View &gate, const View &up, const View &down,
           const View &y, std::string &error) override {
    attn_cuda_tensor xt = toCuda(x), gt = toCuda(gate), ut = toCuda(up),
                     dt = toCuda(down), yt = toCuda(y);
    return check(attn_cuda_mlp(ctx_, &xt, &gt, &ut, &dt, &yt, stream_),
                  error);
  }

  bool rope(const View &x, const View &positions, const Step &s,
            const View &y, std::string &error) override {
    if (positions.dtype != DType::I64 || !positions.isContiguous() ||
        positions.sizes.size() != 2 || x.sizes.size() != 4 ||
        positions.sizes[0] != x.sizes[0] || positions.sizes[1] != x.sizes[1]) {
      error = "positions " + shapeStr(positions.sizes) +
              " (int64, contiguous) do not match input " + shapeStr(x.sizes);
      return false;
    }
    attn_rope_config cfg{};
    cfg.theta = s.theta;
    cfg.rotary_dim = s.rotaryDim;
    cfg.base_dim = s.baseDim;
    cfg.interleaved = s.interleaved ? 1 : 0;
    cfg.frequencies = s.frequencies.empty() ? nullptr : s.frequencies.data();
    attn_cuda_tensor xt = toCuda(x), yt = toCuda(y);
    return check(attn_cuda_rope(ctx_, &xt,
                                 reinterpret_cast<const int64_t *>(
                                     positions.data),
                                 0, &cfg, &yt, stream_),
                  error);
  }

  bool attention(const View &q, const View &k, const View &v, double scale,
                 bool causal, const View &o, std::string &error) override {
    attn_cuda_tensor qt = toCuda(q), kt = toCuda(k), vt = toCuda(v),
                     ot = toCuda(o);
    // Short query blocks over a cache: split-K decode; otherwise flash.
    if (q.sizes.size() == 4 && q.sizes[1] <= 8)
      return check(attn_cuda_decode_attention(ctx_, &qt, &kt, &vt, scale,
                                               causal, &ot, 0, nullptr, 0,
                                               stream_),
                    error);
    return check(
        attn_cuda_attention(ctx_, &qt, &kt, &vt, scale, causal, &ot, stream_),
        error);
  }

  bool cacheUpdate(const View &cache, const View &update, int64_t pos,
                   std::string &error) override {
    attn_cuda_tensor ct = toCuda(cache), ut = toCuda(update);
    return check(attn_cuda_cache_append(ctx_, &ut, &ct, pos, stream_),
                  error);
  }

  bool copy(const View &x, const View &y, std::string &error) override {
    if (x.sizes != y.sizes || x.sizes.size() > 8 ||
        params::dtypeSize(x.dtype) != 2 || params::dtypeSize(y.dtype) != 2) {
      error = "copy of " + shapeStr(x.sizes) + " to " + shapeStr(y.sizes) +
              " (16-bit elements)";
      return false;
    }
    cuda::StridedCopy c;
    c.rank = static_cast<int>(x.sizes.size());
    for (int k = 0; k < c.rank; ++k) {
      c.sizes[k] = x.sizes[k];
      c.xStrides[k] = x.strides[k];
      c.yStrides[k] = y.strides[k];
    }
    if (checkOnly_)
      return true;
    return cudaOk(cuda::launchCopy16(x.data, y.data, c, stream_),
                  "copy kernel", error);
  }

  bool add(const View &a, const View &b, const View &y,
           std::string &error) override {
    if (a.sizes != b.sizes || a.sizes != y.sizes || !a.isContiguous() ||
        !b.isContiguous() || !y.isContiguous()) {
      error = "add of " + shapeStr(a.sizes) + " and " + shapeStr(b.sizes) +
              " into " + shapeStr(y.sizes) + " (contiguous, same shape)";
      return false;
    }
    if (checkOnly_)
      return true;
    return cudaOk(cuda::launchAdd(a.data, b.data, y.data, a.numElements(),
                                  stream_),
                  "add kernel", error);
  }

private:
  bool check(int rc, std::string &error) {
    return attnOk(rc, error, checkOnly_);
  }
  /// Device -> host after the queued work.
  bool copyOut(void *dst, const void *src, size_t bytes, std::string &error) {
    if (checkOnly_) {
      std::memset(dst, 0, bytes); // nothing was computed
      return true;
    }
    return cudaOk(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost,
                                  stream_),
                  "cudaMemcpyAsync", error) &&
           cudaOk(cudaStreamSynchronize(stream_), "cudaStreamSynchronize",
                  error);
  }
  /// Host -> device on the plan's stream, waited for: the host data may die
  /// right after, and a pageable cudaMemcpy may return before its DMA ends
  /// (which a kernel on a non-blocking stream would not wait for). Queued
  /// after the previous call's kernels, which may still read `dst`.
  bool copyIn(void *dst, const void *src, size_t bytes, std::string &error) {
    if (checkOnly_) {
      std::memcpy(dst, src, bytes);
      return true;
    }
    return cudaOk(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice,
                                  stream_),
                  "cudaMemcpyAsync", error) &&
           cudaOk(cudaStreamSynchronize(stream_), "cudaStreamSynchronize",
                  error);
  }

  bool checkOnly_;
  attn_cuda_context *ctx_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<void *> params_;
  std::vector<DeviceBuffer> inputs_;
  std::vector<DeviceBuffer> slots_;
};

} // namespace

bool cudaBackendBuilt() { return true; }

std::unique_ptr<Backend> createCudaCheckBackend(std::string &error) {
  auto be = std::make_unique<CudaBackend>(true);
  if (!be->init(error))
    return nullptr;
  return be;
}

std::unique_ptr<Backend> createCudaBackend(std::string &error) {
  auto be = std::make_unique<CudaBackend>(false);
  if (!be->init(error))
    return nullptr;
  return be;
}

} // namespace attenuate::plan

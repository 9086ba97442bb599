//===- CpuBackend.cpp - attn-plan steps on the CPU kernels ----------------===//
//
// linear, mlp and attention call libattn_runtime (OpenBLAS); embed, rms_norm,
// rope, cache updates, copies and adds are loops here, with the semantics of
// convert-attn-to-linalg (rope angles in f32 as Hugging Face computes them).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Plan/Executor.h"
#include "attenuate/Runtime/attn_runtime.h"

#include <cmath>
#include <cstring>
#include <new>

namespace attenuate::plan {

using exec::HostTensor;
using params::DType;

namespace {

std::string shapeStr(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

attn_view_f32 toRt(const View &v) {
  attn_view_f32 r{};
  r.data = reinterpret_cast<float *>(v.data);
  r.rank = static_cast<int32_t>(v.sizes.size());
  for (size_t i = 0; i < v.sizes.size() && i < ATTN_MAX_RANK; ++i) {
    r.sizes[i] = v.sizes[i];
    r.strides[i] = v.strides[i];
  }
  return r;
}

/// Element offset of row `r` of a view seen as rows of its last dim.
int64_t rowOffset(const View &v, int64_t r) {
  int64_t off = 0;
  for (size_t k = v.sizes.size() - 1; k-- > 0;) {
    int64_t sz = v.sizes[k];
    off += (r % sz) * v.strides[k];
    r /= sz;
  }
  return off;
}

int64_t numRows(const View &v) {
  int64_t n = 1;
  for (size_t k = 0; k + 1 < v.sizes.size(); ++k)
    n *= v.sizes[k];
  return n;
}

bool sameShape(const char *what, const View &a, const View &b,
               std::string &error) {
  if (a.sizes == b.sizes)
    return true;
  error = std::string(what) + ": " + shapeStr(a.sizes) + " vs " +
          shapeStr(b.sizes);
  return false;
}

bool rtCall(int rc, std::string &error) {
  if (rc == ATTN_OK)
    return true;
  error = attn_last_error();
  return false;
}

class CpuBackend final : public Backend {
public:
  const char *name() const override { return "cpu"; }
  DType activationType() const override { return DType::F32; }
  void setNumThreads(int n) override { attn_set_num_threads(n); }

  bool uploadParam(const std::vector<float> &data, char *&out,
                   std::string &) override {
    params_.emplace_back(data);
    out = reinterpret_cast<char *>(params_.back().data());
    return true;
  }
  bool uploadInput(size_t index, const HostTensor &t, char *&out,
                   std::string &) override {
    if (inputs_.size() <= index)
      inputs_.resize(index + 1);
    // 8-byte aligned storage for every dtype.
    std::vector<uint64_t> &buf = inputs_[index];
    buf.assign((t.bytes.size() + 7) / 8, 0);
    if (!t.bytes.empty())
      std::memcpy(buf.data(), t.bytes.data(), t.bytes.size());
    out = reinterpret_cast<char *>(buf.data());
    return true;
  }
  bool reserveSlots(const std::vector<uint64_t> &bytes,
                    std::vector<char *> &slots, std::string &error) override {
    if (slots_.size() < bytes.size())
      slots_.resize(bytes.size());
    slots.clear();
    for (size_t i = 0; i < bytes.size(); ++i) {
      size_t words = (bytes[i] + 7) / 8;
      if (slots_[i].size() < words) {
        try {
          slots_[i].assign(words, 0);
        } catch (const std::bad_alloc &) {
          error = "out of memory allocating " + std::to_string(bytes[i]) +
                  " bytes for buffer slot " + std::to_string(i);
          return false;
        }
      }
      slots.push_back(reinterpret_cast<char *>(slots_[i].data()));
    }
    return true;
  }
  bool download(const View &v, DType planType, HostTensor &out,
                std::string &) override {
    out = HostTensor::zeros(planType, v.sizes);
    size_t es = params::dtypeSize(v.dtype);
    if (v.isContiguous()) {
      if (!out.bytes.empty())
        std::memcpy(out.bytes.data(), v.data, out.bytes.size());
      return true;
    }
    int64_t rows = v.sizes.empty() ? 1 : numRows(v);
    int64_t cols = v.sizes.empty() ? 1 : v.sizes.back();
    int64_t cs = v.sizes.empty() ? 1 : v.strides.back();
    for (int64_t r = 0; r < rows; ++r) {
      int64_t ro = v.sizes.empty() ? 0 : rowOffset(v, r);
      for (int64_t c = 0; c < cols; ++c)
        std::memcpy(out.bytes.data() + (r * cols + c) * es,
                    v.data + (ro + c * cs) * es, es);
    }
    return true;
  }

  bool embed(const View &table, const View &tokens, const View &y,
             std::string &error) override {
    if (table.sizes.size() != 2 || y.sizes.size() != tokens.sizes.size() + 1 ||
        !std::equal(tokens.sizes.begin(), tokens.sizes.end(),
                    y.sizes.begin()) ||
        y.sizes.back() != table.sizes[1]) {
      error = "table " + shapeStr(table.sizes) + ", tokens " +
              shapeStr(tokens.sizes) + " and result " + shapeStr(y.sizes) +
              " disagree";
      return false;
    }
    int64_t vocab = table.sizes[0], d = table.sizes[1];
    int64_t n = numRows(y);
    // tokens seen as rows of one element: append a unit dim.
    View tv = tokens;
    tv.sizes.push_back(1);
    tv.strides.push_back(1);
    for (int64_t r = 0; r < n; ++r) {
      int64_t off = rowOffset(tv, r);
      int64_t id = tokens.dtype == DType::I64
                       ? reinterpret_cast<const int64_t *>(tokens.data)[off]
                       : reinterpret_cast<const int32_t *>(tokens.data)[off];
      // As the CPU lowering: ids are clamped into [0, vocab).
      id = std::min<int64_t>(std::max<int64_t>(id, 0), vocab - 1);
      const float *src = reinterpret_cast<const float *>(table.data) +
                         id * table.strides[0];
      float *dst = reinterpret_cast<float *>(y.data) + rowOffset(y, r);
      for (int64_t c = 0; c < d; ++c)
        dst[c * y.strides.back()] = src[c * table.strides[1]];
    }
    return true;
  }

  bool rmsNorm(const View &x, const View &w, double eps, const View &y,
               std::string &error) override {
    if (!sameShape("input and result", x, y, error))
      return false;
    if (x.sizes.empty() || w.sizes.size() != 1 ||
        w.sizes[0] != x.sizes.back()) {
      error = "weight " + shapeStr(w.sizes) + " does not match input " +
              shapeStr(x.sizes);
      return false;
    }
    int64_t d = x.sizes.back(), rows = numRows(x);
    const float *wp = reinterpret_cast<const float *>(w.data);
    for (int64_t r = 0; r < rows; ++r) {
      const float *xp = reinterpret_cast<const float *>(x.data) + rowOffset(x, r);
      float *yp = reinterpret_cast<float *>(y.data) + rowOffset(y, r);
      double ss = 0;
      for (int64_t c = 0; c < d; ++c) {
        double v = xp[c * x.strides.back()];
        ss += v * v;
      }
      float inv = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
      for (int64_t c = 0; c < d; ++c)
        yp[c * y.strides.back()] =
            xp[c * x.strides.back()] * inv * wp[c * w.strides[0]];
    }
    return true;
  }

  bool linear(const View &x, const View &w, const View *b, const View &y,
              std::string &error) override {
    attn_view_f32 xv = toRt(x), wv = toRt(w), yv = toRt(y), bv;
    if (b)
      bv = toRt(*b);
    return rtCall(attn_linear_f32(&xv, &wv, b ? &bv : nullptr, &yv), error);
  }
  bool mlp(const View &x, const View &gate, const View &up, const View &down,
           const View &y, std::string &error) override {
    attn_view_f32 xv = toRt(x), gv = toRt(gate), uv = toRt(up),
                  dv = toRt(down), yv = toRt(y);
    return rtCall(attn_mlp_f32(&xv, &gv, &uv, &dv, &yv), error);
  }
  bool attention(const View &q, const View &k, const View &v, double scale,
                 bool causal, const View &o, std::string &error) override {
    attn_view_f32 qv = toRt(q), kv = toRt(k), vv = toRt(v), ov = toRt(o);
    return rtCall(attn_attention_f32(&qv, &kv, &vv, scale, causal, &ov),
                  error);
  }

  bool rope(const View &x, const View &positions, const Step &s,
            const View &y, std::string &error) override {
    if (!sameShape("input and result", x, y, error))
      return false;
    if (x.sizes.size() != 4 || positions.sizes.size() != 2 ||
        positions.sizes[0] != x.sizes[0] || positions.sizes[1] != x.sizes[1]) {
      error = "input " + shapeStr(x.sizes) + " and positions " +
              shapeStr(positions.sizes) +
              " disagree (want [B, S, H, D] and [B, S])";
      return false;
    }
    int64_t D = x.sizes[3], rot = s.rotaryDim, half = rot / 2;
    if (rot > D) {
      error = "rotary_dim " + std::to_string(rot) + " exceeds head dim " +
              std::to_string(D);
      return false;
    }
    // ω_j in f32, as convert-attn-to-linalg and Hugging Face compute it.
    std::vector<float> omega(half);
    float theta = static_cast<float>(s.theta),
          base = static_cast<float>(s.baseDim);
    for (int64_t j = 0; j < half; ++j) {
      int64_t f = s.frequencies.empty() ? j : s.frequencies[j];
      omega[j] = 1.0f / std::pow(theta, static_cast<float>(2 * f) / base);
    }
    std::vector<float> cs(half), sn(half);
    const float *xp = reinterpret_cast<const float *>(x.data);
    float *yp = reinterpret_cast<float *>(y.data);
    for (int64_t b = 0; b < x.sizes[0]; ++b)
      for (int64_t t = 0; t < x.sizes[1]; ++t) {
        const char *pp = positions.data + (b * positions.strides[0] +
                                           t * positions.strides[1]) *
                                              params::dtypeSize(positions.dtype);
        int64_t pos = positions.dtype == DType::I64
                          ? *reinterpret_cast<const int64_t *>(pp)
                          : *reinterpret_cast<const int32_t *>(pp);
        float pf = static_cast<float>(pos);
        for (int64_t j = 0; j < half; ++j) {
          float angle = pf * omega[j];
          cs[j] = std::cos(angle);
          sn[j] = std::sin(angle);
        }
        for (int64_t h = 0; h < x.sizes[2]; ++h) {
          const float *xr = xp + b * x.strides[0] + t * x.strides[1] +
                            h * x.strides[2];
          float *yr = yp + b * y.strides[0] + t * y.strides[1] +
                      h * y.strides[2];
          int64_t xs = x.strides[3], ys = y.strides[3];
          for (int64_t j = 0; j < half; ++j) {
            int64_t c0 = s.interleaved ? 2 * j : j;
            int64_t c1 = s.interleaved ? 2 * j + 1 : j + half;
            float a = xr[c0 * xs], bb = xr[c1 * xs];
            yr[c0 * ys] = a * cs[j] - bb * sn[j];
            yr[c1 * ys] = bb * cs[j] + a * sn[j];
          }
          for (int64_t c = rot; c < D; ++c)
            yr[c * ys] = xr[c * xs];
        }
      }
    return true;
  }

  bool cacheUpdate(const View &cache, const View &update, int64_t pos,
                   std::string &error) override {
    if (cache.sizes.size() < 2 || update.sizes.size() != cache.sizes.size() ||
        update.sizes[0] != cache.sizes[0] ||
        !std::equal(update.sizes.begin() + 2, update.sizes.end(),
                    cache.sizes.begin() + 2)) {
      error = "update " + shapeStr(update.sizes) + " does not fit cache " +
              shapeStr(cache.sizes);
      return false;
    }
    int64_t n = update.sizes[1];
    if (pos < 0 || pos + n > cache.sizes[1]) {
      error = "cache write of " + std::to_string(n) + " tokens at position " +
              std::to_string(pos) + " exceeds the capacity " +
              std::to_string(cache.sizes[1]);
      return false;
    }
    View dst = cache;
    dst.sizes[1] = n;
    dst.data += pos * cache.strides[1] * params::dtypeSize(cache.dtype);
    return copy(update, dst, error);
  }

  bool copy(const View &x, const View &y, std::string &error) override {
    if (!sameShape("source and destination", x, y, error))
      return false;
    if (x.sizes.empty()) {
      std::memcpy(y.data, x.data, params::dtypeSize(x.dtype));
      return true;
    }
    int64_t rows = numRows(x), cols = x.sizes.back();
    size_t es = params::dtypeSize(x.dtype);
    for (int64_t r = 0; r < rows; ++r) {
      const char *xp = x.data + rowOffset(x, r) * es;
      char *yp = y.data + rowOffset(y, r) * es;
      if (x.strides.back() == 1 && y.strides.back() == 1) {
        std::memmove(yp, xp, cols * es);
        continue;
      }
      for (int64_t c = 0; c < cols; ++c)
        std::memmove(yp + c * y.strides.back() * es,
                     xp + c * x.strides.back() * es, es);
    }
    return true;
  }

  bool add(const View &a, const View &b, const View &y,
           std::string &error) override {
    if (!sameShape("operands", a, b, error) ||
        !sameShape("operands and result", a, y, error))
      return false;
    if (a.sizes.empty()) {
      *reinterpret_cast<float *>(y.data) = *reinterpret_cast<float *>(a.data) +
                                           *reinterpret_cast<float *>(b.data);
      return true;
    }
    int64_t rows = numRows(a), cols = a.sizes.back();
    for (int64_t r = 0; r < rows; ++r) {
      const float *ap = reinterpret_cast<const float *>(a.data) + rowOffset(a, r);
      const float *bp = reinterpret_cast<const float *>(b.data) + rowOffset(b, r);
      float *yp = reinterpret_cast<float *>(y.data) + rowOffset(y, r);
      for (int64_t c = 0; c < cols; ++c)
        yp[c * y.strides.back()] =
            ap[c * a.strides.back()] + bp[c * b.strides.back()];
    }
    return true;
  }

private:
  std::vector<std::vector<float>> params_;
  std::vector<std::vector<uint64_t>> inputs_;
  std::vector<std::vector<uint64_t>> slots_;
};

} // namespace

std::unique_ptr<Backend> createCpuBackend(std::string &) {
  return std::make_unique<CpuBackend>();
}

} // namespace attenuate::plan

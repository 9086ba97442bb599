//===- StatsAccumulator.cpp - calibration statistics in fp64 --------------===//

#include "attenuate/Calibration/StatsAccumulator.h"
#include "attenuate/Params/Safetensors.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>

using namespace attenuate;
using namespace attenuate::calibration;
using exec::HostTensor;
using numerics::GramAccumulator;
using numerics::Matrix;

struct StatsAccumulator::Layer {
  std::map<std::string, std::unique_ptr<GramAccumulator>> grams;
  std::vector<std::unique_ptr<GramAccumulator>> rp; // per query head
  std::vector<float> kSamples, vSamples;
  int64_t kvHeads = 0, headDim = 0, vHeadDim = 0, sampled = 0;
};

StatsAccumulator::StatsAccumulator(std::map<int64_t, LayerAttention> attention,
                                   AccumulatorOptions options)
    : attention_(std::move(attention)), options_(options) {}
StatsAccumulator::~StatsAccumulator() = default;

namespace {
/// Rows of a [B, S, ..., d] tensor viewed as (B·S·...) x d.
int64_t rowsOf(const HostTensor &t) {
  return t.shape.empty() ? 0
                         : static_cast<int64_t>(t.numElements()) /
                               std::max<int64_t>(t.shape.back(), 1);
}
const char *kGramTaps[][2] = {{"x_q", "R_q"},
                              {"x_kv", "R_kv"},
                              {"x_o", "R_o"},
                              {"x_mlp", "R_mlp"},
                              {"h_mlp", "R_d"}};
} // namespace

bool StatsAccumulator::add(
    const std::map<std::string, const HostTensor *> &taps, std::string &error) {
  // Group by layer.
  std::map<int64_t, std::map<std::string, const HostTensor *>> byLayer;
  for (const auto &[name, t] : taps) {
    if (name.rfind("layers.", 0) != 0)
      continue;
    size_t dot = name.find('.', 7);
    if (dot == std::string::npos)
      continue;
    int64_t layer = std::stoll(name.substr(7, dot - 7));
    if (t->dtype != params::DType::F32) {
      error = "tap " + name + " is " + t->describe() + ", expected f32";
      return false;
    }
    byLayer[layer][name.substr(dot + 1)] = t;
  }
  int64_t batch = -1, seq = -1;
  // probs[layer] = per (b, head) row-major S x S probabilities, for the
  // cross-layer similarity of this call.
  std::map<int64_t, std::vector<std::vector<float>>> probs;
  for (auto &[layer, t] : byLayer) {
    auto &L = layers_[layer];
    if (!L)
      L = std::make_unique<Layer>();
    for (auto &[tap, key] : kGramTaps) {
      auto it = t.find(tap);
      if (it == t.end())
        continue;
      const HostTensor &x = *it->second;
      int64_t d = x.shape.back();
      auto &g = L->grams[key];
      if (!g)
        g = std::make_unique<GramAccumulator>(d);
      if (g->dim() != d) {
        error = "tap layers." + std::to_string(layer) + "." + tap +
                " changed width";
        return false;
      }
      if (!g->add(x.data<float>(), rowsOf(x), d, error)) {
        error = "layers." + std::to_string(layer) + "." + tap + ": " + error;
        return false;
      }
    }
    auto q = t.find("q"), k = t.find("k");
    if (q != t.end() && k != t.end()) {
      batch = q->second->shape[0];
      seq = q->second->shape[1];
      const HostTensor *xkv = t.count("x_kv")  ? t.at("x_kv")
                              : t.count("x_q") ? t.at("x_q")
                                               : nullptr;
      if (!addAttention(layer, *q->second, *k->second, xkv, probs[layer],
                        error))
        return false;
    }
    // KV samples: the first tokens seen (pre-RoPE keys, values).
    auto kp = t.find("k_pre"), v = t.find("v");
    if (options_.kvSamples > 0 && kp != t.end() && v != t.end() &&
        L->sampled < options_.kvSamples) {
      const HostTensor &K = *kp->second, &V = *v->second;
      L->kvHeads = K.shape[2];
      L->headDim = K.shape[3];
      L->vHeadDim = V.shape[3];
      int64_t rows = K.shape[0] * K.shape[1];
      int64_t take = std::min(rows, options_.kvSamples - L->sampled);
      int64_t kw = L->kvHeads * L->headDim, vw = V.shape[2] * L->vHeadDim;
      L->kSamples.insert(L->kSamples.end(), K.data<float>(),
                         K.data<float>() + take * kw);
      L->vSamples.insert(L->vSamples.end(), V.data<float>(),
                         V.data<float>() + take * vw);
      L->sampled += take;
    }
  }
  if (batch > 0) {
    tokens_ += batch * seq;
    sequences_ += batch;
  }

  // Cross-layer similarity of attention distributions, per head, averaged
  // over query rows: cosine and Jensen-Shannon divergence.
  if (options_.similarity && probs.size() > 1) {
    std::vector<int64_t> ls;
    for (auto &[l, _] : probs)
      ls.push_back(l);
    int64_t L = ls.back() + 1;
    int64_t heads = probs.begin()->second.size() / std::max<int64_t>(batch, 1);
    for (auto &[l, p] : probs)
      if (static_cast<int64_t>(p.size()) != heads * batch) {
        error = "similarity needs the same query head count in every layer";
        return false;
      }
    if (cosSum_.empty()) {
      numHeads_ = heads;
      cosSum_.assign(heads * L * L, 0.0);
      jsSum_.assign(heads * L * L, 0.0);
    }
    if (heads != numHeads_ ||
        static_cast<int64_t>(cosSum_.size()) != heads * L * L) {
      error = "layer/head structure changed between calls";
      return false;
    }
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (size_t ia = 0; ia < ls.size(); ++ia)
          for (size_t ib = ia; ib < ls.size(); ++ib) {
            const float *A = probs[ls[ia]][b * heads + h].data();
            const float *B = probs[ls[ib]][b * heads + h].data();
            double cs = 0, js = 0;
            for (int64_t i = 0; i < seq; i += options_.similarityRowStride) {
              const float *a = A + i * seq, *c = B + i * seq;
              double dot = 0, na = 0, nb = 0, kl1 = 0, kl2 = 0;
              for (int64_t j = 0; j < seq; ++j) {
                double x = a[j], y = c[j];
                dot += x * y;
                na += x * x;
                nb += y * y;
                double m = 0.5 * (x + y);
                if (x > 0)
                  kl1 += x * std::log(x / m);
                if (y > 0)
                  kl2 += y * std::log(y / m);
              }
              cs += (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : 0.0;
              js += 0.5 * (kl1 + kl2);
            }
            for (auto [x, y] : {std::make_pair(ls[ia], ls[ib]),
                                std::make_pair(ls[ib], ls[ia])}) {
              cosSum_[(h * L + x) * L + y] += cs;
              jsSum_[(h * L + x) * L + y] += js;
              if (x == y)
                break;
            }
          }
    simRows_ += batch * ((seq + options_.similarityRowStride - 1) /
                         options_.similarityRowStride);
  }
  return true;
}

bool StatsAccumulator::addAttention(int64_t layer, const HostTensor &q,
                                    const HostTensor &k, const HostTensor *xkv,
                                    std::vector<std::vector<float>> &probs,
                                    std::string &error) {
  if (q.shape.size() != 4 || k.shape.size() != 4) {
    error = "layer " + std::to_string(layer) + ": q/k taps must be rank 4";
    return false;
  }
  int64_t B = q.shape[0], S = q.shape[1], H = q.shape[2], D = q.shape[3];
  int64_t T = k.shape[1], Hkv = k.shape[2];
  if (T != S || Hkv == 0 || H % Hkv != 0) {
    error = "layer " + std::to_string(layer) +
            ": calibration expects prefill (kv_len == q_len) and GQA heads";
    return false;
  }
  LayerAttention info =
      attention_.count(layer) ? attention_.at(layer) : LayerAttention{};
  auto &L = layers_[layer];
  int64_t dm = xkv ? xkv->shape.back() : 0;
  if (options_.perHeadRP && xkv && L->rp.empty())
    for (int64_t h = 0; h < H; ++h)
      L->rp.push_back(std::make_unique<GramAccumulator>(dm));

  std::vector<float> scores(S * S), P;
  const float *qd = q.data<float>(), *kd = k.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t g = h / (H / Hkv);
      // scores = scale · q_h k_gᵀ, rows strided by the head layout.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, D,
                  static_cast<float>(info.scale), qd + (b * S * H + h) * D,
                  H * D, kd + (b * T * Hkv + g) * D, Hkv * D, 0.0f,
                  scores.data(), S);
      for (int64_t i = 0; i < S; ++i) {
        float *row = scores.data() + i * S;
        int64_t visible = info.causal ? i + 1 : S;
        float mx = -INFINITY;
        for (int64_t j = 0; j < visible; ++j)
          mx = std::max(mx, row[j]);
        double sum = 0;
        for (int64_t j = 0; j < visible; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        for (int64_t j = 0; j < S; ++j)
          row[j] = j < visible ? static_cast<float>(row[j] / sum) : 0.0f;
      }
      if (!L->rp.empty()) {
        // P_h = A_h X_kv (S x dm).
        P.assign(S * dm, 0.0f);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dm, S, 1.0f,
                    scores.data(), S, xkv->data<float>() + b * S * dm, dm, 0.0f,
                    P.data(), dm);
        if (!L->rp[h]->add(P.data(), S, dm, error))
          return false;
      }
      if (options_.similarity)
        probs.push_back(scores);
    }
  return true;
}

bool StatsAccumulator::write(const std::string &path,
                             std::map<std::string, std::string> metadata,
                             std::string &error) const {
  // A deque: TensorToWrite keeps pointers into its elements.
  std::deque<std::vector<double>> f64;
  std::vector<params::TensorToWrite> out;
  auto addMatrix = [&](const std::string &name, const Matrix &m) {
    f64.push_back(m.data);
    out.push_back(
        {name, params::DType::F64, {m.rows, m.cols}, f64.back().data()});
  };
  for (const auto &[l, L] : layers_) {
    std::string p = "layers." + std::to_string(l) + ".";
    for (const auto &[key, g] : L->grams) {
      Matrix R;
      if (!g->result(R, error))
        return false;
      addMatrix(p + key, R);
    }
    // R_kv equals R_q when both projections read the same tensor.
    if (!L->grams.count("R_kv") && L->grams.count("R_q")) {
      Matrix R;
      if (!L->grams.at("R_q")->result(R, error))
        return false;
      addMatrix(p + "R_kv", R);
    }
    if (!L->rp.empty()) {
      std::vector<double> all;
      int64_t d = L->rp[0]->dim();
      for (const auto &g : L->rp) {
        Matrix R;
        if (!g->result(R, error))
          return false;
        all.insert(all.end(), R.data.begin(), R.data.end());
      }
      f64.push_back(std::move(all));
      out.push_back({p + "R_P",
                     params::DType::F64,
                     {static_cast<int64_t>(L->rp.size()), d, d},
                     f64.back().data()});
    }
    if (L->sampled > 0) {
      out.push_back({p + "k_samples",
                     params::DType::F32,
                     {L->sampled, L->kvHeads, L->headDim},
                     L->kSamples.data()});
      int64_t vHeads =
          static_cast<int64_t>(L->vSamples.size()) / (L->sampled * L->vHeadDim);
      out.push_back({p + "v_samples",
                     params::DType::F32,
                     {L->sampled, vHeads, L->vHeadDim},
                     L->vSamples.data()});
    }
  }
  std::vector<double> cosMean, jsMean;
  if (simRows_ > 0) {
    int64_t L = static_cast<int64_t>(
        std::lround(std::sqrt(cosSum_.size() / numHeads_)));
    cosMean = cosSum_;
    jsMean = jsSum_;
    for (double &x : cosMean)
      x /= simRows_;
    for (double &x : jsMean)
      x /= simRows_;
    out.push_back({"similarity.cosine",
                   params::DType::F64,
                   {numHeads_, L, L},
                   cosMean.data()});
    out.push_back({"similarity.js",
                   params::DType::F64,
                   {numHeads_, L, L},
                   jsMean.data()});
  }
  metadata["attn.stats"] = "1";
  metadata["tokens"] = std::to_string(tokens_);
  metadata["sequences"] = std::to_string(sequences_);
  return params::SafetensorsWriter::writeFile(path, out, metadata, error);
}

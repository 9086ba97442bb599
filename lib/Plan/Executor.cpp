//===- Executor.cpp - evaluate an attn-plan's shapes and run its steps ----===//

#include "attenuate/Plan/Executor.h"

#include "attenuate/Params/ParamStore.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace attenuate::plan {

using exec::HostTensor;
using params::DType;

Backend::~Backend() = default;

bool View::isContiguous() const {
  int64_t expect = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] != 1 && strides[i] != expect)
      return false;
    expect *= sizes[i];
  }
  return true;
}

static std::string shapeStr(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

static std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &s) {
  std::vector<int64_t> st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

/// Checked product of sizes (false on overflow past 2^62).
static bool checkedCount(const std::vector<int64_t> &s, int64_t &out) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0)
      return false;
    if (d && n > (int64_t(1) << 62) / d)
      return false;
    n *= d;
  }
  out = n;
  return true;
}

std::unique_ptr<Executor>
Executor::create(Plan plan, std::unique_ptr<Backend> backend,
                 const std::vector<std::string> &archives,
                 std::string &error) {
  std::unique_ptr<Executor> ex(
      new Executor(std::move(plan), std::move(backend)));
  const Plan &p = ex->plan_;
  const std::vector<std::string> &paths =
      archives.empty() ? p.archives : archives;
  params::ParamStore store;
  for (const std::string &path : paths)
    if (!store.addArchive(path, error))
      return nullptr;
  ex->params_.assign(p.values.size(), nullptr);
  ex->paramShapes_.assign(p.values.size(), {});
  // One upload per distinct name.
  std::vector<std::pair<std::string, size_t>> seen;
  for (size_t i = 0; i < p.values.size(); ++i) {
    const Value &v = p.values[i];
    if (v.kind != Value::Kind::Param)
      continue;
    auto it = std::find_if(seen.begin(), seen.end(),
                           [&](const auto &e) { return e.first == v.name; });
    if (it != seen.end()) {
      ex->params_[i] = ex->params_[it->second];
      ex->paramShapes_[i] = ex->paramShapes_[it->second];
      continue;
    }
    const params::ParamRef *ref = store.lookup(v.name);
    if (!ref) {
      error = "parameter \"" + v.name + "\" is in none of the archives";
      if (!paths.empty())
        error += " (" + paths.front() + (paths.size() > 1 ? ", ..." : "") +
                 ")";
      return nullptr;
    }
    std::vector<int64_t> want;
    for (const Dim &d : v.shape) {
      if (d.isScalar) {
        error = "parameter \"" + v.name + "\" has a dynamic shape in the plan";
        return nullptr;
      }
      want.push_back(d.value);
    }
    if (ref->shape != want) {
      error = "parameter \"" + v.name + "\" is " + shapeStr(ref->shape) +
              " in " + ref->source + " but the plan expects " +
              shapeStr(want);
      return nullptr;
    }
    std::vector<float> data;
    if (!store.readAsF32(v.name, data, error))
      return nullptr;
    if (!ex->backend_->uploadParam(data, ex->params_[i], error))
      return nullptr;
    ex->paramShapes_[i] = want;
    seen.push_back({v.name, i});
  }
  return ex;
}

namespace {
/// Where a value's elements live, before the slots are allocated.
struct Storage {
  enum Kind { Input, Param, Slot } kind = Slot;
  int64_t index = 0;
};
} // namespace

int64_t Executor::outputAliasesInput(size_t i) const {
  int64_t v = plan_.outputs.at(i);
  while (true) {
    const Value &val = plan_.values[v];
    switch (val.kind) {
    case Value::Kind::Input:
      return val.source;
    case Value::Kind::Reshape:
    case Value::Kind::Slice:
    case Value::Kind::Alias:
      v = val.source;
      continue;
    default:
      return -1;
    }
  }
}

bool Executor::run(const std::vector<HostTensor> &inputs,
                   std::vector<HostTensor> &outputs,
                   const std::vector<bool> &keepInput,
                   const std::vector<bool> &skipOutput, std::string &error) {
  auto kept = [&](size_t i) { return i < keepInput.size() && keepInput[i]; };
  const Plan &p = plan_;
  Backend &be = *backend_;
  if (inputs.size() != p.inputs.size()) {
    error = "@" + p.entry + " takes " + std::to_string(p.inputs.size()) +
            " inputs, got " + std::to_string(inputs.size());
    return false;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Input &in = p.inputs[i];
    const HostTensor &t = inputs[i];
    if (t.dtype != in.dtype || t.shape.size() != in.shape.size()) {
      error = "input " + std::to_string(i) + " (" + in.name + ") is " +
              t.describe() + " but the plan expects " +
              std::string(params::dtypeName(in.dtype)) + " of rank " +
              std::to_string(in.shape.size());
      return false;
    }
  }

  // Scalars, in order.
  std::vector<int64_t> sv(p.scalars.size());
  auto dimValue = [&](const Dim &d) { return d.isScalar ? sv[d.value] : d.value; };
  for (size_t i = 0; i < p.scalars.size(); ++i) {
    const Scalar &s = p.scalars[i];
    switch (s.kind) {
    case Scalar::Kind::Dim:
      sv[i] = inputs[s.input].shape[s.axis];
      break;
    case Scalar::Kind::Extract: {
      const HostTensor &t = inputs[s.input];
      int64_t flat = 0;
      for (size_t k = 0; k < s.index.size(); ++k) {
        int64_t idx = dimValue(s.index[k]);
        if (idx < 0 || idx >= t.shape[k]) {
          error = "input " + std::to_string(s.input) + " (" +
                  p.inputs[s.input].name + ") " + t.describe() +
                  " has no element at index " + std::to_string(idx) +
                  " of dim " + std::to_string(k);
          return false;
        }
        flat = flat * t.shape[k] + idx;
      }
      if (t.bytes.empty()) {
        error = "input " + std::to_string(s.input) + " (" +
                p.inputs[s.input].name + ") is read for a size but has no data";
        return false;
      }
      sv[i] = t.dtype == DType::I64 ? t.data<int64_t>()[flat]
                                    : t.data<int32_t>()[flat];
      break;
    }
    case Scalar::Kind::Add:
      sv[i] = dimValue(s.lhs) + dimValue(s.rhs);
      break;
    case Scalar::Kind::Sub:
      sv[i] = dimValue(s.lhs) - dimValue(s.rhs);
      break;
    case Scalar::Kind::Mul:
      sv[i] = dimValue(s.lhs) * dimValue(s.rhs);
      break;
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t k = 0; k < p.inputs[i].shape.size(); ++k)
      if (dimValue(p.inputs[i].shape[k]) != inputs[i].shape[k]) {
        error = "input " + std::to_string(i) + " (" + p.inputs[i].name +
                ") is " + inputs[i].describe() + ": dim " +
                std::to_string(k) + " must be " +
                std::to_string(dimValue(p.inputs[i].shape[k]));
        return false;
      }

  // Shapes, strides and storage of every value.
  DType act = be.activationType();
  size_t nv = p.values.size();
  std::vector<View> views(nv);
  std::vector<Storage> storage(nv);
  std::vector<int64_t> offsets(nv, 0);
  std::vector<uint64_t> slotNeed(p.numSlots, 0);
  bufferBytes_ = 0;
  // "value 35 (read by attention at "model.layers.0.self_attn")".
  auto valueName = [&](size_t i) {
    std::string name = "value " + std::to_string(i);
    for (const Step &s : p.steps)
      if (std::find(s.in.begin(), s.in.end(), static_cast<int64_t>(i)) !=
          s.in.end())
        return name + " (read by " + s.op +
               (s.loc.empty() ? "" : " at \"" + s.loc + "\"") + ")";
    return name;
  };
  for (size_t i = 0; i < nv; ++i) {
    const Value &v = p.values[i];
    View &w = views[i];
    w.dtype = v.dtype == DType::F32 ? act : v.dtype;
    for (const Dim &d : v.shape) {
      int64_t x = dimValue(d);
      if (x < 0) {
        error = valueName(i) + " has a negative size " + std::to_string(x);
        return false;
      }
      w.sizes.push_back(x);
    }
    int64_t count;
    if (!checkedCount(w.sizes, count)) {
      error = valueName(i) + " is too large: " + shapeStr(w.sizes);
      return false;
    }
    switch (v.kind) {
    case Value::Kind::Input:
      storage[i] = {Storage::Input, v.source};
      w.strides = contiguousStrides(w.sizes);
      break;
    case Value::Kind::Param:
      storage[i] = {Storage::Param, static_cast<int64_t>(i)};
      w.strides = contiguousStrides(w.sizes);
      break;
    case Value::Kind::Buffer: {
      storage[i] = {Storage::Slot, v.source};
      w.strides = contiguousStrides(w.sizes);
      uint64_t bytes = static_cast<uint64_t>(count) * params::dtypeSize(w.dtype);
      slotNeed[v.source] = std::max(slotNeed[v.source], bytes);
      bufferBytes_ += bytes;
      break;
    }
    case Value::Kind::Reshape: {
      const View &src = views[v.source];
      if (!src.isContiguous() || src.numElements() != count) {
        error = valueName(i) + ": cannot reshape " + shapeStr(src.sizes) +
                " to " + shapeStr(w.sizes);
        return false;
      }
      storage[i] = storage[v.source];
      offsets[i] = offsets[v.source];
      w.strides = contiguousStrides(w.sizes);
      break;
    }
    case Value::Kind::Slice: {
      const View &src = views[v.source];
      storage[i] = storage[v.source];
      offsets[i] = offsets[v.source];
      w.strides = src.strides;
      for (size_t k = 0; k < w.sizes.size(); ++k) {
        int64_t off = dimValue(v.offsets[k]);
        if (off < 0 || off + w.sizes[k] > src.sizes[k]) {
          error = valueName(i) + ": slice [" + std::to_string(off) + ", " +
                  std::to_string(off + w.sizes[k]) + ") of dim " +
                  std::to_string(k) + " is outside the source's size " +
                  std::to_string(src.sizes[k]);
          return false;
        }
        offsets[i] += off * src.strides[k];
      }
      break;
    }
    case Value::Kind::Alias: {
      const View &src = views[v.source];
      if (src.sizes != w.sizes) {
        error = valueName(i) + ": alias of " + shapeStr(src.sizes) +
                " declared as " + shapeStr(w.sizes);
        return false;
      }
      storage[i] = storage[v.source];
      offsets[i] = offsets[v.source];
      w.strides = src.strides;
      break;
    }
    }
  }

  // Memory: inputs (copied: cache updates write them), slots.
  std::vector<char *> inputPtr(inputs.size());
  if (inputPtr_.size() < inputs.size())
    inputPtr_.resize(inputs.size(), nullptr);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (kept(i) && inputPtr_[i]) {
      inputPtr[i] = inputPtr_[i];
      continue;
    }
    if (inputs[i].bytes.size() !=
        inputs[i].numElements() * params::dtypeSize(inputs[i].dtype)) {
      error = "input " + std::to_string(i) + " has no data";
      return false;
    }
    if (!be.uploadInput(i, inputs[i], inputPtr[i], error))
      return false;
    inputPtr_[i] = inputPtr[i];
  }
  std::vector<char *> slots;
  if (!be.reserveSlots(slotNeed, slots, error))
    return false;
  slotBytes_ = 0;
  for (uint64_t b : slotNeed)
    slotBytes_ += b;
  for (size_t i = 0; i < nv; ++i) {
    char *base = nullptr;
    switch (storage[i].kind) {
    case Storage::Input:
      base = inputPtr[storage[i].index];
      break;
    case Storage::Param:
      base = params_[storage[i].index];
      break;
    case Storage::Slot:
      base = slots[storage[i].index];
      break;
    }
    views[i].data = base + offsets[i] * static_cast<int64_t>(
                                            params::dtypeSize(views[i].dtype));
  }

  // Steps.
  for (size_t si = 0; si < p.steps.size(); ++si) {
    const Step &s = p.steps[si];
    auto in = [&](size_t k) -> const View & { return views[s.in[k]]; };
    const View &out = views[s.out];
    bool ok = true;
    if (s.op == "embed")
      ok = be.embed(in(0), in(1), out, error);
    else if (s.op == "rms_norm")
      ok = be.rmsNorm(in(0), in(1), s.epsilon, out, error);
    else if (s.op == "linear")
      ok = be.linear(in(0), in(1), s.in.size() > 2 ? &in(2) : nullptr, out,
                     error);
    else if (s.op == "mlp")
      ok = be.mlp(in(0), in(1), in(2), in(3), out, error);
    else if (s.op == "rope")
      ok = be.rope(in(0), in(1), s, out, error);
    else if (s.op == "attention")
      ok = be.attention(in(0), in(1), in(2), s.scale, s.causal, out, error);
    else if (s.op == "cache_update") {
      // out aliases the cache operand (the plan made it so, or copied first).
      if (views[s.in[0]].data != out.data) {
        error = "cache_update's result does not alias its cache";
        ok = false;
      } else {
        ok = be.cacheUpdate(in(0), in(1), dimValue(s.position), error);
      }
    } else if (s.op == "copy")
      ok = be.copy(in(0), out, error);
    else if (s.op == "add")
      ok = be.add(in(0), in(1), out, error);
    if (!ok) {
      error = "step " + std::to_string(si) + " (" + s.op +
              (s.loc.empty() ? "" : " at \"" + s.loc + "\"") + "): " + error;
      return false;
    }
  }

  outputs.clear();
  for (size_t oi = 0; oi < p.outputs.size(); ++oi) {
    int64_t o = p.outputs[oi];
    HostTensor t;
    if (oi < skipOutput.size() && skipOutput[oi]) {
      outputs.push_back(std::move(t));
      continue;
    }
    if (!be.download(views[o], p.values[o].dtype, t, error))
      return false;
    outputs.push_back(std::move(t));
  }
  return true;
}

#ifndef ATTN_PLAN_HAS_CPU
std::unique_ptr<Backend> createCpuBackend(std::string &error) {
  error = "this build has no CPU backend (libattn_runtime, which needs "
          "OpenBLAS, was not built)";
  return nullptr;
}
#endif

#ifndef ATTN_PLAN_HAS_CUDA
bool cudaBackendBuilt() { return false; }
std::unique_ptr<Backend> createCudaBackend(std::string &error) {
  error = "this build has no CUDA backend (configure with "
          "-DATTN_ENABLE_CUDA=ON on a machine with nvcc)";
  return nullptr;
}
std::unique_ptr<Backend> createCudaCheckBackend(std::string &error) {
  return createCudaBackend(error);
}
#endif

} // namespace attenuate::plan

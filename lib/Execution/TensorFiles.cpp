//===- TensorFiles.cpp - tool inputs, results and references --------------===//

#include "attenuate/Execution/TensorFiles.h"
#include "attenuate/Execution/Npy.h"
#include "attenuate/Params/Safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace attenuate;
using namespace attenuate::exec;

namespace {

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double valueAt(const HostTensor &t, uint64_t i) {
  switch (t.dtype) {
  case params::DType::F32:
    return t.data<float>()[i];
  case params::DType::F64:
    return t.data<double>()[i];
  case params::DType::I64:
    return static_cast<double>(t.data<int64_t>()[i]);
  case params::DType::I32:
    return t.data<int32_t>()[i];
  // Encoded KV caches (attn-sparse-kv): int16 indices, fp16 coefficients.
  case params::DType::I16:
    return t.data<int16_t>()[i];
  case params::DType::F16:
    return params::halfToFloat(t.data<uint16_t>()[i]);
  default:
    return NAN;
  }
}

Comparison compareTensors(const HostTensor &out, const HostTensor &ref,
                          double atol, double rtol) {
  Comparison c;
  c.count = out.numElements();
  for (uint64_t i = 0; i < c.count; ++i) {
    double a = valueAt(out, i), b = valueAt(ref, i);
    double abs = std::fabs(a - b);
    double rel = abs / std::max(std::fabs(b), 1e-30);
    // Written so that a NaN on either side counts as outside and as the
    // largest error.
    if (!(abs <= atol + rtol * std::fabs(b)))
      ++c.outside;
    if (!(abs <= c.maxAbs))
      c.maxAbs = abs;
    if (std::fabs(b) > atol && !(rel <= c.maxRel))
      c.maxRel = rel;
  }
  return c;
}

} // namespace

bool exec::readInputFiles(const std::vector<std::string> &paths,
                          std::vector<HostTensor> &out, std::string &error) {
  for (const std::string &path : paths) {
    if (!endsWith(path, ".safetensors")) {
      HostTensor t;
      if (!readNpy(path, t, error))
        return false;
      out.push_back(std::move(t));
      continue;
    }
    auto file = params::SafetensorsFile::open(path, error);
    if (!file)
      return false;
    for (const params::TensorInfo &info : file->tensors()) {
      HostTensor h;
      h.dtype = info.dtype;
      h.shape = info.shape;
      const uint8_t *p = file->data(info);
      h.bytes.assign(p, p + info.numBytes());
      out.push_back(std::move(h));
    }
  }
  return true;
}

bool exec::writeResultFiles(const std::vector<std::string> &paths,
                            const std::vector<HostTensor> &results,
                            std::string &error) {
  if (paths.size() == 1 && endsWith(paths[0], ".safetensors")) {
    std::vector<params::TensorToWrite> tensors;
    for (size_t i = 0; i < results.size(); ++i)
      tensors.push_back({"result" + std::to_string(i), results[i].dtype,
                         results[i].shape, results[i].bytes.data()});
    return params::SafetensorsWriter::writeFile(paths[0], tensors, {}, error);
  }
  if (paths.size() > results.size()) {
    error = std::to_string(paths.size()) + " --output files for " +
            std::to_string(results.size()) + " results";
    return false;
  }
  for (size_t i = 0; i < paths.size(); ++i)
    if (!writeNpy(paths[i], results[i], error))
      return false;
  return true;
}

std::string Comparison::summary(const std::string &name, double atol,
                                double rtol) const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                ": max abs error %.3e, max rel error %.3e, %llu/%llu elements "
                "outside atol %g + rtol %g -> %s",
                maxAbs, maxRel, static_cast<unsigned long long>(outside),
                static_cast<unsigned long long>(count), atol, rtol,
                pass() ? "PASS" : "FAIL");
  return name + buf;
}

bool exec::compareWithFiles(const std::vector<std::string> &paths,
                            const std::vector<HostTensor> &results, double atol,
                            double rtol, std::vector<std::string> &lines,
                            bool &allPass, std::string &error) {
  if (paths.size() > results.size()) {
    error = std::to_string(paths.size()) + " --compare files for " +
            std::to_string(results.size()) + " results";
    return false;
  }
  allPass = true;
  for (size_t i = 0; i < paths.size(); ++i) {
    HostTensor ref;
    if (!readNpy(paths[i], ref, error))
      return false;
    std::string name = "result " + std::to_string(i);
    if (results[i].shape != ref.shape) {
      error = name + ": result is " + results[i].describe() +
              " but the reference is " + ref.describe() + " (" + paths[i] + ")";
      return false;
    }
    Comparison c = compareTensors(results[i], ref, atol, rtol);
    lines.push_back(c.summary(name, atol, rtol));
    allPass &= c.pass();
  }
  return true;
}

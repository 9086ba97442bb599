//===- StatsFile.cpp - reading calibration statistics ---------------------===//

#include "attenuate/Calibration/StatsFile.h"

using namespace attenuate;
using namespace attenuate::calibration;

std::unique_ptr<StatsFile> StatsFile::open(const std::string &path,
                                           std::string &error) {
  auto file = params::SafetensorsFile::open(path, error);
  if (!file)
    return nullptr;
  if (!file->metadata().count("attn.stats")) {
    error = path + ": not a calibration stats file (no attn.stats metadata; "
                   "write one with attn-calibrate)";
    return nullptr;
  }
  std::unique_ptr<StatsFile> s(new StatsFile());
  s->file_ = std::move(file);
  return s;
}

std::string StatsFile::source() const {
  auto it = file_->metadata().find("source");
  return it == file_->metadata().end() ? "" : it->second;
}

bool StatsFile::checkSource(const std::string &source,
                            std::string &error) const {
  if (source == this->source())
    return true;
  error = path() + ": statistics were measured on another model (source " +
          this->source() + ", this module is " + source + ")";
  return false;
}

bool StatsFile::matrix(const std::string &key, numerics::Matrix &out,
                       std::string &error) const {
  const params::TensorInfo *t = file_->find(key);
  if (!t) {
    error = path() + ": no tensor \"" + key + "\"";
    return false;
  }
  if (t->shape.size() != 2) {
    error = path() + ": tensor \"" + key + "\" is not a matrix";
    return false;
  }
  std::vector<double> v;
  if (!file_->readAsF64(*t, v, error))
    return false;
  out = numerics::Matrix(t->shape[0], t->shape[1]);
  out.data = std::move(v);
  return true;
}

bool StatsFile::matrixSlice(const std::string &key, int64_t index,
                            numerics::Matrix &out, std::string &error) const {
  const params::TensorInfo *t = file_->find(key);
  if (!t || t->shape.size() != 3 || index < 0 || index >= t->shape[0]) {
    error = path() + ": no slice " + std::to_string(index) +
            " of 3-D tensor \"" + key + "\"";
    return false;
  }
  std::vector<double> v;
  if (!file_->readAsF64(*t, v, error))
    return false;
  int64_t n = t->shape[1] * t->shape[2];
  out = numerics::Matrix(t->shape[1], t->shape[2]);
  out.data.assign(v.begin() + index * n, v.begin() + (index + 1) * n);
  return true;
}

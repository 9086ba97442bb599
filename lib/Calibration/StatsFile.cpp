//===- StatsFile.cpp - reading calibration statistics ---------------------===//

#include "attenuate/Calibration/StatsFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

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
  release(*t);
  // Adopts the values; Matrix(rows, cols) would zero-fill a second copy.
  out = numerics::Matrix();
  out.rows = t->shape[0];
  out.cols = t->shape[1];
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
  release(*t);
  int64_t n = t->shape[1] * t->shape[2];
  out = numerics::Matrix(t->shape[1], t->shape[2]);
  out.data.assign(v.begin() + index * n, v.begin() + (index + 1) * n);
  return true;
}

bool StatsFile::diagonal(const std::string &key, std::vector<double> &out,
                         std::string &error) const {
  const params::TensorInfo *t = file_->find(key);
  if (!t) {
    error = path() + ": no tensor \"" + key + "\"";
    return false;
  }
  if (t->shape.size() != 2 || t->shape[0] != t->shape[1]) {
    error = path() + ": tensor \"" + key + "\" is not a square matrix";
    return false;
  }
  const size_t size = params::dtypeSize(t->dtype);
  const int64_t n = t->shape[0];
  if (!params::isFloat(t->dtype) ||
      t->numBytes() != static_cast<uint64_t>(n) * n * size) {
    error = path() + ": tensor \"" + key + "\" is not a float matrix";
    return false;
  }
  // pread, not the mapping: a fault on a mapped page maps its cached
  // neighbours too (the kernel's fault-around, 64 KiB), so touching one
  // element per row of R_d would map most of its 1.6 GB.
  int fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path() + ": cannot open: " + std::strerror(errno);
    return false;
  }
  auto readAt = [&](void *dst, size_t bytes, uint64_t offset) {
    auto *p = static_cast<uint8_t *>(dst);
    while (bytes > 0) {
      ssize_t got = ::pread(fd, p, bytes, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return false;
      p += got;
      bytes -= static_cast<size_t>(got);
      offset += static_cast<uint64_t>(got);
    }
    return true;
  };
  // The data section starts after the 8-byte header length and the header.
  uint8_t lengthBytes[8];
  bool ok = readAt(lengthBytes, 8, 0);
  uint64_t headerLength = 0;
  for (int b = 7; b >= 0; --b)
    headerLength = (headerLength << 8) | lengthBytes[b];
  const uint64_t base = 8 + headerLength + t->begin;
  out.resize(n);
  for (int64_t i = 0; ok && i < n; ++i) {
    uint8_t p[8];
    ok = readAt(p, size, base + (static_cast<uint64_t>(i) * n + i) * size);
    if (!ok)
      break;
    switch (t->dtype) {
    case params::DType::F64:
      std::memcpy(&out[i], p, 8);
      break;
    case params::DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      out[i] = f;
      break;
    }
    default: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      out[i] = t->dtype == params::DType::F16 ? params::halfToFloat(h)
                                              : params::bf16ToFloat(h);
      break;
    }
    }
  }
  ::close(fd);
  if (!ok)
    error = path() + ": cannot read the diagonal of \"" + key + "\"";
  return ok;
}

void StatsFile::release(const params::TensorInfo &t) const {
  const uint8_t *p = file_->data(t);
  if (!p || t.numBytes() == 0)
    return;
  // The mapping is read-only and private, so dropping its pages loses
  // nothing: a later read faults them in again from the file (page cache).
  // Whole pages only, from the first at or before the tensor to the end of
  // the last it touches (inside the mapping, which is page-aligned).
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p) + t.numBytes();
  ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

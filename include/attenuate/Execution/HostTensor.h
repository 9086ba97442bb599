//===- HostTensor.h - a dense row-major tensor in host memory ---*- C++ -*-===//
#ifndef ATTENUATE_EXECUTION_HOSTTENSOR_H
#define ATTENUATE_EXECUTION_HOSTTENSOR_H

#include "attenuate/Params/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attenuate::exec {

/// What tools exchange with compiled functions: inputs read from .npy files,
/// outputs copied out of returned memrefs.
struct HostTensor {
  params::DType dtype = params::DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes; // numElements() * dtypeSize(dtype)

  uint64_t numElements() const {
    uint64_t n = 1;
    for (int64_t d : shape)
      n *= static_cast<uint64_t>(d);
    return n;
  }
  template <typename T> T *data() {
    return reinterpret_cast<T *>(bytes.data());
  }
  template <typename T> const T *data() const {
    return reinterpret_cast<const T *>(bytes.data());
  }
  static HostTensor zeros(params::DType dtype, std::vector<int64_t> shape) {
    HostTensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.assign(t.numElements() * params::dtypeSize(dtype), 0);
    return t;
  }
  /// "F32[2, 3]"
  std::string describe() const;
};

} // namespace attenuate::exec

#endif

//===- safetensors_file.cpp - fuzz SafetensorsFile::parse on whole files ---===//
//
// The input is a whole archive (length, header, data). Whatever parse
// accepts must be safe to use: every accessor is called on every tensor, so
// an accepted but inconsistent header (offsets past the data, a byte count
// that disagrees with the shape) shows up as an out-of-bounds read.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Safetensors.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace attenuate::params;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  auto file = SafetensorsFile::parse(data, size, "fuzz.safetensors", error);
  if (!file) {
    if (error.empty() || error.find('\n') != std::string::npos) {
      std::fprintf(stderr, "bad error message: '%s'\n", error.c_str());
      std::abort();
    }
    return 0;
  }
  std::vector<float> f32;
  std::vector<double> f64;
  for (const TensorInfo &t : file->tensors()) {
    if (file->find(t.name) != &t)
      std::abort();
    if (t.end < t.begin || t.numBytes() != t.numElements() * dtypeSize(t.dtype))
      std::abort();
    // Touch every byte, as the conversions do.
    if (const uint8_t *p = file->data(t)) {
      volatile uint8_t sink = 0;
      for (uint64_t i = 0; i < t.numBytes(); ++i)
        sink = sink ^ p[i];
      (void)sink;
    }
    file->readAsF32(t, f32, error);
    file->readAsF64(t, f64, error);
    file->checkFinite(t, error);
  }
  return 0;
}

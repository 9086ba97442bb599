//===- safetensors_header.cpp - fuzz the safetensors header rules ---------===//
//
// The input is the header text alone. The harness adds the 8-byte length and
// a zero-filled data section as long as the largest `data_offsets` end the
// header names (when it names one under 1 MiB), so that mutations of the
// JSON reach the offset, size and ordering rules instead of stopping at
// "the data section has the wrong size". One byte of the input's first byte
// selects a small change of that size (one byte short or long), to keep the
// boundary cases in play.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Json.h"
#include "attenuate/Params/Safetensors.h"

#include <cstdlib>
#include <string>
#include <string_view>

using namespace attenuate;

static uint64_t largestEnd(const json::Value &root) {
  uint64_t largest = 0;
  if (!root.isObject())
    return 0;
  for (const auto &[name, entry] : root.object) {
    const json::Value *offsets = entry.get("data_offsets");
    if (!offsets || !offsets->isArray())
      continue;
    for (const json::Value &v : offsets->array) {
      uint64_t x;
      if (v.asU64(x) && x > largest)
        largest = x;
    }
  }
  return largest;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t tweak = data[0];
  std::string_view header(reinterpret_cast<const char *>(data + 1), size - 1);

  json::Value root;
  std::string error;
  size_t end = 0;
  uint64_t dataBytes = 0;
  if (json::parsePrefix(header, root, error, end))
    dataBytes = largestEnd(root);
  if (dataBytes > (1u << 20))
    dataBytes = 0;
  if (tweak % 8 == 1 && dataBytes > 0)
    --dataBytes;
  else if (tweak % 8 == 2)
    ++dataBytes;

  std::string image(8, '\0');
  uint64_t n = header.size();
  if (tweak % 8 == 3)
    ++n; // a length one past the header
  for (int i = 0; i < 8; ++i)
    image[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  image.append(header);
  image.append(dataBytes, '\0');

  auto file = params::SafetensorsFile::parse(
      reinterpret_cast<const uint8_t *>(image.data()), image.size(),
      "fuzz.safetensors", error);
  if (!file) {
    if (error.empty() || error.find('\n') != std::string::npos)
      std::abort();
    return 0;
  }
  // Accepted: the rules say the tensors tile the data section exactly.
  uint64_t next = 0;
  for (const params::TensorInfo &t : file->tensors()) {
    if (t.begin != next || t.end < t.begin)
      std::abort();
    next = t.end;
  }
  if (next != image.size() - 8 - n)
    std::abort();
  return 0;
}

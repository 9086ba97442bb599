//===- safetensors_roundtrip.cpp - fuzz writer -> reader ------------------===//
//
// The input describes an archive (names, dtypes, shapes, metadata, data
// bytes); SafetensorsWriter writes it and SafetensorsFile reads it back.
// What the writer accepts the reader must accept, with the same tensors,
// bytes and metadata (RELIABILITY.md: writer -> reader round trips are
// fuzzed). Files go to /dev/shm where it exists: the writer fsyncs, which
// is free on tmpfs.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Safetensors.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

using namespace attenuate::params;

namespace {

/// Reads the input front to back; past the end it yields zeros.
struct Reader {
  const uint8_t *p, *end;
  uint8_t byte() { return p < end ? *p++ : 0; }
  std::string bytes(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i)
      s += static_cast<char>(byte());
    return s;
  }
};

/// Never freed: the exit handler that removes the directory runs after
/// static destructors would have run.
const std::string &scratchDir() {
  static const std::string *dir = [] {
    std::string base = std::filesystem::exists("/dev/shm")
                           ? "/dev/shm"
                           : std::filesystem::temp_directory_path().string();
    auto *d = new std::string(base + "/attn-fuzz-rt-XXXXXX");
    if (!::mkdtemp(d->data()))
      std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratchDir(), ec);
    });
    return d;
  }();
  return *dir;
}

[[noreturn]] void mismatch(const char *what) {
  std::fprintf(stderr, "attn-fuzz: round trip changed %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Reader in{data, data + size};
  const DType dtypes[] = {DType::BOOL, DType::U8,  DType::I8,  DType::U16,
                          DType::I16,  DType::U32, DType::I32, DType::U64,
                          DType::I64,  DType::F16, DType::BF16, DType::F32,
                          DType::F64};
  std::vector<SafetensorsWriter::Decl> decls;
  int count = in.byte() % 6;
  for (int i = 0; i < count; ++i) {
    SafetensorsWriter::Decl d;
    d.name = in.bytes(in.byte() % 10);
    d.dtype = dtypes[in.byte() % 13];
    int rank = in.byte() % 4;
    for (int r = 0; r < rank; ++r)
      d.shape.push_back(in.byte() % 5);
    decls.push_back(std::move(d));
  }
  std::map<std::string, std::string> metadata;
  int entries = in.byte() % 3;
  for (int i = 0; i < entries; ++i) {
    std::string key = in.bytes(in.byte() % 6);
    metadata[key] = in.bytes(in.byte() % 6);
  }
  // Tensor bytes: the rest of the input, repeated.
  std::vector<std::vector<uint8_t>> bytes;
  for (const auto &d : decls) {
    uint64_t n = dtypeSize(d.dtype);
    for (int64_t dim : d.shape)
      n *= static_cast<uint64_t>(dim);
    std::vector<uint8_t> b(n);
    for (auto &x : b)
      x = in.p < in.end ? in.byte() : static_cast<uint8_t>(n);
    bytes.push_back(std::move(b));
  }

  std::string path = scratchDir() + "/t.safetensors";
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < decls.size(); ++i)
    tensors.push_back(
        {decls[i].name, decls[i].dtype, decls[i].shape, bytes[i].data()});
  std::string error;
  if (!SafetensorsWriter::writeFile(path, tensors, metadata, error))
    return 0; // refused (bad name, duplicate): nothing to read back
  auto file = SafetensorsFile::open(path, error);
  if (!file) {
    std::fprintf(stderr, "attn-fuzz: the reader rejects what the writer "
                         "wrote: %s\n",
                 error.c_str());
    std::abort();
  }
  if (file->metadata() != metadata)
    mismatch("the metadata");
  if (file->tensors().size() != decls.size())
    mismatch("the tensor count");
  for (size_t i = 0; i < decls.size(); ++i) {
    const TensorInfo *t = file->find(decls[i].name);
    if (!t)
      mismatch("a name");
    if (t->dtype != decls[i].dtype || t->shape != decls[i].shape)
      mismatch("a dtype or shape");
    if (t->numBytes() != bytes[i].size() ||
        (t->numBytes() &&
         std::memcmp(file->data(*t), bytes[i].data(), bytes[i].size()) != 0))
      mismatch("the data");
  }
  return 0;
}

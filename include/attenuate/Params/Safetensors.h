//===- Safetensors.h - safetensors archives: read (mmap) and write ----------===//
//
// Reading enforces every rule of shared/RELIABILITY.md ("safetensors"). No
// MLIR or LLVM dependency: the runtime links this on machines without LLVM.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_PARAMS_SAFETENSORS_H
#define ATTENUATE_PARAMS_SAFETENSORS_H

#include "attenuate/Params/DType.h"
#include "attenuate/Support/AtomicFile.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace attenuate::params {

/// One tensor entry of a safetensors header. Offsets are relative to the start
/// of the data section (file offset 8 + header length).
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;

  uint64_t numElements() const; // product of shape (validated not to overflow)
  uint64_t numBytes() const { return end - begin; }
};

/// A validated, read-only safetensors archive. Data is memory-mapped; tensor
/// data pointers are NOT aligned (rule 8): copy with memcpy or use the typed
/// helpers.
class SafetensorsFile {
public:
  /// Opens, maps and validates `path`. On failure returns nullptr and sets
  /// `error` to one line naming the file (and the tensor/field at fault).
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &error);
  /// Validates an in-memory image (the bytes are copied). `name` is used in
  /// messages in place of a path. Used by fuzzers and tests.
  static std::unique_ptr<SafetensorsFile>
  parse(const uint8_t *data, size_t size, const std::string &name,
        std::string &error);
  /// Only the header: reads at most 8 + N bytes and never maps the data. For
  /// tools that need shapes only (import, report) on huge checkpoints.
  static std::unique_ptr<SafetensorsFile> openHeader(const std::string &path,
                                                     std::string &error);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

  const std::string &path() const { return path_; }
  /// Sorted by data offset.
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const TensorInfo *find(std::string_view name) const;
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }
  /// Start of the tensor's bytes; nullptr for header-only archives.
  const uint8_t *data(const TensorInfo &t) const;
  bool hasData() const { return base_ != nullptr; }

  /// Copies the tensor converted to f32 (from any float/int dtype) into `out`
  /// (resized). Returns false with `error` for bool or header-only archives.
  bool readAsF32(const TensorInfo &t, std::vector<float> &out,
                 std::string &error) const;
  bool readAsF64(const TensorInfo &t, std::vector<double> &out,
                 std::string &error) const;
  /// Rule 9: false (and `error` naming the tensor and the first bad element
  /// index) if a float tensor holds NaN or Inf.
  bool checkFinite(const TensorInfo &t, std::string &error) const;

private:
  SafetensorsFile() = default;
  std::string path_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> byName_;
  std::map<std::string, std::string> metadata_;
  // Mapping (or owned copy) of the whole file; base_ points at the data section.
  void *map_ = nullptr;
  size_t mapSize_ = 0;
  std::vector<uint8_t> owned_;
  const uint8_t *base_ = nullptr;
  // Bytes in the data section; bounds every TensorInfo a caller hands back.
  uint64_t dataSize_ = 0;
};

/// A tensor to write: `data` holds exactly numElements * dtypeSize bytes, in
/// row-major order, little-endian.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void *data = nullptr;
};

/// Streaming writer. All tensor names/dtypes/shapes are declared up front (the
/// header comes first in the format); then data is appended tensor by tensor
/// in declaration order, so a pass never holds more than one tensor. Writes
/// through attenuate::AtomicFile (a temporary beside `path`, renamed on
/// finish()), so a failed or interrupted write never leaves a truncated file
/// nor touches an existing `path`; a device such as /dev/null is written in
/// place, never replaced.
class SafetensorsWriter {
public:
  SafetensorsWriter() = default;
  // Owns a file descriptor and a temporary file.
  SafetensorsWriter(const SafetensorsWriter &) = delete;
  SafetensorsWriter &operator=(const SafetensorsWriter &) = delete;

  struct Decl {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  /// Writes the header (padded with spaces to a multiple of 8).
  bool open(const std::string &path, const std::vector<Decl> &decls,
            const std::map<std::string, std::string> &metadata,
            std::string &error);
  /// Appends the next declared tensor's bytes (may be called several times per
  /// tensor with consecutive chunks).
  bool write(const void *data, size_t bytes, std::string &error);
  /// Checks every declared byte was written, flushes, renames into place.
  bool finish(std::string &error);
  ~SafetensorsWriter(); // removes the temporary file if finish() was not reached

  /// Convenience: one call for tensors already in memory.
  static bool writeFile(const std::string &path,
                        const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata,
                        std::string &error);

private:
  std::string path_;
  attenuate::AtomicFile file_;
  uint64_t expected_ = 0, written_ = 0;
};

} // namespace attenuate::params

#endif // ATTENUATE_PARAMS_SAFETENSORS_H

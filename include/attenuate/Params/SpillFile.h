//===- SpillFile.h - bytes parked in an unlinked temporary file -*- C++ -*-===//
//
// Large tensors a pass creates wait in the page cache, not in the process's
// memory, until they are written out: the kernel can drop clean pages, and
// the peak resident set stays at the tensors being worked on.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_PARAMS_SPILLFILE_H
#define ATTENUATE_PARAMS_SPILLFILE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attenuate::params {

class SpillFile {
public:
  struct Extent {
    uint64_t offset = 0;
    size_t bytes = 0;
  };

  SpillFile() = default;
  SpillFile(const SpillFile &) = delete;
  SpillFile &operator=(const SpillFile &) = delete;
  ~SpillFile();

  /// Appends `bytes` (page-aligned, so the extent can be mapped); false if
  /// the file cannot be created ($TMPDIR, else /tmp) or written.
  bool put(const void *data, size_t bytes, Extent &out);
  /// Copies `bytes` of extent `e` from `offset` into `dst`; false with
  /// `error` on a read failure.
  bool read(const Extent &e, size_t offset, void *dst, size_t bytes,
            std::string &error) const;
  /// The whole extent as a vector.
  bool read(const Extent &e, std::vector<uint8_t> &out,
            std::string &error) const;
  /// A read-only mapping of the extent (munmap with `e.bytes`); nullptr on
  /// failure.
  const void *map(const Extent &e) const;

private:
  int fd_ = -1;
  uint64_t end_ = 0;
};

} // namespace attenuate::params

#endif // ATTENUATE_PARAMS_SPILLFILE_H

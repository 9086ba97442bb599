//===- SpillFile.cpp ------------------------------------------------------===//

#include "attenuate/Params/SpillFile.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace attenuate::params {

SpillFile::~SpillFile() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool SpillFile::put(const void *data, size_t bytes, Extent &out) {
  if (fd_ < 0) {
    const char *dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") +
                       "/attn-spill-XXXXXX";
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0)
      return false;
    // Unlinked at once: the space goes back when the descriptor closes,
    // however the process ends.
    ::unlink(tmpl.c_str());
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t offset = (end_ + page - 1) / page * page;
  const uint8_t *p = static_cast<const uint8_t *>(data);
  size_t left = bytes;
  for (uint64_t at = offset; left;) {
    ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    at += static_cast<uint64_t>(n);
    left -= static_cast<size_t>(n);
  }
  end_ = offset + bytes;
  out = {offset, bytes};
  return true;
}

bool SpillFile::read(const Extent &e, size_t offset, void *dst, size_t bytes,
                     std::string &error) const {
  if (offset > e.bytes || bytes > e.bytes - offset) {
    error = "spill file: read past the end of an extent";
    return false;
  }
  uint8_t *p = static_cast<uint8_t *>(dst);
  while (bytes) {
    ssize_t n = ::pread(fd_, p, bytes, static_cast<off_t>(e.offset + offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      error = std::string("cannot read back the temporary spill file: ") +
              (n < 0 ? std::strerror(errno) : "unexpected end of file");
      return false;
    }
    p += n;
    offset += static_cast<size_t>(n);
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

bool SpillFile::read(const Extent &e, std::vector<uint8_t> &out,
                     std::string &error) const {
  out.resize(e.bytes);
  return read(e, 0, out.data(), e.bytes, error);
}

const void *SpillFile::map(const Extent &e) const {
  if (fd_ < 0 || e.bytes == 0)
    return nullptr;
  void *p = ::mmap(nullptr, e.bytes, PROT_READ, MAP_SHARED, fd_,
                   static_cast<off_t>(e.offset));
  return p == MAP_FAILED ? nullptr : p;
}

} // namespace attenuate::params

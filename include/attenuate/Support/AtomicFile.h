//===- AtomicFile.h - write a file all at once or not at all ----*- C++ -*-===//
//
// Every file the tools write (IR, parameter archives, statistics, results)
// goes through this, so that an interrupted or failed run never leaves a
// truncated output and an existing output stays as it was until the new one
// is complete. Plain C++17 and POSIX: the runtime, which builds without LLVM,
// uses it through the Params library.
//
// How: the bytes go to a temporary file in the destination's directory (a
// rename cannot cross file systems) that is flushed to disk and renamed over
// the destination on commit(). Where the file system supports it (Linux
// O_TMPFILE: ext4, xfs, btrfs, tmpfs) the temporary has no name until
// commit(), so even SIGKILL leaves nothing behind; elsewhere it is named
// `<path>.tmp-<pid>-<n>` and removed on every failure the process survives.
//
// Destinations that are not regular files (/dev/null, /dev/stdout, a FIFO)
// cannot be replaced by a rename; they are written in place.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_SUPPORT_ATOMICFILE_H
#define ATTENUATE_SUPPORT_ATOMICFILE_H

#include <cstddef>
#include <string>
#include <string_view>

namespace attenuate {

class AtomicFile {
public:
  enum class Mode {
    Closed,
    Unnamed,  // O_TMPFILE, linked under a name only at commit()
    Named,    // a named temporary beside the destination
    InPlace,  // the destination is a device or FIFO
  };

  AtomicFile() = default;
  /// Discards the temporary unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile &) = delete;
  AtomicFile &operator=(const AtomicFile &) = delete;

  /// Starts writing `path` (not "-": callers handle stdout). On failure
  /// returns false with `error` = "<path>: <reason>". `allowUnnamed` = false
  /// forces a named temporary (tests use it to cover that path).
  bool open(const std::string &path, std::string &error,
            bool allowUnnamed = true);
  /// Appends `size` bytes. On failure the temporary is discarded and `error`
  /// names the destination and the reason ("No space left on device").
  bool write(const void *data, size_t size, std::string &error);
  bool write(std::string_view text, std::string &error) {
    return write(text.data(), text.size(), error);
  }
  /// Flushes the bytes to disk and renames the temporary over the
  /// destination. The file is closed afterwards, whatever the outcome.
  bool commit(std::string &error);
  /// Drops what was written; the destination is untouched.
  void discard();

  /// The descriptor bytes go to, for writers that need one (an
  /// llvm::raw_fd_ostream); -1 when closed.
  int fd() const { return fd_; }
  const std::string &path() const { return path_; }
  Mode mode() const { return mode_; }
  bool isOpen() const { return fd_ >= 0; }

private:
  std::string path_;    // as the caller gave it, for messages
  std::string target_;  // what is replaced: `path_` with symlinks resolved
  std::string tmpPath_; // Named mode only
  int fd_ = -1;
  Mode mode_ = Mode::Closed;
  // A mode to give the new file when it replaces an existing one; -1: keep
  // the default (0666 less the umask).
  int keepMode_ = -1;
};

/// One call for contents already in memory.
bool writeFileAtomically(const std::string &path, std::string_view contents,
                         std::string &error);

} // namespace attenuate

#endif // ATTENUATE_SUPPORT_ATOMICFILE_H

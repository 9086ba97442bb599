//===- AtomicFile.cpp - write a file all at once or not at all ------------===//

#include "attenuate/Support/AtomicFile.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attenuate {

namespace {

std::string errnoText(int err) { return std::strerror(err); }

std::string parentDir(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

/// A name beside `target` that no other writer (thread or process) picks.
std::string temporaryName(const std::string &target) {
  static std::atomic<unsigned> counter{0};
  return target + ".tmp-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

/// So that a crash right after the rename cannot lose the new name.
void syncDirectory(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  (void)::fsync(fd);
  ::close(fd);
}

} // namespace

AtomicFile::~AtomicFile() { discard(); }

bool AtomicFile::open(const std::string &path, std::string &error,
                      bool allowUnnamed) {
  discard();
  path_ = path;
  target_ = path;
  keepMode_ = -1;
  if (path.empty()) {
    error = "<empty path>: cannot write a file with an empty name";
    return false;
  }

  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      error = path + ": cannot write: " + errnoText(EISDIR);
      return false;
    }
    if (!S_ISREG(st.st_mode)) {
      // A device or FIFO: a rename would replace the node itself.
      fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0) {
        error = path + ": cannot write: " + errnoText(errno);
        return false;
      }
      mode_ = Mode::InPlace;
      return true;
    }
    keepMode_ = static_cast<int>(st.st_mode & 07777);
    // Replace the file a symlink points to, not the link.
    struct stat lst;
    if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
      char resolved[PATH_MAX];
      if (::realpath(path.c_str(), resolved))
        target_ = resolved;
    }
  }

  std::string dir = parentDir(target_);
#ifdef O_TMPFILE
  // linkat() names the file through /proc at commit time.
  if (allowUnnamed && ::access("/proc/self/fd", X_OK) == 0) {
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd_ >= 0) {
      mode_ = Mode::Unnamed;
      return true;
    }
    // ENOENT/ENOTDIR/EACCES are the answers a named file would get too;
    // anything else means the file system lacks O_TMPFILE.
    int err = errno;
    if (err == ENOENT || err == ENOTDIR || err == EACCES || err == EROFS ||
        err == ENOSPC || err == EDQUOT) {
      error = path + ": cannot write: " + errnoText(err);
      return false;
    }
  }
#endif
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string tmp = temporaryName(target_);
    fd_ = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) {
      tmpPath_ = tmp;
      mode_ = Mode::Named;
      return true;
    }
    if (errno != EEXIST) {
      error = path + ": cannot write: " + errnoText(errno);
      return false;
    }
  }
  error = path + ": cannot write: every temporary name beside it exists";
  return false;
}

bool AtomicFile::write(const void *data, size_t size, std::string &error) {
  if (fd_ < 0) {
    error = (path_.empty() ? std::string("<file>") : path_) +
            ": write after the file was closed";
    return false;
  }
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t put = ::write(fd_, p, size);
    if (put < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      discard();
      error = path_ + ": write failed: " + errnoText(err);
      return false;
    }
    if (put == 0) {
      discard();
      error = path_ + ": write failed: no progress";
      return false;
    }
    p += put;
    size -= static_cast<size_t>(put);
  }
  return true;
}

bool AtomicFile::commit(std::string &error) {
  if (fd_ < 0) {
    error = (path_.empty() ? std::string("<file>") : path_) +
            ": commit after the file was closed";
    return false;
  }
  if (mode_ == Mode::InPlace) {
    int fd = fd_;
    fd_ = -1;
    mode_ = Mode::Closed;
    if (::close(fd) != 0) {
      error = path_ + ": write failed: " + errnoText(errno);
      return false;
    }
    return true;
  }
  if (keepMode_ >= 0)
    (void)::fchmod(fd_, static_cast<mode_t>(keepMode_));
  // Without fsync before rename, a crash can leave the new name pointing at
  // blocks that were never written.
  if (::fsync(fd_) != 0) {
    int err = errno;
    discard();
    error = path_ + ": write failed: " + errnoText(err);
    return false;
  }
  if (mode_ == Mode::Unnamed) {
    // linkat() cannot replace an existing name, so link under a fresh name
    // and rename that over the destination.
    std::string proc = "/proc/self/fd/" + std::to_string(fd_);
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string tmp = temporaryName(target_);
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(),
                   AT_SYMLINK_FOLLOW) == 0) {
        tmpPath_ = tmp;
        break;
      }
      if (errno != EEXIST) {
        int err = errno;
        discard();
        error = path_ + ": cannot name the new file: " + errnoText(err);
        return false;
      }
    }
    if (tmpPath_.empty()) {
      discard();
      error = path_ + ": cannot name the new file: every candidate name exists";
      return false;
    }
  }
  int fd = fd_;
  fd_ = -1;
  mode_ = Mode::Closed;
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmpPath_.c_str());
    tmpPath_.clear();
    error = path_ + ": write failed: " + errnoText(err);
    return false;
  }
  if (::rename(tmpPath_.c_str(), target_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpPath_.c_str());
    tmpPath_.clear();
    error = path_ + ": cannot replace: " + errnoText(err);
    return false;
  }
  tmpPath_.clear();
  syncDirectory(parentDir(target_));
  return true;
}

void AtomicFile::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!tmpPath_.empty()) {
    ::unlink(tmpPath_.c_str());
    tmpPath_.clear();
  }
  mode_ = Mode::Closed;
}

bool writeFileAtomically(const std::string &path, std::string_view contents,
                         std::string &error) {
  AtomicFile file;
  return file.open(path, error) && file.write(contents, error) &&
         file.commit(error);
}

} // namespace attenuate

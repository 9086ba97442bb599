//===- AtomicFileTest.cpp - outputs appear whole or not at all ------------===//
//
// A killed writer (SIGKILL mid-write, in a child process), a full disk
// (RLIMIT_FSIZE, which fails write() with EFBIG the way a full disk fails it
// with ENOSPC), a destination that cannot be created, and devices that must
// be written in place. Each leaves an existing file as it was and no
// temporary behind.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Support/AtomicFile.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using attenuate::AtomicFile;
using attenuate::writeFileAtomically;

namespace {

class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string templ =
        std::string(base && *base ? base : "/tmp") + "/attn-atomic-XXXXXX";
    if (!::mkdtemp(templ.data()))
      std::abort();
    dir_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string file(const std::string &name) const { return dir_ + "/" + name; }
  /// Names in the directory other than `keep`.
  std::vector<std::string> others(const std::string &keep) const {
    std::vector<std::string> out;
    for (const auto &e : std::filesystem::directory_iterator(dir_))
      if (e.path().filename() != keep)
        out.push_back(e.path().filename().string());
    return out;
  }

private:
  std::string dir_;
};

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeAll(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

const std::string kOld = "the previous output\n";

/// O_TMPFILE depends on the file system under TMPDIR (ext4, xfs, btrfs and
/// tmpfs have it); where it is missing, AtomicFile falls back to a named
/// temporary and the "Unnamed" cases have nothing to test.
bool unnamedSupported(const TempDir &dir) {
  AtomicFile probe;
  std::string error;
  return probe.open(dir.file("probe"), error) &&
         probe.mode() == AtomicFile::Mode::Unnamed;
}

class Modes : public ::testing::TestWithParam<bool> {
protected:
  void SetUp() override {
    if (GetParam() && !unnamedSupported(dir))
      GTEST_SKIP() << "no O_TMPFILE under " << dir.file("");
  }
  TempDir dir;
};

TEST_P(Modes, ReplacesOnlyOnCommit) {
  std::string path = dir.file("out.mlir");
  writeAll(path, kOld);
  AtomicFile f;
  std::string error;
  ASSERT_TRUE(f.open(path, error, /*allowUnnamed=*/GetParam())) << error;
  EXPECT_EQ(f.mode(), GetParam() ? AtomicFile::Mode::Unnamed
                                 : AtomicFile::Mode::Named);
  ASSERT_TRUE(f.write(std::string("new "), error)) << error;
  EXPECT_EQ(readAll(path), kOld);
  ASSERT_TRUE(f.write(std::string("contents"), error)) << error;
  ASSERT_TRUE(f.commit(error)) << error;
  EXPECT_EQ(readAll(path), "new contents");
  EXPECT_TRUE(dir.others("out.mlir").empty());
  EXPECT_FALSE(f.isOpen());
}

TEST_P(Modes, DiscardKeepsTheOldFile) {
  std::string path = dir.file("out.mlir");
  writeAll(path, kOld);
  {
    AtomicFile f;
    std::string error;
    ASSERT_TRUE(f.open(path, error, GetParam())) << error;
    ASSERT_TRUE(f.write(std::string(1000, 'x'), error)) << error;
    // Destroyed without commit(): a failed run.
  }
  EXPECT_EQ(readAll(path), kOld);
  EXPECT_TRUE(dir.others("out.mlir").empty());
}

// The child writes half a file and is killed: nothing it did is visible.
TEST_P(Modes, KilledMidWriteLeavesTheOldFile) {
  std::string path = dir.file("out.mlir");
  writeAll(path, kOld);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    AtomicFile f;
    std::string error;
    if (!f.open(path, error, GetParam()) ||
        !f.write(std::string(1 << 20, 'x'), error))
      ::_exit(2);
    ::kill(::getpid(), SIGKILL);
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(readAll(path), kOld);
  auto left = dir.others("out.mlir");
  if (GetParam()) {
    // O_TMPFILE: the kernel frees a file that never got a name.
    EXPECT_TRUE(left.empty());
  } else {
    // A named temporary cannot be removed by a process killed with
    // SIGKILL; it is left beside the output, under a name that says what
    // it is, and the output itself is intact.
    ASSERT_EQ(left.size(), 1u);
    EXPECT_EQ(left[0].rfind("out.mlir.tmp-", 0), 0u) << left[0];
  }
}

/// Lowers the file size limit for the life of the object, so that write()
/// fails with EFBIG the way it fails with ENOSPC on a full disk.
class FileSizeLimit {
public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old_;
    lim.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lim) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, previous_);
  }
  bool ok() const { return ok_; }

private:
  struct rlimit old_;
  void (*previous_)(int);
  bool ok_;
};

TEST_P(Modes, FullDiskKeepsTheOldFileAndNamesIt) {
  std::string path = dir.file("out.mlir");
  writeAll(path, kOld);
  std::string error;
  bool ok;
  {
    FileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    AtomicFile f;
    ok = f.open(path, error, GetParam()) &&
         f.write(std::string(1 << 16, 'x'), error) && f.commit(error);
  }
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, path + ": write failed: " + std::strerror(EFBIG));
  EXPECT_EQ(readAll(path), kOld);
  EXPECT_TRUE(dir.others("out.mlir").empty());
}

INSTANTIATE_TEST_SUITE_P(AtomicFile, Modes, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool> &info) {
                           return info.param ? "Unnamed" : "Named";
                         });

TEST(AtomicFile, UncreatableDestinationsAreNamed) {
  TempDir dir;
  std::string error;
  std::string missing = dir.file("no/such/dir/out.mlir");
  EXPECT_FALSE(writeFileAtomically(missing, "x", error));
  EXPECT_EQ(error, missing + ": cannot write: " + std::strerror(ENOENT));

  writeAll(dir.file("plain"), kOld);
  std::string underFile = dir.file("plain/out.mlir");
  EXPECT_FALSE(writeFileAtomically(underFile, "x", error));
  EXPECT_EQ(error, underFile + ": cannot write: " + std::strerror(ENOTDIR));
  EXPECT_EQ(readAll(dir.file("plain")), kOld);

  std::string isDir = dir.file("sub");
  ASSERT_EQ(::mkdir(isDir.c_str(), 0755), 0);
  EXPECT_FALSE(writeFileAtomically(isDir, "x", error));
  EXPECT_EQ(error, isDir + ": cannot write: " + std::strerror(EISDIR));

  EXPECT_FALSE(writeFileAtomically("", "x", error));
  EXPECT_NE(error.find("empty"), std::string::npos);
  EXPECT_EQ(dir.others("plain").size(), 1u); // just "sub"
}

TEST(AtomicFile, UnwritableDirectoryKeepsTheOldFile) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root ignores directory permissions; the ENOENT, "
                    "ENOTDIR and EFBIG cases cover the same paths";
  TempDir dir;
  std::string sub = dir.file("ro");
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  std::string path = sub + "/out.mlir";
  writeAll(path, kOld);
  ASSERT_EQ(::chmod(sub.c_str(), 0555), 0);
  std::string error;
  EXPECT_FALSE(writeFileAtomically(path, "x", error));
  ::chmod(sub.c_str(), 0755);
  EXPECT_EQ(error, path + ": cannot write: " + std::strerror(EACCES));
  EXPECT_EQ(readAll(path), kOld);
}

TEST(AtomicFile, DevicesAreWrittenInPlace) {
  AtomicFile f;
  std::string error;
  ASSERT_TRUE(f.open("/dev/null", error)) << error;
  EXPECT_EQ(f.mode(), AtomicFile::Mode::InPlace);
  ASSERT_TRUE(f.write(std::string("discarded"), error)) << error;
  ASSERT_TRUE(f.commit(error)) << error;
  struct stat st;
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));

  // /dev/full: the write fails with ENOSPC, and the message names it.
  if (::access("/dev/full", W_OK) == 0) {
    EXPECT_FALSE(writeFileAtomically("/dev/full", "x", error));
    EXPECT_EQ(error, std::string("/dev/full: write failed: ") +
                         std::strerror(ENOSPC));
  }
}

TEST(AtomicFile, ReplacesTheTargetOfASymlinkAndKeepsItsMode) {
  TempDir dir;
  std::string target = dir.file("real.mlir");
  std::string link = dir.file("link.mlir");
  writeAll(target, kOld);
  ASSERT_EQ(::chmod(target.c_str(), 0640), 0);
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  std::string error;
  ASSERT_TRUE(writeFileAtomically(link, "new", error)) << error;
  struct stat st;
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(readAll(target), "new");
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(AtomicFile, MisuseIsAnErrorNotACrash) {
  AtomicFile f;
  std::string error;
  EXPECT_FALSE(f.write(std::string("x"), error));
  EXPECT_NE(error.find("closed"), std::string::npos);
  EXPECT_FALSE(f.commit(error));
  f.discard();
  TempDir dir;
  ASSERT_TRUE(f.open(dir.file("a"), error)) << error;
  ASSERT_TRUE(f.commit(error)) << error;
  EXPECT_FALSE(f.commit(error)); // committed already
  EXPECT_EQ(readAll(dir.file("a")), "");
}

} // namespace

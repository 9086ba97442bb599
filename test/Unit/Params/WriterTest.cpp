//===- WriterTest.cpp - the writer's atomicity and error reporting --------===//

#include "attenuate/Params/Safetensors.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

using namespace attenuate::params;
using namespace attenuate::params::test;

namespace {

const std::string kOld = "previous contents";

std::vector<SafetensorsWriter::Decl> twoTensors() {
  return {{"a", DType::F32, {2, 2}}, {"b", DType::U8, {3}}};
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

TEST(Writer, WritesATemporaryAndRenamesOnFinish) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  SafetensorsWriter writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, twoTensors(), {}, error)) << error;
  EXPECT_FALSE(exists(path));
  std::string data(19, 'x');
  ASSERT_TRUE(writer.write(data.data(), 16, error)) << error;
  ASSERT_TRUE(writer.write(data.data(), 3, error)) << error;
  EXPECT_FALSE(exists(path));
  ASSERT_TRUE(writer.finish(error)) << error;
  EXPECT_TRUE(exists(path));
  EXPECT_EQ(countTemporaries(dir.path()), 0);
  ASSERT_NE(SafetensorsFile::open(path, error), nullptr) << error;
}

TEST(Writer, ReplacesAnExistingFile) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  writeBytes(path, kOld);
  std::string error;
  float v = 1.5f;
  ASSERT_TRUE(SafetensorsWriter::writeFile(path, {{"v", DType::F32, {}, &v}},
                                           {}, error))
      << error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_NE(file->find("v"), nullptr);
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Writer, DestroyedBeforeFinishLeavesNoTraceAndOldFileIntact) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  writeBytes(path, kOld);
  {
    SafetensorsWriter writer;
    std::string error;
    ASSERT_TRUE(writer.open(path, twoTensors(), {}, error)) << error;
    std::string data(10, 'x');
    ASSERT_TRUE(writer.write(data.data(), data.size(), error)) << error;
  }
  EXPECT_EQ(readBytes(path), kOld);
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Writer, FinishWithMissingBytesFails) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  writeBytes(path, kOld);
  SafetensorsWriter writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, twoTensors(), {}, error)) << error;
  ASSERT_TRUE(writer.write("abcd", 4, error)) << error;
  EXPECT_FALSE(writer.finish(error));
  EXPECT_EQ(error, path + ": only 4 of 19 declared data bytes were written");
  EXPECT_EQ(readBytes(path), kOld);
  EXPECT_EQ(countTemporaries(dir.path()), 0);
  // The writer is closed now; using it again is an error, not a crash.
  EXPECT_FALSE(writer.write("a", 1, error));
  EXPECT_NE(error.find("not open"), std::string::npos);
  EXPECT_FALSE(writer.finish(error));
}

TEST(Writer, WritingPastTheDeclaredSizeFails) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  SafetensorsWriter writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, twoTensors(), {}, error)) << error;
  std::string data(20, 'x');
  EXPECT_FALSE(writer.write(data.data(), data.size(), error));
  EXPECT_NE(error.find("past the declared data size of 19"), std::string::npos)
      << error;
  EXPECT_EQ(error.rfind(path + ": ", 0), 0u);
  EXPECT_FALSE(exists(path));
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Writer, UseBeforeOpenAndDoubleOpen) {
  SafetensorsWriter writer;
  std::string error;
  EXPECT_FALSE(writer.write("a", 1, error));
  EXPECT_NE(error.find("not open"), std::string::npos);
  EXPECT_FALSE(writer.finish(error));
  TempDir dir;
  ASSERT_TRUE(writer.open(dir.file("a"), {}, {}, error)) << error;
  EXPECT_FALSE(writer.open(dir.file("b"), {}, {}, error));
  EXPECT_NE(error.find("already open"), std::string::npos);
  ASSERT_TRUE(writer.finish(error)) << error;
  // After finish the writer may be reused.
  ASSERT_TRUE(writer.open(dir.file("b"), {}, {}, error)) << error;
  ASSERT_TRUE(writer.finish(error)) << error;
  EXPECT_TRUE(exists(dir.file("a")));
  EXPECT_TRUE(exists(dir.file("b")));
}

TEST(Writer, MissingOrNonDirectoryParentIsReported) {
  TempDir dir;
  std::string error;
  SafetensorsWriter writer;
  std::string missing = dir.file("no/such/dir/out.safetensors");
  EXPECT_FALSE(writer.open(missing, twoTensors(), {}, error));
  EXPECT_EQ(error.rfind(missing + ": cannot write", 0), 0u) << error;
  EXPECT_NE(error.find(std::strerror(ENOENT)), std::string::npos) << error;

  writeBytes(dir.file("plain"), kOld);
  std::string underFile = dir.file("plain/out.safetensors");
  EXPECT_FALSE(writer.open(underFile, twoTensors(), {}, error));
  EXPECT_EQ(error.rfind(underFile + ": ", 0), 0u) << error;
  EXPECT_NE(error.find(std::strerror(ENOTDIR)), std::string::npos) << error;
  EXPECT_EQ(readBytes(dir.file("plain")), kOld);
}

TEST(Writer, UnwritableDirectoryIsReportedAndOldFileKept) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root ignores directory permissions; the EFBIG and "
                    "ENOTDIR tests cover the same paths";
  TempDir dir;
  std::string sub = dir.file("ro");
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  std::string path = sub + "/out.safetensors";
  writeBytes(path, kOld);
  ASSERT_EQ(::chmod(sub.c_str(), 0555), 0);
  std::string error;
  EXPECT_FALSE(SafetensorsWriter::writeFile(path, {}, {}, error));
  ::chmod(sub.c_str(), 0755);
  EXPECT_EQ(error.rfind(path + ": cannot write", 0), 0u) << error;
  EXPECT_NE(error.find(std::strerror(EACCES)), std::string::npos) << error;
  EXPECT_EQ(readBytes(path), kOld);
  EXPECT_EQ(countTemporaries(sub), 0);
}

TEST(Writer, FailedDataWriteKeepsOldFileAndRemovesTemporary) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  writeBytes(path, kOld);
  std::vector<uint8_t> big(64 * 1024, 0x5a);
  std::string error;
  bool ok;
  {
    FileSizeLimit limit(4096);
    if (!limit.ok())
      GTEST_SKIP() << "cannot lower RLIMIT_FSIZE";
    ok = SafetensorsWriter::writeFile(
        path,
        {{"big", DType::U8, {static_cast<int64_t>(big.size())}, big.data()}},
        {}, error);
  }
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, path + ": write failed: " + std::strerror(EFBIG));
  EXPECT_EQ(readBytes(path), kOld);
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Writer, FailedHeaderWriteKeepsOldFileAndRemovesTemporary) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  writeBytes(path, kOld);
  std::vector<SafetensorsWriter::Decl> decls;
  for (int i = 0; i < 200; ++i)
    decls.push_back({"tensor." + std::to_string(i), DType::F32, {0}});
  std::string error;
  bool ok;
  {
    FileSizeLimit limit(1024);
    if (!limit.ok())
      GTEST_SKIP() << "cannot lower RLIMIT_FSIZE";
    SafetensorsWriter writer;
    ok = writer.open(path, decls, {}, error);
  }
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, path + ": write failed: " + std::strerror(EFBIG));
  EXPECT_EQ(readBytes(path), kOld);
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Writer, DirectoryDestinationIsRefusedUpFront) {
  TempDir dir;
  std::string path = dir.file("is-a-dir");
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((path + "/keep").c_str(), 0755), 0);
  std::string error;
  EXPECT_FALSE(SafetensorsWriter::writeFile(path, {}, {}, error));
  EXPECT_EQ(error, path + ": cannot write: " + std::strerror(EISDIR));
  EXPECT_TRUE(exists(path + "/keep"));
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

// A rename over /dev/null would replace the device node with a regular
// file (as root, for every process on the machine): devices are written in
// place. A character device made in the test directory stands in for it.
TEST(Writer, DeviceDestinationIsWrittenInPlace) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "mknod needs root";
  TempDir dir;
  std::string dev = dir.file("null");
  ASSERT_EQ(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  float v = 1.0f;
  std::string error;
  ASSERT_TRUE(SafetensorsWriter::writeFile(dev, {{"v", DType::F32, {}, &v}},
                                           {}, error))
      << error;
  struct stat st;
  ASSERT_EQ(::stat(dev.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(Writer, InvalidDeclarationsCreateNothing) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  const struct {
    std::vector<SafetensorsWriter::Decl> decls;
    std::map<std::string, std::string> metadata;
    const char *keyword;
  } cases[] = {
      {{{"", DType::F32, {1}}}, {}, "name is empty"},
      {{{"a", DType::F32, {1}}, {"a", DType::U8, {2}}}, {}, "declared twice"},
      {{{"__metadata__", DType::F32, {1}}}, {}, "reserved"},
      {{{"bad\xff", DType::F32, {1}}}, {}, "UTF-8"},
      {{{"neg", DType::F32, {2, -1}}}, {}, "negative dimension"},
      {{{"big", DType::F64, {1ll << 31, 1ll << 31, 4}}}, {}, "overflows"},
      {{{"x", DType::U8, {1ll << 62}},
        {"y", DType::U8, {1ll << 62}},
        {"z", DType::U8, {1ll << 62}},
        {"w", DType::U8, {1ll << 62}}},
       {},
       "exceed 2^64"},
      {{}, {{"k", "\xc0\xaf"}}, "UTF-8"},
  };
  for (const auto &c : cases) {
    SafetensorsWriter writer;
    std::string error;
    EXPECT_FALSE(writer.open(path, c.decls, c.metadata, error)) << c.keyword;
    EXPECT_NE(error.find(c.keyword), std::string::npos) << error;
    EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_FALSE(exists(path));
    EXPECT_EQ(countTemporaries(dir.path()), 0);
  }
}

TEST(Writer, WriteFileRejectsMissingData) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  writeBytes(path, kOld);
  std::string error;
  EXPECT_FALSE(SafetensorsWriter::writeFile(
      path, {{"w", DType::F32, {4}, nullptr}}, {}, error));
  EXPECT_EQ(error, path + ": tensor \"w\": has no data");
  EXPECT_EQ(readBytes(path), kOld);
  EXPECT_EQ(countTemporaries(dir.path()), 0);
  // Empty tensors need no buffer.
  EXPECT_TRUE(SafetensorsWriter::writeFile(
      path, {{"w", DType::F32, {0}, nullptr}}, {}, error))
      << error;
}

} // namespace

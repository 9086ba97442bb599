//===- TestUtil.h - helpers for the Params unit tests -----------*- C++ -*-===//
#ifndef ATTENUATE_TEST_UNIT_PARAMS_TESTUTIL_H
#define ATTENUATE_TEST_UNIT_PARAMS_TESTUTIL_H

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>

namespace attenuate::params::test {

/// A fresh directory, removed with everything in it when the test ends.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string templ =
        std::string(base && *base ? base : "/tmp") + "/attn-params-XXXXXX";
    if (!::mkdtemp(templ.data()))
      throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return dir_; }
  std::string file(std::string_view name) const {
    return dir_ + "/" + std::string(name);
  }

private:
  std::string dir_;
};

/// 8-byte little-endian header length, header, data. `length` overrides the
/// length field for the rule-1 cases.
inline std::string archive(std::string_view header, std::string_view data = {},
                           std::optional<uint64_t> length = std::nullopt) {
  uint64_t n = length ? *length : header.size();
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  out += data;
  return out;
}

inline std::string zeros(size_t n) { return std::string(n, '\0'); }

inline void writeBytes(const std::string &path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline bool exists(const std::string &path) {
  return ::access(path.c_str(), F_OK) == 0;
}

/// Directory entries whose name contains ".tmp", i.e. writer leftovers
/// (AtomicFile names its temporaries "<path>.tmp-<pid>-<n>" where the file
/// system cannot hold an unnamed one).
inline int countTemporaries(const std::string &dir) {
  int n = 0;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp") != std::string::npos;
  return n;
}

} // namespace attenuate::params::test

#endif // ATTENUATE_TEST_UNIT_PARAMS_TESTUTIL_H

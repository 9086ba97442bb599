//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "attenuate/Execution/Npy.h"
#include "attenuate/Support/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace attenuate;
using namespace attenuate::exec;
using params::DType;

std::string HostTensor::describe() const {
  std::string s(params::dtypeName(dtype));
  s += "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

const struct {
  const char *descr;
  DType dtype;
} kDescrs[] = {{"|b1", DType::BOOL}, {"|u1", DType::U8},  {"|i1", DType::I8},
               {"<u2", DType::U16},  {"<i2", DType::I16}, {"<u4", DType::U32},
               {"<i4", DType::I32},  {"<u8", DType::U64}, {"<i8", DType::I64},
               {"<f2", DType::F16},  {"<f4", DType::F32}, {"<f8", DType::F64}};

/// The value of `'key': value` in numpy's header dict (a Python literal).
bool findValue(const std::string &header, const std::string &key,
               std::string &value) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos)
    return false;
  size_t colon = header.find(':', k);
  if (colon == std::string::npos)
    return false;
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos)
    return false;
  size_t end;
  if (header[start] == '(')
    end = header.find(')', start) + 1;
  else if (header[start] == '\'')
    end = header.find('\'', start + 1) + 1;
  else
    end = header.find_first_of(",}", start);
  if (end == std::string::npos || end == 0 || end <= start)
    return false;
  value = header.substr(start, end - start);
  return true;
}

} // namespace

bool attenuate::exec::readNpy(const std::string &path, HostTensor &out,
                              std::string &error) {
  auto fail = [&](const std::string &msg) {
    error = path + ": " + msg;
    return false;
  };
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return fail("not a .npy file (bad magic)");
  uint8_t major = static_cast<uint8_t>(magic[6]);
  uint64_t headerLen = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char *>(b), 2))
      return fail("truncated header length");
    headerLen = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char *>(b), 4))
      return fail("truncated header length");
    headerLen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint64_t(b[3]) << 24);
  } else {
    return fail("unsupported .npy version " + std::to_string(major));
  }
  if (headerLen > (1u << 20))
    return fail("header too long");
  std::string header(headerLen, '\0');
  if (!f.read(header.data(), headerLen))
    return fail("truncated header");

  std::string descr, fortran, shape;
  if (!findValue(header, "descr", descr) ||
      !findValue(header, "fortran_order", fortran) ||
      !findValue(header, "shape", shape))
    return fail("malformed header (needs descr, fortran_order, shape)");
  if (fortran != "False")
    return fail("Fortran-order arrays are not supported; save with "
                "np.ascontiguousarray");
  descr = descr.substr(1, descr.size() - 2);
  bool found = false;
  for (const auto &d : kDescrs)
    if (descr == d.descr ||
        (descr.size() == 3 && descr[0] == '=' &&
         descr.substr(1) == std::string(d.descr).substr(1))) {
      out.dtype = d.dtype;
      found = true;
    }
  if (!found)
    return fail("unsupported dtype '" + descr +
                "' (little-endian bool, ints and floats only)");
  out.shape.clear();
  std::string dims = shape.substr(1, shape.size() - 2);
  std::stringstream ss(dims);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(' ');
    if (a == std::string::npos)
      continue;
    char *end = nullptr;
    long long v = std::strtoll(item.c_str() + a, &end, 10);
    if (v < 0 || end == item.c_str() + a)
      return fail("bad shape " + shape);
    out.shape.push_back(v);
  }
  uint64_t n = 1;
  for (int64_t d : out.shape) {
    if (d != 0 && n > UINT64_MAX / static_cast<uint64_t>(d))
      return fail("shape overflows");
    n *= static_cast<uint64_t>(d);
  }
  uint64_t bytes = n * params::dtypeSize(out.dtype);
  auto dataStart = f.tellg();
  f.seekg(0, std::ios::end);
  uint64_t avail = static_cast<uint64_t>(f.tellg() - dataStart);
  if (avail != bytes)
    return fail("data holds " + std::to_string(avail) + " bytes but " +
                out.describe() + " needs " + std::to_string(bytes));
  f.seekg(dataStart);
  out.bytes.resize(bytes);
  if (bytes && !f.read(reinterpret_cast<char *>(out.bytes.data()), bytes))
    return fail("read failed");
  return true;
}

bool attenuate::exec::writeNpy(const std::string &path, const HostTensor &t,
                               std::string &error) {
  const char *descr = nullptr;
  for (const auto &d : kDescrs)
    if (d.dtype == t.dtype)
      descr = d.descr;
  if (!descr) {
    error = path + ": dtype " + std::string(params::dtypeName(t.dtype)) +
            " has no .npy equivalent";
    return false;
  }
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i)
    shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : "") +
             (i + 1 < t.shape.size() ? ", " : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header + '\n', padded to 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  unsigned char pre[10] = {0x93,
                           'N',
                           'U',
                           'M',
                           'P',
                           'Y',
                           1,
                           0,
                           static_cast<unsigned char>(header.size() & 0xff),
                           static_cast<unsigned char>(header.size() >> 8)};
  // Temporary beside `path`, renamed on success: a failed or killed run
  // leaves an existing file as it was.
  AtomicFile file;
  return file.open(path, error) && file.write(pre, sizeof pre, error) &&
         file.write(header, error) &&
         file.write(t.bytes.data(), t.bytes.size(), error) &&
         file.commit(error);
}

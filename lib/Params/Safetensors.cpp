//===- Safetensors.cpp - safetensors archives: read (mmap) and write ------===//
//
// The numbered rules in comments are those of shared/RELIABILITY.md
// ("safetensors"). Every message is one line that starts with the file's path
// and names the tensor or field at fault: checkpoints are large and come from
// elsewhere, so "invalid header" alone would send someone to a hex dump.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Safetensors.h"
#include "attenuate/Params/Json.h"

#include "Detail.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attenuate::params {

using detail::describeType;
using detail::SizeError;

namespace {

/// The reference implementation's limit; a longer header is hostile or broken.
constexpr uint64_t kMaxHeaderLength = 100000000;

std::string tensorPrefix(std::string_view name) {
  return "tensor " + json::quote(name) + ": ";
}

std::string hexByte(unsigned char c) {
  static const char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[c >> 4] + kHex[c & 15];
}

std::string errnoText(int err) { return std::strerror(err); }

/// Rule 1. `first8` may be null when `fileSize` < 8. Nothing is allocated
/// before this passes, and `n` is only compared, never added to.
bool checkHeaderLength(const uint8_t *first8, uint64_t fileSize, uint64_t &n,
                       std::string &msg) {
  if (fileSize < 8) {
    msg = "file is " + std::to_string(fileSize) +
          " bytes, too short for the 8-byte header length";
    return false;
  }
  n = detail::loadLE<uint64_t>(first8);
  if (n > kMaxHeaderLength) {
    msg = "header length " + std::to_string(n) + " exceeds the limit of " +
          std::to_string(kMaxHeaderLength) + " bytes";
    return false;
  }
  if (n > fileSize - 8) {
    msg = "header length " + std::to_string(n) + " exceeds the " +
          std::to_string(fileSize - 8) + " bytes that follow the length field";
    return false;
  }
  return true;
}

/// A JSON integer that is not negative (and not "-0") and fits in uint64.
bool nonNegativeInteger(const json::Value &v, uint64_t &out) {
  if (!v.isNumber() || !v.isInteger || v.isNegative || v.integerOverflow)
    return false;
  out = v.magnitude;
  return true;
}

bool parseTensorEntry(const std::string &name, const json::Value &entry,
                      TensorInfo &info, std::string &msg) {
  std::string where = tensorPrefix(name);
  if (name.empty()) {
    msg = "tensor name is empty";
    return false;
  }
  if (!entry.isObject()) {
    msg = where + "entry is not an object";
    return false;
  }
  for (const auto &member : entry.object) {
    if (member.first != "dtype" && member.first != "shape" &&
        member.first != "data_offsets") {
      msg = where + "unknown field " + json::quote(member.first);
      return false;
    }
  }
  const json::Value *dtype = entry.get("dtype");
  const json::Value *shape = entry.get("shape");
  const json::Value *offsets = entry.get("data_offsets");
  const std::pair<const char *, const json::Value *> required[] = {
      {"dtype", dtype}, {"shape", shape}, {"data_offsets", offsets}};
  for (const auto &[field, value] : required) {
    if (!value) {
      msg = where + "missing field \"" + field + "\"";
      return false;
    }
  }

  // Rule 5.
  if (!dtype->isString()) {
    msg = where + "dtype is not a string";
    return false;
  }
  std::optional<DType> parsed = parseDType(dtype->string);
  if (!parsed) {
    msg = where + "unknown dtype " + json::quote(dtype->string);
    return false;
  }
  info.name = name;
  info.dtype = *parsed;

  // Rule 6.
  if (!shape->isArray()) {
    msg = where + "shape is not an array";
    return false;
  }
  info.shape.clear();
  for (size_t k = 0; k < shape->array.size(); ++k) {
    uint64_t dim;
    if (!nonNegativeInteger(shape->array[k], dim) ||
        dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      msg = where + "shape[" + std::to_string(k) +
            "] is not a non-negative 64-bit integer";
      return false;
    }
    info.shape.push_back(static_cast<int64_t>(dim));
  }
  uint64_t count, bytes;
  switch (detail::shapeSize(info.dtype, info.shape, count, bytes)) {
  case SizeError::None:
    break;
  case SizeError::NegativeDim: // excluded above
  case SizeError::CountOverflow:
    msg = where + "element count of " + describeType(info.dtype, info.shape) +
          " overflows 64 bits";
    return false;
  case SizeError::BytesOverflow:
    msg = where + "byte size of " + describeType(info.dtype, info.shape) +
          " overflows 64 bits";
    return false;
  }
  if (!offsets->isArray() || offsets->array.size() != 2) {
    msg = where + "data_offsets is not an array of exactly 2 integers";
    return false;
  }
  for (size_t k = 0; k < 2; ++k) {
    if (!nonNegativeInteger(offsets->array[k], k ? info.end : info.begin)) {
      msg = where + "data_offsets[" + std::to_string(k) +
            "] is not a non-negative 64-bit integer";
      return false;
    }
  }
  std::string offsetText = "data_offsets [" + std::to_string(info.begin) +
                           ", " + std::to_string(info.end) + "]";
  if (info.begin > info.end) {
    msg = where + offsetText + " have begin > end";
    return false;
  }
  if (info.end - info.begin != bytes) {
    msg = where + offsetText + " do not match " + std::to_string(bytes) +
          " bytes of " + describeType(info.dtype, info.shape);
    return false;
  }
  return true;
}

/// Rules 2-7 for the header text; `dataSize` is what follows the header.
bool parseHeader(std::string_view header, uint64_t dataSize,
                 std::vector<TensorInfo> &tensors,
                 std::map<std::string, std::string> &metadata,
                 std::string &msg) {
  // Rule 2.
  if (header.empty() || header[0] != '{') {
    msg = header.empty()
              ? "header is empty; it must start with '{'"
              : "header does not start with '{' (first byte " +
                    hexByte(static_cast<unsigned char>(header[0])) + ")";
    return false;
  }
  size_t bad;
  if (!json::isValidUtf8(header, &bad)) {
    msg = "header is not valid UTF-8 (byte " +
          hexByte(static_cast<unsigned char>(header[bad])) +
          " at header offset " + std::to_string(bad) + ")";
    return false;
  }
  json::Value root;
  std::string jsonError;
  size_t end;
  if (!json::parsePrefix(header, root, jsonError, end)) {
    msg = "header is not valid JSON: " + jsonError;
    return false;
  }
  for (size_t i = end; i < header.size(); ++i) {
    if (header[i] == ' ')
      continue;
    if (header[i] == '\0')
      msg = "header is padded with NUL bytes (header offset " +
            std::to_string(i) + "); only spaces (0x20) may pad it";
    else
      msg = "header has byte " +
            hexByte(static_cast<unsigned char>(header[i])) +
            " after its JSON object (header offset " + std::to_string(i) +
            "); only spaces (0x20) may pad it";
    return false;
  }
  // Rule 3: parsePrefix rejected duplicate keys at every level.
  if (!root.isObject()) {
    msg = "header is not a JSON object";
    return false;
  }

  tensors.clear();
  metadata.clear();
  for (const auto &[key, value] : root.object) {
    if (key == "__metadata__") { // Rule 4.
      if (!value.isObject()) {
        msg = "__metadata__ is not an object of strings";
        return false;
      }
      for (const auto &[mkey, mvalue] : value.object) {
        if (!mvalue.isString()) {
          msg = "__metadata__: value of " + json::quote(mkey) +
                " is not a string";
          return false;
        }
        metadata.emplace(mkey, mvalue.string);
      }
      continue;
    }
    TensorInfo info;
    if (!parseTensorEntry(key, value, info, msg))
      return false;
    tensors.push_back(std::move(info));
  }

  // Rule 7. Ties (empty tensors share offsets) keep header order.
  std::stable_sort(tensors.begin(), tensors.end(),
                   [](const TensorInfo &a, const TensorInfo &b) {
                     return a.begin != b.begin ? a.begin < b.begin
                                               : a.end < b.end;
                   });
  uint64_t cursor = 0;
  const TensorInfo *previous = nullptr;
  for (const TensorInfo &t : tensors) {
    std::string offsetText = "data_offsets [" + std::to_string(t.begin) + ", " +
                             std::to_string(t.end) + "]";
    if (t.begin > cursor) {
      msg = tensorPrefix(t.name) + offsetText +
            (previous
                 ? " leave a gap after tensor " + json::quote(previous->name) +
                       ", which ends at " + std::to_string(cursor)
                 : " leave a gap: the first tensor must begin at 0");
      return false;
    }
    if (t.begin < cursor) {
      msg = tensorPrefix(t.name) + offsetText + " overlap tensor " +
            json::quote(previous->name) + ", which ends at " +
            std::to_string(cursor);
      return false;
    }
    if (t.end > dataSize) {
      msg = tensorPrefix(t.name) + offsetText +
            " extend past the end of the data section (" +
            std::to_string(dataSize) + " bytes)";
      return false;
    }
    cursor = t.end;
    previous = &t;
  }
  if (cursor != dataSize) {
    msg = "data section is " + std::to_string(dataSize) +
          " bytes but the tensors cover only " + std::to_string(cursor) +
          "; trailing bytes are not allowed";
    return false;
  }
  return true;
}

bool readFully(int fd, uint8_t *buf, size_t len, uint64_t offset,
               std::string &msg) {
  while (len > 0) {
    ssize_t got = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      msg = "read failed: " + errnoText(errno);
      return false;
    }
    if (got == 0) {
      msg = "file shrank while being read";
      return false;
    }
    buf += got;
    len -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return true;
}

/// Owns a descriptor for the length of a function.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// Opens `path` read-only and checks that it is a regular file, so that a
/// directory or a FIFO gets a clear message instead of a failed read.
int openRegular(const std::string &path, uint64_t &size, std::string &msg) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    msg = "cannot open: " + errnoText(errno);
    return -1;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    msg = "cannot stat: " + errnoText(errno);
    ::close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    msg = "not a regular file";
    ::close(fd);
    return -1;
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

template <typename Out>
bool readAs(const SafetensorsFile &file, const TensorInfo &t,
            std::vector<Out> &out, const char *outName, std::string &error) {
  std::string where = file.path() + ": " + tensorPrefix(t.name);
  if (!file.hasData()) {
    error = where + "no data (archive opened header-only)";
    return false;
  }
  const uint8_t *src = file.data(t);
  uint64_t count, bytes;
  if (!src ||
      detail::shapeSize(t.dtype, t.shape, count, bytes) != SizeError::None ||
      bytes != t.numBytes()) {
    error = where + "does not describe data of this archive";
    return false;
  }
  if (t.dtype == DType::BOOL) {
    error = where + "cannot convert BOOL to " + outName;
    return false;
  }
  out.resize(count);
  detail::convertElements(t.dtype, src, count, out.data());
  return true;
}

} // namespace

uint64_t TensorInfo::numElements() const {
  uint64_t count = 1;
  for (int64_t dim : shape)
    if (dim < 0 ||
        !detail::checkedMul(count, static_cast<uint64_t>(dim), count))
      return std::numeric_limits<uint64_t>::max();
  return count;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_)
    ::munmap(map_, mapSize_);
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::parse(const uint8_t *data,
                                                        size_t size,
                                                        const std::string &name,
                                                        std::string &error) {
  std::string msg;
  uint64_t n = 0;
  if (!checkHeaderLength(data, size, n, msg)) {
    error = name + ": " + msg;
    return nullptr;
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = name;
  file->owned_.assign(data, data + size);
  const uint8_t *bytes = file->owned_.data();
  std::string_view header(reinterpret_cast<const char *>(bytes) + 8, n);
  file->dataSize_ = size - 8 - n;
  if (!parseHeader(header, file->dataSize_, file->tensors_, file->metadata_,
                   msg)) {
    error = name + ": " + msg;
    return nullptr;
  }
  file->base_ = bytes + 8 + n;
  for (size_t i = 0; i < file->tensors_.size(); ++i)
    file->byName_.emplace(file->tensors_[i].name, i);
  return file;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  std::string msg;
  uint64_t size = 0;
  int fd = openRegular(path, size, msg);
  if (fd < 0) {
    error = path + ": " + msg;
    return nullptr;
  }
  FdCloser closer{fd};
  uint64_t n = 0;
  if (size < 8) {
    checkHeaderLength(nullptr, size, n, msg);
    error = path + ": " + msg;
    return nullptr;
  }
  if (size > std::numeric_limits<size_t>::max()) {
    error = path + ": file is too large to map";
    return nullptr;
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  // MAP_PRIVATE: a process that writes the file later cannot change what
  // pages we have not touched yet into something else through our mapping.
  void *map =
      ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    error = path + ": cannot map: " + errnoText(errno);
    return nullptr;
  }
  file->map_ = map;
  file->mapSize_ = static_cast<size_t>(size);
  const auto *bytes = static_cast<const uint8_t *>(map);
  if (!checkHeaderLength(bytes, size, n, msg)) {
    error = path + ": " + msg;
    return nullptr;
  }
  std::string_view header(reinterpret_cast<const char *>(bytes) + 8, n);
  file->dataSize_ = size - 8 - n;
  if (!parseHeader(header, file->dataSize_, file->tensors_, file->metadata_,
                   msg)) {
    error = path + ": " + msg;
    return nullptr;
  }
  file->base_ = bytes + 8 + n;
  for (size_t i = 0; i < file->tensors_.size(); ++i)
    file->byName_.emplace(file->tensors_[i].name, i);
  return file;
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::openHeader(const std::string &path, std::string &error) {
  std::string msg;
  uint64_t size = 0;
  int fd = openRegular(path, size, msg);
  if (fd < 0) {
    error = path + ": " + msg;
    return nullptr;
  }
  FdCloser closer{fd};
  uint8_t first8[8];
  uint64_t n = 0;
  if (size >= 8 && !readFully(fd, first8, 8, 0, msg)) {
    error = path + ": " + msg;
    return nullptr;
  }
  if (!checkHeaderLength(first8, size, n, msg)) {
    error = path + ": " + msg;
    return nullptr;
  }
  std::string header(static_cast<size_t>(n), '\0');
  if (!readFully(fd, reinterpret_cast<uint8_t *>(header.data()), header.size(),
                 8, msg)) {
    error = path + ": " + msg;
    return nullptr;
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->dataSize_ = size - 8 - n;
  if (!parseHeader(header, file->dataSize_, file->tensors_, file->metadata_,
                   msg)) {
    error = path + ": " + msg;
    return nullptr;
  }
  for (size_t i = 0; i < file->tensors_.size(); ++i)
    file->byName_.emplace(file->tensors_[i].name, i);
  return file;
}

const TensorInfo *SafetensorsFile::find(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t *SafetensorsFile::data(const TensorInfo &t) const {
  if (!base_ || t.begin > t.end || t.end > dataSize_)
    return nullptr;
  return base_ + t.begin;
}

bool SafetensorsFile::readAsF32(const TensorInfo &t, std::vector<float> &out,
                                std::string &error) const {
  return readAs(*this, t, out, "F32", error);
}

bool SafetensorsFile::readAsF64(const TensorInfo &t, std::vector<double> &out,
                                std::string &error) const {
  return readAs(*this, t, out, "F64", error);
}

bool SafetensorsFile::checkFinite(const TensorInfo &t,
                                  std::string &error) const {
  if (!isFloat(t.dtype))
    return true;
  std::string where = path_ + ": " + tensorPrefix(t.name);
  if (!hasData()) {
    error = where + "no data (archive opened header-only)";
    return false;
  }
  const uint8_t *src = data(t);
  uint64_t count, bytes;
  if (!src ||
      detail::shapeSize(t.dtype, t.shape, count, bytes) != SizeError::None ||
      bytes != t.numBytes()) {
    error = where + "does not describe data of this archive";
    return false;
  }
  const char *what = "";
  uint64_t bad = detail::firstNonFinite(t.dtype, src, count, what);
  if (bad == count)
    return true;
  error = where + "element " + std::to_string(bad) + " is " + what;
  return false;
}

// The AtomicFile member discards an unfinished temporary.
SafetensorsWriter::~SafetensorsWriter() = default;

bool SafetensorsWriter::open(const std::string &path,
                             const std::vector<Decl> &decls,
                             const std::map<std::string, std::string> &metadata,
                             std::string &error) {
  if (file_.isOpen()) {
    error = path + ": writer is already open for " + path_;
    return false;
  }
  // Everything the reader would reject is refused here, before any file
  // exists, so a writer never produces an archive we cannot read back.
  for (const auto &[key, value] : metadata) {
    if (!json::isValidUtf8(key) || !json::isValidUtf8(value)) {
      error = path + ": __metadata__: entry " + json::quote(key) +
              " is not valid UTF-8";
      return false;
    }
  }
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto &[key, value] : metadata) {
      if (!first)
        header += ',';
      first = false;
      header += json::quote(key) + ':' + json::quote(value);
    }
    header += '}';
  }
  std::set<std::string_view> seen;
  uint64_t offset = 0;
  for (const Decl &d : decls) {
    std::string where = path + ": " + tensorPrefix(d.name);
    if (d.name.empty()) {
      error = path + ": tensor name is empty";
      return false;
    }
    if (d.name == "__metadata__" || !json::isValidUtf8(d.name)) {
      error = where + "name is reserved or not valid UTF-8";
      return false;
    }
    if (!seen.insert(d.name).second) {
      error = where + "declared twice";
      return false;
    }
    uint64_t count, bytes, end;
    switch (detail::shapeSize(d.dtype, d.shape, count, bytes)) {
    case SizeError::None:
      break;
    case SizeError::NegativeDim:
      error = where + "shape " + describeType(d.dtype, d.shape) +
              " has a negative dimension";
      return false;
    case SizeError::CountOverflow:
    case SizeError::BytesOverflow:
      error = where + "byte size of " + describeType(d.dtype, d.shape) +
              " overflows 64 bits";
      return false;
    }
    if (bytes > std::numeric_limits<uint64_t>::max() - offset) {
      error = where + "data section would exceed 2^64 bytes";
      return false;
    }
    end = offset + bytes;
    if (header.size() > 1)
      header += ',';
    header += json::quote(d.name) + ":{\"dtype\":\"" +
              std::string(dtypeName(d.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < d.shape.size(); ++i) {
      if (i)
        header += ',';
      header += std::to_string(d.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + ',' +
              std::to_string(end) + "]}";
    offset = end;
  }
  header += '}';
  // The 8-byte length plus a header of a multiple of 8 keeps the data
  // section 8-aligned for readers that map it.
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxHeaderLength) {
    error = path + ": header would be " + std::to_string(header.size()) +
            " bytes, over the limit of " + std::to_string(kMaxHeaderLength);
    return false;
  }

  path_ = path;
  if (!file_.open(path, error))
    return false;
  uint8_t length[8];
  for (size_t i = 0; i < 8; ++i)
    length[i] =
        static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  if (!file_.write(length, 8, error) || !file_.write(header, error))
    return false;
  expected_ = offset;
  written_ = 0;
  return true;
}

bool SafetensorsWriter::write(const void *data, size_t bytes,
                              std::string &error) {
  if (!file_.isOpen()) {
    error = (path_.empty() ? std::string("<writer>") : path_) +
            ": writer is not open";
    return false;
  }
  if (bytes > expected_ - written_) {
    file_.discard();
    error = path_ + ": " + std::to_string(bytes) +
            " bytes written past the declared data size of " +
            std::to_string(expected_);
    return false;
  }
  if (!file_.write(data, bytes, error))
    return false;
  written_ += bytes;
  return true;
}

bool SafetensorsWriter::finish(std::string &error) {
  if (!file_.isOpen()) {
    error = (path_.empty() ? std::string("<writer>") : path_) +
            ": writer is not open";
    return false;
  }
  if (written_ != expected_) {
    file_.discard();
    error = path_ + ": only " + std::to_string(written_) + " of " +
            std::to_string(expected_) + " declared data bytes were written";
    return false;
  }
  // fsync, then the rename.
  return file_.commit(error);
}

bool SafetensorsWriter::writeFile(
    const std::string &path, const std::vector<TensorToWrite> &tensors,
    const std::map<std::string, std::string> &metadata, std::string &error) {
  std::vector<Decl> decls;
  decls.reserve(tensors.size());
  for (const TensorToWrite &t : tensors)
    decls.push_back({t.name, t.dtype, t.shape});
  SafetensorsWriter writer;
  if (!writer.open(path, decls, metadata, error))
    return false;
  for (const TensorToWrite &t : tensors) {
    uint64_t count, bytes;
    detail::shapeSize(t.dtype, t.shape, count, bytes); // validated by open
    if (bytes > std::numeric_limits<size_t>::max()) {
      error = path + ": " + tensorPrefix(t.name) + "too large for memory";
      return false;
    }
    if (bytes > 0 && !t.data) {
      error = path + ": " + tensorPrefix(t.name) + "has no data";
      return false;
    }
    if (!writer.write(t.data, static_cast<size_t>(bytes), error))
      return false;
  }
  return writer.finish(error);
}

} // namespace attenuate::params

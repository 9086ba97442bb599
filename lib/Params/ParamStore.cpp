//===- ParamStore.cpp - named parameters over archives + in-memory ones ---===//

#include "attenuate/Params/ParamStore.h"
#include "attenuate/Params/Json.h"

#include "Detail.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <cstdlib>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attenuate::params {

using detail::SizeError;

namespace {

/// An index.json is a few hundred kilobytes even for the largest models; the
/// bound keeps a wrong path (a multi-gigabyte shard) from being slurped.
constexpr uint64_t kMaxIndexSize = 100000000;

const char kMemorySource[] = "<memory>";

bool endsWith(const std::string &s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         std::string_view(s).substr(s.size() - suffix.size()) == suffix;
}

std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string joinPath(const std::string &dir, const std::string &file) {
  if (dir.empty())
    return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

/// An index comes with a downloaded checkpoint; it must not make us open
/// files outside the checkpoint's directory.
bool isContainedRelativePath(const std::string &p) {
  if (p.empty() || p[0] == '/')
    return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string::npos)
      slash = p.size();
    if (p.compare(start, slash - start, "..") == 0 && slash - start == 2)
      return false;
    start = slash + 1;
  }
  return true;
}

bool readTextFile(const std::string &path, std::string &out,
                  std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    ::close(fd);
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxIndexSize) {
    error = path + ": file is larger than " + std::to_string(kMaxIndexSize) +
            " bytes";
    ::close(fd);
    return false;
  }
  out.clear();
  char buf[65536];
  while (true) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      error = path + ": read failed: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (got == 0)
      break;
    out.append(buf, static_cast<size_t>(got));
    if (out.size() > kMaxIndexSize) {
      error = path + ": file grew past " + std::to_string(kMaxIndexSize) +
              " bytes while being read";
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

std::string tensorPrefix(const std::string &name) {
  return "tensor " + json::quote(name) + ": ";
}

template <typename Out>
bool readParam(const ParamStore &store, const std::string &name,
               std::vector<Out> &out, const char *outName, std::string &error) {
  const ParamRef *ref = store.lookup(name);
  if (!ref) {
    error = "unknown parameter " + json::quote(name);
    return false;
  }
  std::string where = ref->source + ": " + tensorPrefix(name);
  uint64_t count, bytes;
  if (detail::shapeSize(ref->dtype, ref->shape, count, bytes) !=
      SizeError::None) {
    error = where + "invalid shape";
    return false;
  }
  if (ref->dtype == DType::BOOL) {
    error = where + "cannot convert BOOL to " + outName;
    return false;
  }
  if (!ref->data && count > 0) {
    error = where + "no data (archive opened header-only)";
    return false;
  }
  out.resize(count);
  if (count > 0)
    detail::convertElements(ref->dtype, ref->data, count, out.data());
  return true;
}

} // namespace

bool readShardIndex(const std::string &indexPath,
                    std::map<std::string, std::string> &weightMap,
                    std::string &error) {
  std::string text;
  if (!readTextFile(indexPath, text, error))
    return false;
  json::Value root;
  std::string jsonError;
  if (!json::parse(text, root, jsonError)) {
    error = indexPath + ": not valid JSON: " + jsonError;
    return false;
  }
  if (!root.isObject()) {
    error = indexPath + ": top level is not a JSON object";
    return false;
  }
  if (const json::Value *metadata = root.get("metadata");
      metadata && !metadata->isObject()) {
    error = indexPath + ": \"metadata\" is not an object";
    return false;
  }
  const json::Value *map = root.get("weight_map");
  if (!map) {
    error = indexPath + ": missing field \"weight_map\"";
    return false;
  }
  if (!map->isObject()) {
    error = indexPath + ": \"weight_map\" is not an object";
    return false;
  }
  std::map<std::string, std::string> result;
  for (const auto &[name, shard] : map->object) {
    std::string where = indexPath + ": weight_map: " + tensorPrefix(name);
    if (name.empty()) {
      error = indexPath + ": weight_map: tensor name is empty";
      return false;
    }
    if (!shard.isString()) {
      error = where + "shard is not a string";
      return false;
    }
    if (!isContainedRelativePath(shard.string)) {
      error = where + "shard " + json::quote(shard.string) +
              " is not a relative path inside the index's directory";
      return false;
    }
    result.emplace(name, shard.string);
  }
  weightMap = std::move(result);
  return true;
}

bool ParamStore::addArchive(const std::string &path, std::string &error) {
  // Shard path -> names the index promises it holds.
  std::map<std::string, std::vector<std::string>> shards;
  bool isIndex = endsWith(path, ".json");
  if (isIndex) {
    std::map<std::string, std::string> weightMap;
    if (!readShardIndex(path, weightMap, error))
      return false;
    std::string dir = directoryOf(path);
    for (const auto &[name, shard] : weightMap)
      shards[joinPath(dir, shard)].push_back(name);
  } else {
    shards[path];
  }

  // Nothing is committed until every shard is open and checked, so a failed
  // call leaves the store as it was.
  std::vector<std::unique_ptr<SafetensorsFile>> opened;
  std::map<std::string, ParamRef> staged;
  for (const auto &[shardPath, expected] : shards) {
    std::unique_ptr<SafetensorsFile> file =
        headerOnly_ ? SafetensorsFile::openHeader(shardPath, error)
                    : SafetensorsFile::open(shardPath, error);
    if (!file) {
      if (isIndex)
        error += " (shard listed in " + path + ")";
      return false;
    }
    for (const std::string &name : expected) {
      if (!file->find(name)) {
        error = path + ": " + tensorPrefix(name) + "listed in shard " +
                json::quote(shardPath) + ", which has no such tensor";
        return false;
      }
    }
    for (const TensorInfo &t : file->tensors()) {
      const ParamRef *other = nullptr;
      if (auto it = fromArchives_.find(t.name); it != fromArchives_.end())
        other = &it->second;
      else if (auto st = staged.find(t.name); st != staged.end())
        other = &st->second;
      if (other) {
        error = "duplicate " + tensorPrefix(t.name) + "in " + other->source +
                " and in " + shardPath;
        return false;
      }
      ParamRef ref;
      ref.name = t.name;
      ref.dtype = t.dtype;
      ref.shape = t.shape;
      ref.data = file->data(t);
      ref.source = shardPath;
      staged.emplace(t.name, std::move(ref));
    }
    opened.push_back(std::move(file));
  }
  archives_.push_back(path);
  for (auto &file : opened)
    files_.push_back(std::move(file));
  fromArchives_.merge(staged);
  return true;
}

const ParamRef *ParamStore::lookup(const std::string &name) const {
  if (auto it = added_.find(name); it != added_.end())
    return &it->second.ref;
  if (auto it = fromArchives_.find(name); it != fromArchives_.end())
    return &it->second;
  return nullptr;
}

std::vector<std::string> ParamStore::names() const {
  std::set<std::string> all;
  for (const auto &entry : fromArchives_)
    all.insert(entry.first);
  for (const auto &entry : added_)
    all.insert(entry.first);
  return {all.begin(), all.end()};
}

bool ParamStore::addTensor(const std::string &name, DType dtype,
                           std::vector<int64_t> shape,
                           std::vector<uint8_t> bytes, std::string &error) {
  std::string where = std::string(kMemorySource) + ": " + tensorPrefix(name);
  if (name.empty()) {
    error = std::string(kMemorySource) + ": tensor name is empty";
    return false;
  }
  if (name == "__metadata__" || !json::isValidUtf8(name)) {
    error = where + "name is reserved or not valid UTF-8";
    return false;
  }
  uint64_t count, expected;
  switch (detail::shapeSize(dtype, shape, count, expected)) {
  case SizeError::None:
    break;
  case SizeError::NegativeDim:
    error = where + "shape " + detail::describeType(dtype, shape) +
            " has a negative dimension";
    return false;
  case SizeError::CountOverflow:
  case SizeError::BytesOverflow:
    error = where + "byte size of " + detail::describeType(dtype, shape) +
            " overflows 64 bits";
    return false;
  }
  if (bytes.size() != expected) {
    error = where + std::to_string(bytes.size()) + " bytes do not match " +
            std::to_string(expected) + " bytes of " +
            detail::describeType(dtype, shape);
    return false;
  }
  Added &slot = added_[name];
  unmap(slot);
  slot.bytes = std::move(bytes);
  slot.ref.name = name;
  slot.ref.dtype = dtype;
  slot.ref.shape = std::move(shape);
  slot.ref.data = slot.bytes.data();
  slot.ref.source = kMemorySource;
  if (slot.bytes.size() >= kSpillBytes)
    spill(slot); // on failure the bytes simply stay in memory
  return true;
}

bool ParamStore::spill(Added &slot) {
  SpillFile::Extent extent;
  if (!spill_.put(slot.bytes.data(), slot.bytes.size(), extent))
    return false;
  const void *map = spill_.map(extent);
  if (!map)
    return false;
  slot.extent = extent;
  slot.mapping = map;
  slot.ref.data = static_cast<const uint8_t *>(map);
  std::vector<uint8_t>().swap(slot.bytes);
  return true;
}

void ParamStore::unmap(Added &slot) {
  if (slot.mapping)
    ::munmap(const_cast<void *>(slot.mapping), slot.extent.bytes);
  slot.mapping = nullptr;
}

ParamStore::~ParamStore() {
  for (auto &entry : added_)
    unmap(entry.second);
}

bool ParamStore::writeAdded(const std::string &path, std::string &error) const {
  std::vector<SafetensorsWriter::Decl> decls;
  decls.reserve(added_.size());
  for (const auto &[name, added] : added_)
    decls.push_back({name, added.ref.dtype, added.ref.shape});
  SafetensorsWriter writer;
  if (!writer.open(path, decls, {}, error))
    return false;
  std::vector<uint8_t> chunk;
  for (const auto &[name, added] : added_) {
    if (!added.mapping) {
      if (!writer.write(added.bytes.data(), added.bytes.size(), error))
        return false;
      continue;
    }
    // pread, not the mapping: reading through it would make every spilled
    // tensor resident in this process at once.
    chunk.resize(std::min<size_t>(added.extent.bytes, size_t(8) << 20));
    for (size_t done = 0; done < added.extent.bytes;) {
      size_t n = std::min(chunk.size(), added.extent.bytes - done);
      std::string readError;
      if (!spill_.read(added.extent, done, chunk.data(), n, readError)) {
        error = path + ": tensor \"" + name + "\": " + readError;
        return false;
      }
      if (!writer.write(chunk.data(), n, error))
        return false;
      done += n;
    }
  }
  return writer.finish(error);
}

bool ParamStore::readAsF32(const std::string &name, std::vector<float> &out,
                           std::string &error) const {
  return readParam(*this, name, out, "F32", error);
}

bool ParamStore::readAsF64(const std::string &name, std::vector<double> &out,
                           std::string &error) const {
  return readParam(*this, name, out, "F64", error);
}

} // namespace attenuate::params

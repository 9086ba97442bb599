//===- ParamStore.h - named parameters over archives + new in-memory ones ---===//
//
// `attn.param "name"` resolves here. Archives (single safetensors files, or a
// sharded checkpoint's model.safetensors.index.json) are consulted in the
// order given; tensors added in memory (by rewrite passes) take precedence and
// are written out with writeAdded().
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_PARAMS_PARAMSTORE_H
#define ATTENUATE_PARAMS_PARAMSTORE_H

#include "attenuate/Params/Safetensors.h"
#include "attenuate/Params/SpillFile.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace attenuate::params {

/// Parses a Hugging Face `model.safetensors.index.json`: the weight_map from
/// tensor name to shard file name (relative to the index's directory).
/// Returns false with a one-line `error` naming the file and the field.
bool readShardIndex(const std::string &indexPath,
                    std::map<std::string, std::string> &weightMap,
                    std::string &error);

/// A resolved parameter: where its bytes are and what they are.
struct ParamRef {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; // nullptr when the archive is header-only
  std::string source;            // archive path, or "<memory>"
};

class ParamStore {
public:
  /// `headerOnly`: archives are opened with SafetensorsFile::openHeader (shapes
  /// only; data pointers are null). Used by import/report on huge checkpoints.
  explicit ParamStore(bool headerOnly = false) : headerOnly_(headerOnly) {}
  ~ParamStore();
  ParamStore(const ParamStore &) = delete;
  ParamStore &operator=(const ParamStore &) = delete;

  /// Adds a .safetensors file, or an index.json (which adds all its shards and
  /// checks that every tensor it lists exists in the shard it names).
  /// Duplicate tensor names across archives are an error naming both files.
  bool addArchive(const std::string &path, std::string &error);
  const std::vector<std::string> &archivePaths() const { return archives_; }

  /// nullptr if unknown.
  const ParamRef *lookup(const std::string &name) const;
  /// All names, archives and memory, sorted.
  std::vector<std::string> names() const;

  /// Adds (or replaces) an in-memory tensor; `bytes` must match dtype x shape.
  /// Tensors of kSpillBytes or more are moved to an unlinked temporary file
  /// and mapped back read-only, so that a pass creating many large weights
  /// (attn-lowrank on an 8B model: 334 MiB a layer) keeps them in the page
  /// cache rather than in the process's memory until writeAdded.
  bool addTensor(const std::string &name, DType dtype,
                 std::vector<int64_t> shape, std::vector<uint8_t> bytes,
                 std::string &error);
  bool hasAddedTensors() const { return !added_.empty(); }
  /// Writes the in-memory tensors as one safetensors file (atomically);
  /// spilled tensors are copied from the temporary file in chunks, never
  /// mapped whole.
  bool writeAdded(const std::string &path, std::string &error) const;

  /// f32 copy of a parameter (converting from its dtype).
  bool readAsF32(const std::string &name, std::vector<float> &out,
                 std::string &error) const;
  /// f64 copy of a parameter (converting from its dtype).
  bool readAsF64(const std::string &name, std::vector<double> &out,
                 std::string &error) const;

private:
  bool headerOnly_;
  std::vector<std::string> archives_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, ParamRef> fromArchives_;
  struct Added {
    ParamRef ref;
    std::vector<uint8_t> bytes;
    // Spilled: bytes is empty, the data is `extent` of spill_, mapped (for
    // ParamRef::data) at `mapping`.
    SpillFile::Extent extent;
    const void *mapping = nullptr;
  };
  /// Moves `slot.bytes` to the spill file; false (bytes kept) if the file
  /// cannot be written or mapped.
  bool spill(Added &slot);
  void unmap(Added &slot);
  std::map<std::string, Added> added_;
  SpillFile spill_;

public:
  static constexpr size_t kSpillBytes = size_t(16) << 20;
};

} // namespace attenuate::params

#endif // ATTENUATE_PARAMS_PARAMSTORE_H

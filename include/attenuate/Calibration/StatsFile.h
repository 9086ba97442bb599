//===- StatsFile.h - reading calibration statistics --------------*- C++ -*-===//
//
// What compression passes read: the safetensors file attn-calibrate writes.
// It records the model it was measured on (metadata "source", the module's
// attn.source attribute as printed), so stats of another model are refused.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_CALIBRATION_STATSFILE_H
#define ATTENUATE_CALIBRATION_STATSFILE_H

#include "attenuate/Numerics/Matrix.h"
#include "attenuate/Params/Safetensors.h"

#include <memory>
#include <string>

namespace attenuate::calibration {

class StatsFile {
public:
  /// Opens and checks the file is a stats file (metadata attn.stats).
  static std::unique_ptr<StatsFile> open(const std::string &path,
                                         std::string &error);

  const std::string &path() const { return file_->path(); }
  /// The "source" metadata: the calibrated module's attn.source attribute.
  std::string source() const;
  /// False (with an error naming the file) unless `source` matches.
  bool checkSource(const std::string &source, std::string &error) const;

  bool has(const std::string &key) const { return file_->find(key); }
  /// A 2-D tensor (any float dtype) as an fp64 matrix; `key` must exist.
  bool matrix(const std::string &key, numerics::Matrix &out,
              std::string &error) const;
  /// Slice `index` of a 3-D tensor [n, rows, cols] as a matrix (R_P heads,
  /// similarity per head).
  bool matrixSlice(const std::string &key, int64_t index,
                   numerics::Matrix &out, std::string &error) const;
  const params::SafetensorsFile &file() const { return *file_; }

private:
  std::unique_ptr<params::SafetensorsFile> file_;
};

} // namespace attenuate::calibration

#endif

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
#include <vector>

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
  /// The diagonal of a square 2-D tensor (any float dtype) as fp64, reading
  /// only those n elements from the file (A3's MLP scores need only
  /// diag(R_d); all of R_d is 14336² doubles = 1.6 GB on an 8B model).
  bool diagonal(const std::string &key, std::vector<double> &out,
                std::string &error) const;
  const params::SafetensorsFile &file() const { return *file_; }

private:
  /// Returns the pages of `t` the reads above touched to the kernel (the
  /// values were copied): a stats file is mapped whole, and otherwise every
  /// layer's Grams would stay resident until the file is closed.
  void release(const params::TensorInfo &t) const;

  std::unique_ptr<params::SafetensorsFile> file_;
};

} // namespace attenuate::calibration

#endif

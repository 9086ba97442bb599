//===- TensorFiles.h - tool inputs, results and references ------*- C++ -*-===//
//
// How attn-run (compiled modules) and attn-exec (runtime plans) take their
// --input files, write their --output files and check --compare references,
// so the two tools agree on every file and every printed line.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_EXECUTION_TENSORFILES_H
#define ATTENUATE_EXECUTION_TENSORFILES_H

#include "attenuate/Execution/HostTensor.h"

#include <string>
#include <vector>

namespace attenuate::exec {

/// Appends the tensors of each file, in order: every tensor of a
/// .safetensors file (in file order), or the array of a .npy file. Errors
/// name the file.
bool readInputFiles(const std::vector<std::string> &paths,
                    std::vector<HostTensor> &out, std::string &error);

/// One .safetensors path gets every result (as result0, result1, ...);
/// otherwise each path gets the .npy of the result at its position. More
/// paths than results is an error. Files are written whole or not at all.
bool writeResultFiles(const std::vector<std::string> &paths,
                      const std::vector<HostTensor> &results,
                      std::string &error);

/// Elementwise agreement of a result with its reference.
struct Comparison {
  double maxAbs = 0, maxRel = 0;
  uint64_t outside = 0, count = 0; // elements beyond atol + rtol·|ref|
  bool pass() const { return outside == 0; }
  /// "NAME: max abs error 1.2e-07, max rel error ..., 0/64 elements outside
  /// atol A + rtol R -> PASS"
  std::string summary(const std::string &name, double atol, double rtol) const;
};

/// Compares each result with the .npy reference at its position, appending
/// one summary line per reference to `lines`. False with `error` (naming
/// the file, or the result whose shape differs) when a comparison cannot be
/// made; `allPass` says whether every element was within tolerance.
bool compareWithFiles(const std::vector<std::string> &paths,
                      const std::vector<HostTensor> &results, double atol,
                      double rtol, std::vector<std::string> &lines,
                      bool &allPass, std::string &error);

} // namespace attenuate::exec

#endif

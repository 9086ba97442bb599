//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
#ifndef ATTENUATE_EXECUTION_NPY_H
#define ATTENUATE_EXECUTION_NPY_H

#include "attenuate/Execution/HostTensor.h"

#include <string>

namespace attenuate::exec {

/// Reads a version 1/2/3 .npy holding a little-endian, C-order array of
/// bool, int8..int64, uint8..uint64, float16, float32 or float64. Errors name
/// the file and what is wrong (one line).
bool readNpy(const std::string &path, HostTensor &out, std::string &error);

/// Writes a version 1.0 .npy (to a temporary file, renamed on success, so an
/// existing file is never left truncated).
bool writeNpy(const std::string &path, const HostTensor &t, std::string &error);

} // namespace attenuate::exec

#endif

//===- Error.cpp - the per-thread message behind attn_cuda_last_error -----===//
//
// Like errno: each entry point clears it and a failure sets it on the
// calling thread. A fixed buffer, so reporting never allocates.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <cstdio>

namespace attenuate::cuda::host {

namespace {
constexpr size_t kMessageCapacity = 1024;
thread_local char lastError[kMessageCapacity] = "";
} // namespace

int fail(int code, const std::string &message) {
  std::snprintf(lastError, kMessageCapacity, "%s", message.c_str());
  return code;
}

void clearError() { lastError[0] = '\0'; }

} // namespace attenuate::cuda::host

extern "C" const char *attn_cuda_last_error(void) {
  return attenuate::cuda::host::lastError;
}

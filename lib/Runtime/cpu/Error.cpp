//===- Error.cpp - per-thread kernel errors, process-wide adapter errors --===//
//
// Kernels report to their caller's thread (attn_last_error), like errno.
// Adapters cannot return anything to JIT-compiled code, and that code may run
// on any thread, so they record into one process-wide slot that the host
// reads with attn_rt_take_error after the call.
//
// Messages live in fixed buffers: reporting an out-of-memory error must not
// itself allocate.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <cstdio>
#include <cstring>
#include <mutex>

namespace attenuate::runtime::detail {

namespace {

constexpr size_t kMessageCapacity = 1024;

thread_local char lastError[kMessageCapacity] = "";

std::mutex adapterMutex;
bool adapterHasError = false;
char adapterError[kMessageCapacity];
/// What attn_rt_take_error returned last on this thread; the pointer must
/// outlive the call, and another thread may record a new error meanwhile.
thread_local char takenError[kMessageCapacity];

void copyMessage(char *dst, const char *src) {
  std::snprintf(dst, kMessageCapacity, "%s", src);
}

} // namespace

int fail(int code, const std::string &message) {
  copyMessage(lastError, message.c_str());
  return code;
}

int fail(int code, const char *op, const char *text) noexcept {
  std::snprintf(lastError, kMessageCapacity, "%s: %s", op, text);
  return code;
}

void clearError() { lastError[0] = '\0'; }

void recordAdapterError(const char *adapter, const char *message) noexcept {
  std::lock_guard<std::mutex> lock(adapterMutex);
  if (adapterHasError)
    return;
  std::snprintf(adapterError, kMessageCapacity, "%s: %s", adapter, message);
  adapterHasError = true;
}

} // namespace attenuate::runtime::detail

using namespace attenuate::runtime::detail;

extern "C" const char *attn_last_error(void) { return lastError; }

extern "C" const char *attn_rt_take_error(void) {
  std::lock_guard<std::mutex> lock(adapterMutex);
  if (!adapterHasError)
    return nullptr;
  std::memcpy(takenError, adapterError, kMessageCapacity);
  adapterHasError = false;
  return takenError;
}

// Compiled code reports conditions it could not check statically (see
// convert-attn-to-linalg's checks=report) by code, so it needs no strings.
extern "C" void attn_rt_report_error(int64_t code) {
  switch (code) {
  case 1:
    recordAdapterError("attn.cache_update",
                       "write past the cache capacity (position + new "
                       "tokens > capacity); the cache was left unchanged");
    return;
  case 2:
    recordAdapterError("attn.cache_update",
                       "negative position; the cache was left unchanged");
    return;
  default:
    recordAdapterError("attn_rt_report_error", "unknown error code");
  }
}

//===- json.cpp - fuzz the strict JSON reader -----------------------------===//
//
// Beyond "no crash": what parse accepts must be valid UTF-8, and every
// string it returns must survive quote() -> parse() unchanged (writers and
// messages rely on quote()).
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Json.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace attenuate;

static void checkStrings(const json::Value &v, int depth) {
  if (depth > 1000)
    return;
  auto roundTrip = [](const std::string &s) {
    json::Value back;
    std::string error;
    if (!json::parse(json::quote(s), back, error) || !back.isString() ||
        back.string != s) {
      std::fprintf(stderr, "quote() does not round-trip: %s\n", error.c_str());
      std::abort();
    }
  };
  switch (v.kind) {
  case json::Value::Kind::String:
    roundTrip(v.string);
    break;
  case json::Value::Kind::Array:
    for (const json::Value &e : v.array)
      checkStrings(e, depth + 1);
    break;
  case json::Value::Kind::Object:
    for (const auto &[key, value] : v.object) {
      roundTrip(key);
      if (v.get(key) != &value)
        std::abort(); // keys are unique, so get() finds this one
      checkStrings(value, depth + 1);
    }
    break;
  default:
    break;
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  json::Value value;
  std::string error;
  bool ok = json::parse(text, value, error);
  if (ok) {
    if (!json::isValidUtf8(text))
      std::abort();
    checkStrings(value, 0);
  } else if (error.empty()) {
    std::abort();
  }

  json::Value prefix;
  size_t end = 0;
  if (json::parsePrefix(text, prefix, error, end) && end > size)
    std::abort();

  size_t bad = 0;
  if (!json::isValidUtf8(text, &bad) && bad >= size)
    std::abort();
  // quote() of arbitrary bytes is always valid JSON.
  json::Value quoted;
  if (!json::parse(json::quote(text), quoted, error))
    std::abort();
  return 0;
}

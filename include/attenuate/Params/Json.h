//===- Json.h - a small strict JSON reader --------------------------------===//
//
// Strict where safetensors needs it (UTF-8 validated, duplicate keys
// detected, integers kept exact up to 64 bits) and dependency-free, so the
// runtime can use it without LLVM. Also reads Hugging Face config.json.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_PARAMS_JSON_H
#define ATTENUATE_PARAMS_JSON_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace attenuate::json {

class Value {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;          // every number
  bool isInteger = false;     // written without fraction/exponent
  bool isNegative = false;
  uint64_t magnitude = 0;     // exact |value| when isInteger and it fits u64
  bool integerOverflow = false; // isInteger but |value| > UINT64_MAX
  std::string string;
  std::vector<Value> array;
  // Object members in source order (keys unique; parse rejects duplicates).
  std::vector<std::pair<std::string, Value>> object;

  const Value *get(std::string_view key) const; // objects only; else nullptr
  bool isObject() const { return kind == Kind::Object; }
  bool isArray() const { return kind == Kind::Array; }
  bool isString() const { return kind == Kind::String; }
  bool isNumber() const { return kind == Kind::Number; }
  /// Exact non-negative integer that fits in uint64 / int64.
  bool asU64(uint64_t &out) const;
  bool asI64(int64_t &out) const;
};

/// Parses a complete JSON text (surrounding whitespace allowed). On error
/// returns false and sets `error` to a message with the byte offset, e.g.
/// "duplicate key \"a\" at offset 17". Nesting depth is limited (no stack
/// overflow on hostile input).
bool parse(std::string_view text, Value &out, std::string &error);

/// Parses one JSON value at the start of `text` (leading whitespace allowed)
/// and sets `end` to the offset just past it; whatever follows is left to the
/// caller. safetensors needs this because only 0x20 may pad its header, while
/// parse() accepts any JSON whitespace after the value.
bool parsePrefix(std::string_view text, Value &out, std::string &error,
                 size_t &end);

/// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing
/// above U+10FFFF). On failure `badOffset`, if given, is the first bad byte.
bool isValidUtf8(std::string_view s, size_t *badOffset = nullptr);

/// `s` as a JSON string literal, quotes included, with control characters
/// escaped: writers use it for names, and messages use it so that a hostile
/// name cannot break a one-line error. Ill-formed UTF-8 bytes become U+FFFD.
std::string quote(std::string_view s);

} // namespace attenuate::json

#endif // ATTENUATE_PARAMS_JSON_H

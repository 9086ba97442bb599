//===- Json.cpp - a small strict JSON reader ------------------------------===//
//
// RFC 8259 without extensions: the safetensors header is untrusted input, so
// everything a lenient parser would paper over (bad UTF-8, lone surrogates,
// duplicate keys, leading zeros) is an error here.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Json.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_set>

namespace attenuate::json {

namespace {

constexpr unsigned kMaxDepth = 64;

// Length of the well-formed UTF-8 sequence starting at s[i], or 0. The
// ranges are those of Unicode's table 3-7, which excludes overlong forms,
// surrogates and code points above U+10FFFF.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80)
    return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c == 0xe0) {
    len = 3;
    lo = 0xa0;
  } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
    len = 3;
  } else if (c == 0xed) {
    len = 3;
    hi = 0x9f;
  } else if (c == 0xf0) {
    len = 4;
    lo = 0x90;
  } else if (c >= 0xf1 && c <= 0xf3) {
    len = 4;
  } else if (c == 0xf4) {
    len = 4;
    hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() - i < len)
    return 0;
  auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (c1 < lo || c1 > hi)
    return 0;
  for (size_t k = 2; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80)
      return 0;
  return len;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::string describeByte(unsigned char c) {
  if (c >= 0x21 && c < 0x7f)
    return std::string("'") + static_cast<char>(c) + "'";
  static const char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

class Parser {
public:
  Parser(std::string_view text, std::string &error) : s(text), err(error) {}

  size_t pos = 0;

  void skipWhitespace() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' ||
                              s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }

  bool fail(size_t at, const std::string &msg) {
    err = msg + " at offset " + std::to_string(at);
    return false;
  }

  bool unexpected() {
    if (pos >= s.size())
      return fail(pos, "unexpected end of input");
    return fail(pos, "unexpected " +
                         describeByte(static_cast<unsigned char>(s[pos])));
  }

  bool parseValue(Value &out, unsigned depth) {
    if (pos >= s.size())
      return unexpected();
    switch (s[pos]) {
    case '{':
      return parseObject(out, depth + 1);
    case '[':
      return parseArray(out, depth + 1);
    case '"':
      out.kind = Value::Kind::String;
      return parseString(out.string);
    case 't':
      return parseLiteral("true", out);
    case 'f':
      return parseLiteral("false", out);
    case 'n':
      return parseLiteral("null", out);
    default:
      if (s[pos] == '-' || isDigit(s[pos]))
        return parseNumber(out);
      return unexpected();
    }
  }

private:
  std::string_view s;
  std::string &err;

  bool parseLiteral(std::string_view word, Value &out) {
    if (s.substr(pos, word.size()) != word)
      return fail(pos, "invalid literal");
    pos += word.size();
    if (word == "null") {
      out.kind = Value::Kind::Null;
    } else {
      out.kind = Value::Kind::Bool;
      out.boolean = word == "true";
    }
    return true;
  }

  bool parseObject(Value &out, unsigned depth) {
    if (depth > kMaxDepth)
      return fail(pos, "nesting deeper than " + std::to_string(kMaxDepth));
    out.kind = Value::Kind::Object;
    ++pos;
    skipWhitespace();
    if (pos < s.size() && s[pos] == '}') {
      ++pos;
      return true;
    }
    // Small objects (a tensor entry has three keys) are checked by a scan;
    // the set only pays off for the top level of a large header.
    constexpr size_t kScanLimit = 16;
    std::unordered_set<std::string> seen;
    while (true) {
      skipWhitespace();
      if (pos >= s.size() || s[pos] != '"') {
        if (pos >= s.size())
          return unexpected();
        return fail(pos, "expected a string key, found " +
                             describeByte(static_cast<unsigned char>(s[pos])));
      }
      size_t keyAt = pos;
      std::string key;
      if (!parseString(key))
        return false;
      bool duplicate = false;
      if (seen.empty() && out.object.size() < kScanLimit) {
        for (const auto &member : out.object)
          duplicate |= member.first == key;
      } else {
        if (seen.empty())
          for (const auto &member : out.object)
            seen.insert(member.first);
        duplicate = !seen.insert(key).second;
      }
      if (duplicate)
        return fail(keyAt, "duplicate key " + quote(key));
      skipWhitespace();
      if (pos >= s.size() || s[pos] != ':')
        return pos >= s.size() ? unexpected()
                               : fail(pos, "expected ':' after object key");
      ++pos;
      skipWhitespace();
      Value value;
      if (!parseValue(value, depth))
        return false;
      out.object.emplace_back(std::move(key), std::move(value));
      skipWhitespace();
      if (pos < s.size() && s[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < s.size() && s[pos] == '}') {
        ++pos;
        return true;
      }
      return pos >= s.size() ? unexpected()
                             : fail(pos, "expected ',' or '}' in object");
    }
  }

  bool parseArray(Value &out, unsigned depth) {
    if (depth > kMaxDepth)
      return fail(pos, "nesting deeper than " + std::to_string(kMaxDepth));
    out.kind = Value::Kind::Array;
    ++pos;
    skipWhitespace();
    if (pos < s.size() && s[pos] == ']') {
      ++pos;
      return true;
    }
    while (true) {
      skipWhitespace();
      out.array.emplace_back();
      if (!parseValue(out.array.back(), depth))
        return false;
      skipWhitespace();
      if (pos < s.size() && s[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < s.size() && s[pos] == ']') {
        ++pos;
        return true;
      }
      return pos >= s.size() ? unexpected()
                             : fail(pos, "expected ',' or ']' in array");
    }
  }

  bool parseHex4(uint32_t &out) {
    if (s.size() - pos < 4)
      return fail(pos, "truncated \\u escape");
    out = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = s[pos + k];
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        digit = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        digit = static_cast<uint32_t>(c - 'A' + 10);
      else
        return fail(pos + k, "invalid hex digit in \\u escape");
      out = out * 16 + digit;
    }
    pos += 4;
    return true;
  }

  bool parseEscape(std::string &out) {
    size_t escapeAt = pos;
    ++pos; // the backslash
    if (pos >= s.size())
      return unexpected();
    char c = s[pos++];
    switch (c) {
    case '"':
    case '\\':
    case '/':
      out += c;
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u':
      break;
    default:
      return fail(escapeAt,
                  "invalid escape \\" +
                      std::string(1, c >= 0x20 && c < 0x7f ? c : '?'));
    }
    uint32_t cp;
    if (!parseHex4(cp))
      return false;
    if (cp >= 0xdc00 && cp <= 0xdfff)
      return fail(escapeAt, "lone low surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (s.substr(pos, 2) != "\\u")
        return fail(escapeAt, "lone high surrogate in \\u escape");
      pos += 2;
      uint32_t low;
      if (!parseHex4(low))
        return false;
      if (low < 0xdc00 || low > 0xdfff)
        return fail(escapeAt, "lone high surrogate in \\u escape");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    appendUtf8(out, cp);
    return true;
  }

  bool parseString(std::string &out) {
    ++pos; // the opening quote
    while (true) {
      size_t run = pos;
      while (pos < s.size()) {
        auto c = static_cast<unsigned char>(s[pos]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
          break;
        ++pos;
      }
      out.append(s.data() + run, pos - run);
      if (pos >= s.size())
        return fail(pos, "unterminated string");
      auto c = static_cast<unsigned char>(s[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c == '\\') {
        if (!parseEscape(out))
          return false;
        continue;
      }
      if (c < 0x20)
        return fail(pos, "control character " + describeByte(c) +
                             " in string (must be escaped)");
      size_t len = utf8SequenceLength(s, pos);
      if (len == 0)
        return fail(pos, "invalid UTF-8 in string");
      out.append(s.data() + pos, len);
      pos += len;
    }
  }

  bool parseNumber(Value &out) {
    size_t start = pos;
    out.kind = Value::Kind::Number;
    out.isInteger = true;
    out.isNegative = false;
    out.magnitude = 0;
    out.integerOverflow = false;
    if (s[pos] == '-') {
      out.isNegative = true;
      ++pos;
    }
    if (pos >= s.size() || !isDigit(s[pos]))
      return fail(pos, "invalid number");
    // The position of the first significant digit relative to the decimal
    // point decides between overflow and underflow when the double is out of
    // range.
    long long decimalExponent = 0;
    bool sawSignificant = false;
    if (s[pos] == '0') {
      ++pos;
      if (pos < s.size() && isDigit(s[pos]))
        return fail(start, "leading zero in number");
    } else {
      while (pos < s.size() && isDigit(s[pos])) {
        auto digit = static_cast<uint64_t>(s[pos] - '0');
        if (!out.integerOverflow) {
          if (out.magnitude >
              (std::numeric_limits<uint64_t>::max() - digit) / 10)
            out.integerOverflow = true;
          else
            out.magnitude = out.magnitude * 10 + digit;
        }
        if (sawSignificant)
          ++decimalExponent;
        sawSignificant = true;
        ++pos;
      }
    }
    if (pos < s.size() && s[pos] == '.') {
      out.isInteger = false;
      ++pos;
      if (pos >= s.size() || !isDigit(s[pos]))
        return fail(pos, "expected a digit after '.'");
      while (pos < s.size() && isDigit(s[pos])) {
        if (!sawSignificant) {
          --decimalExponent;
          sawSignificant = s[pos] != '0';
        }
        ++pos;
      }
    }
    if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
      out.isInteger = false;
      ++pos;
      bool negativeExponent = false;
      if (pos < s.size() && (s[pos] == '+' || s[pos] == '-'))
        negativeExponent = s[pos++] == '-';
      if (pos >= s.size() || !isDigit(s[pos]))
        return fail(pos, "expected a digit in exponent");
      long long exponent = 0;
      while (pos < s.size() && isDigit(s[pos])) {
        if (exponent < 1000000000)
          exponent = exponent * 10 + (s[pos] - '0');
        ++pos;
      }
      decimalExponent += negativeExponent ? -exponent : exponent;
    }
    if (!out.isInteger) {
      out.magnitude = 0;
      out.integerOverflow = false;
    }
    // from_chars, unlike strtod, ignores the locale.
    double value = 0;
    auto result = std::from_chars(s.data() + start, s.data() + pos, value);
    if (result.ec == std::errc::result_out_of_range) {
      double magnitude =
          decimalExponent > 0 ? std::numeric_limits<double>::infinity() : 0.0;
      value = out.isNegative ? -magnitude : magnitude;
    } else if (result.ec != std::errc() || result.ptr != s.data() + pos) {
      return fail(start, "invalid number");
    }
    out.number = value;
    return true;
  }
};

} // namespace

const Value *Value::get(std::string_view key) const {
  if (kind != Kind::Object)
    return nullptr;
  for (const auto &member : object)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

bool Value::asU64(uint64_t &out) const {
  if (kind != Kind::Number || !isInteger || integerOverflow ||
      (isNegative && magnitude != 0))
    return false;
  out = magnitude;
  return true;
}

bool Value::asI64(int64_t &out) const {
  if (kind != Kind::Number || !isInteger || integerOverflow)
    return false;
  constexpr uint64_t kMaxPositive = std::numeric_limits<int64_t>::max();
  if (!isNegative) {
    if (magnitude > kMaxPositive)
      return false;
    out = static_cast<int64_t>(magnitude);
    return true;
  }
  if (magnitude > kMaxPositive + 1)
    return false;
  out = magnitude == kMaxPositive + 1 ? std::numeric_limits<int64_t>::min()
                                      : -static_cast<int64_t>(magnitude);
  return true;
}

bool parsePrefix(std::string_view text, Value &out, std::string &error,
                 size_t &end) {
  out = Value();
  Parser parser(text, error);
  parser.skipWhitespace();
  if (!parser.parseValue(out, 0))
    return false;
  end = parser.pos;
  return true;
}

bool parse(std::string_view text, Value &out, std::string &error) {
  size_t end;
  if (!parsePrefix(text, out, error, end))
    return false;
  Parser tail(text, error);
  tail.pos = end;
  tail.skipWhitespace();
  if (tail.pos != text.size())
    return tail.fail(tail.pos, "trailing characters after JSON value");
  return true;
}

bool isValidUtf8(std::string_view s, size_t *badOffset) {
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8SequenceLength(s, i);
    if (len == 0) {
      if (badOffset)
        *badOffset = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string quote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8SequenceLength(s, i);
      if (len == 0) {
        out += "\xef\xbf\xbd";
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    ++i;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
  return out;
}

} // namespace attenuate::json

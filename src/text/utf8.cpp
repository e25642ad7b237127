#include "text/utf8.h"

#include "core/error.h"

namespace qi::text {

namespace {

bool is_continuation(uint8_t b) { return (b & 0xC0u) == 0x80u; }

// One decoded character, or why none starts here.
struct DecodedChar {
  char32_t code_point = 0;
  size_t length = 0;              // bytes of the character; 0 when malformed
  size_t bad_length = 0;          // when malformed: the maximal subpart of a valid sequence (at least 1 byte)
  const char* problem = nullptr;  // when malformed: why
};

DecodedChar malformed(size_t bad_length, const char* problem) { return {0, 0, bad_length, problem}; }

// Well-formed sequences per the Unicode standard, table 3-7: the lead byte fixes the length and the range
// of the second byte (narrower after E0, ED, F0 and F4); later bytes are any continuation byte.
DecodedChar decode_at(std::string_view bytes, size_t i) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t lead = p[i];
  if (lead < 0x80u) return {lead, 1};
  if (is_continuation(lead)) return malformed(1, "stray continuation byte");
  if (lead == 0xC0u || lead == 0xC1u) return malformed(1, "overlong encoding");
  if (lead > 0xF7u) return malformed(1, "invalid lead byte");
  if (lead > 0xF4u) return malformed(1, "code point above U+10FFFF");

  size_t length = 2;
  uint8_t second_min = 0x80u, second_max = 0xBFu;
  const char* second_problem = "truncated multi-byte sequence";  // a continuation byte outside the range
  char32_t code_point = lead & 0x1Fu;
  if (lead >= 0xE0u && lead <= 0xEFu) {
    length = 3, code_point = lead & 0x0Fu;
    if (lead == 0xE0u) second_min = 0xA0u, second_problem = "overlong encoding";
    if (lead == 0xEDu) second_max = 0x9Fu, second_problem = "UTF-16 surrogate";
  } else if (lead >= 0xF0u) {
    length = 4, code_point = lead & 0x07u;
    if (lead == 0xF0u) second_min = 0x90u, second_problem = "overlong encoding";
    if (lead == 0xF4u) second_max = 0x8Fu, second_problem = "code point above U+10FFFF";
  }
  if (i + 1 >= bytes.size() || !is_continuation(p[i + 1])) return malformed(1, "truncated multi-byte sequence");
  if (p[i + 1] < second_min || p[i + 1] > second_max) return malformed(1, second_problem);
  for (size_t k = 1; k < length; ++k) {
    if (i + k >= bytes.size() || !is_continuation(p[i + k])) return malformed(k, "truncated multi-byte sequence");
    code_point = (code_point << 6) | (p[i + k] & 0x3Fu);
  }
  return {code_point, length};
}

}  // namespace

std::optional<Utf8Problem> find_utf8_problem(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (uint8_t(bytes[i]) < 0x80u) {  // ASCII fast path
      ++i;
      continue;
    }
    const DecodedChar c = decode_at(bytes, i);
    if (c.length == 0) return Utf8Problem{i, c.problem};
    i += c.length;
  }
  return std::nullopt;
}

void require_utf8(std::string_view bytes, const char* what) {
  if (auto problem = find_utf8_problem(bytes))
    throw InputError(std::string(what) + " is not valid UTF-8: " + problem->reason + " at byte " +
                     std::to_string(problem->offset));
}

std::optional<char32_t> decode_utf8_char(std::string_view bytes, size_t& offset) {
  if (offset >= bytes.size()) return std::nullopt;
  const DecodedChar c = decode_at(bytes, offset);
  if (c.length == 0) return std::nullopt;
  offset += c.length;
  return c.code_point;
}

std::string to_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const DecodedChar c = decode_at(bytes, i);
    if (c.length == 0) {
      append_utf8(out, kReplacementCharacter);
      i += c.bad_length;
    } else {
      out.append(bytes.substr(i, c.length));
      i += c.length;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace qi::text

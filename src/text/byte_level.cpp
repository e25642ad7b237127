#include "text/byte_level.h"

#include "text/utf8.h"

namespace qi::text {

namespace {

constexpr size_t kByteValues = 256;
// The alphabet's characters for unprintable bytes start here (GPT-2's bytes_to_unicode: 2**8 + n).
constexpr char32_t kFirstRemappedChar = 0x100;
// Fewer than 256 bytes are remapped, so no character of the alphabet lies above this.
constexpr char32_t kMaxAlphabetChar = kFirstRemappedChar + kByteValues - 1;

// Bytes that stand for themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'.
constexpr bool is_self_mapped(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteLevelTables {
  std::array<char32_t, kByteValues> byte_to_char{};
  // Indexed by character; -1 for characters outside the alphabet.
  std::array<int16_t, kMaxAlphabetChar + 1> char_to_byte{};

  ByteLevelTables() {
    char_to_byte.fill(-1);
    char32_t next_remapped = kFirstRemappedChar;
    for (unsigned b = 0; b < kByteValues; ++b) {
      const char32_t c = is_self_mapped(b) ? char32_t(b) : next_remapped++;
      byte_to_char[b] = c;
      char_to_byte[c] = int16_t(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t byte) { return tables().byte_to_char[byte]; }

std::optional<uint8_t> char_to_byte(char32_t c) {
  if (c > kMaxAlphabetChar) return std::nullopt;
  const int16_t b = tables().char_to_byte[c];
  if (b < 0) return std::nullopt;
  return uint8_t(b);
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) append_utf8(out, byte_to_char(uint8_t(b)));
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view byte_level) {
  std::string out;
  out.reserve(byte_level.size());
  for (size_t i = 0; i < byte_level.size();) {  // decode_utf8_char advances i
    const auto c = decode_utf8_char(byte_level, i);
    if (!c) return std::nullopt;
    const auto b = char_to_byte(*c);
    if (!b) return std::nullopt;
    out += char(*b);
  }
  return out;
}

}  // namespace qi::text

// GPT-2's byte-level alphabet: each of the 256 byte values stands for one printable Unicode character, so
// byte-level BPE vocabularies (Qwen2's included) are written in ordinary text. Printable Latin-1 bytes stand
// for themselves; the other 68 (controls, space, NBSP, soft hyphen) map to U+0100 onwards in byte order.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qi::text {

// The character standing for `byte`.
char32_t byte_to_char(uint8_t byte);

// The byte a character stands for; nullopt for characters outside the alphabet.
std::optional<uint8_t> char_to_byte(char32_t c);

// UTF-8 of the byte-level characters of `bytes` ("Ġ" for a space, "Ċ" for LF, ...).
std::string bytes_to_byte_level(std::string_view bytes);

// The bytes spelled by a byte-level string; nullopt if it holds a character outside the alphabet or is not
// well-formed UTF-8.
std::optional<std::string> byte_level_to_bytes(std::string_view byte_level);

}  // namespace qi::text

// UTF-8 handling: strict validation (RFC 3629) for text the tokenizer accepts, as Hugging Face's tokenizers
// does (a Python/Rust string cannot hold anything else), and lossy conversion for decoded bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qi::text {

// Where and why a byte string stops being well-formed UTF-8.
struct Utf8Problem {
  size_t offset = 0;    // byte offset of the first byte of the bad sequence
  const char* reason;   // "overlong encoding", "UTF-16 surrogate", ...
};

// nullopt when `bytes` is well-formed UTF-8: no stray continuation bytes, no truncated sequences, no
// overlong encodings, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. NUL bytes are ordinary
// characters.
std::optional<Utf8Problem> find_utf8_problem(std::string_view bytes);

// Throws InputError "<what> is not valid UTF-8: <reason> at byte <offset>" unless `bytes` is well-formed.
void require_utf8(std::string_view bytes, const char* what);

// Decodes the character starting at byte `offset`, advancing offset past it; nullopt (offset unchanged) when
// no well-formed character starts there.
std::optional<char32_t> decode_utf8_char(std::string_view bytes, size_t& offset);

// U+FFFD, what malformed bytes become in lossy conversion.
inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// `bytes` with every malformed sequence replaced by U+FFFD, one per maximal subpart (the Unicode standard's
// recommended practice, and what Rust's String::from_utf8_lossy and Python's errors="replace" do).
std::string to_utf8_lossy(std::string_view bytes);

// Appends the UTF-8 encoding of a Unicode scalar value (no surrogates, at most U+10FFFF).
void append_utf8(std::string& out, char32_t code_point);

}  // namespace qi::text

// Unicode NFC normalisation, the Qwen2 tokenizer's normalizer (Hugging Face normalizers.NFC).
#pragma once
#include <string>
#include <string_view>

namespace qi::text {

// NFC of well-formed UTF-8 text (validate first: see utf8.h). ASCII text is returned unchanged without
// calling into utf8proc. NUL characters are kept.
std::string nfc(std::string_view utf8);

}  // namespace qi::text

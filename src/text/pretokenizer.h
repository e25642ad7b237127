// Qwen2's pre-tokenizer: splits normalised text into the pieces that BPE encodes separately, with the regex
// of Hugging Face's Qwen2 tokenizer.json (Split, behaviour Isolated: matches and any unmatched gaps are
// pieces, in order).
#pragma once
#include <memory>
#include <string_view>
#include <vector>

namespace qi::text {

// The pattern as Hugging Face writes it (spec §2.3), run there by Oniguruma.
inline constexpr std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The same pattern for PCRE2. Only \s and \S change: Oniguruma's Unicode \s is the White_Space property
// (TAB..CR, NEL, and the separators Zs/Zl/Zp), while PCRE2's \s under UCP differs between releases (10.42
// also counts U+180E MONGOLIAN VOWEL SEPARATOR), so the class is spelled out.
std::string_view qwen2_split_pattern_pcre2();

// The compiled pattern (JIT-compiled when PCRE2 supports it). Immutable after construction: one instance can
// split on any number of threads at once.
class Qwen2PreTokenizer {
 public:
  Qwen2PreTokenizer();
  ~Qwen2PreTokenizer();
  Qwen2PreTokenizer(const Qwen2PreTokenizer&) = delete;
  Qwen2PreTokenizer& operator=(const Qwen2PreTokenizer&) = delete;

  // Appends the pieces of `text` (well-formed UTF-8, already normalised) to `pieces`, as views into text.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

  bool uses_jit() const { return jit_; }

 private:
  struct Compiled;  // owns the PCRE2 code object
  std::unique_ptr<Compiled> compiled_;
  bool jit_ = false;
};

}  // namespace qi::text

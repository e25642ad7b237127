#include "text/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>

#include "core/error.h"

namespace qi::text {

namespace {

// Oniguruma's Unicode \s (see the header), as the body of a character class.
constexpr std::string_view kWhitespaceClassBody = R"(\t-\r\x{85}\p{Z})";

std::string build_pcre2_pattern() {
  const std::string ws(kWhitespaceClassBody);
  return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^)" + ws + R"(\p{L}\p{N}]+[\r\n]*|[)" +
         ws + R"(]*[\r\n]+|[)" + ws + R"(]+(?![^)" + ws + R"(])|[)" + ws + "]+";
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0) return "PCRE2 error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// Room for the whole match only: the pattern has no capture groups.
constexpr uint32_t kOvectorPairs = 1;

pcre2_match_data* thread_match_data() {
  thread_local std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(pcre2_match_data_create(kOvectorPairs, nullptr));
  if (!data) throw std::bad_alloc();
  return data.get();
}

}  // namespace

struct Qwen2PreTokenizer::Compiled {
  explicit Compiled(pcre2_code* c) : code(c) {}
  ~Compiled() { pcre2_code_free(code); }
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  pcre2_code* code;
};

std::string_view qwen2_split_pattern_pcre2() {
  static const std::string pattern = build_pcre2_pattern();
  return pattern;
}

Qwen2PreTokenizer::Qwen2PreTokenizer() {
  const std::string_view pattern = qwen2_split_pattern_pcre2();
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
  if (!code)
    throw RuntimeFailure("cannot compile the Qwen2 pre-tokenizer regex at offset " + std::to_string(error_offset) +
                         ": " + pcre2_message(error));
  compiled_ = std::make_unique<Compiled>(code);
  // Without JIT support pcre2_match falls back to the interpreter: slower, same pieces.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Qwen2PreTokenizer::~Qwen2PreTokenizer() = default;

void Qwen2PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pcre2_match_data* match = thread_match_data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;  // end of the previous match
  while (start < text.size()) {
    // The caller validated the UTF-8, so PCRE2 need not check it again on every call.
    const int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw RuntimeFailure("Qwen2 pre-tokenizer regex failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0], end = ovector[1];
    if (begin > start) pieces.push_back(text.substr(start, begin - start));  // an unmatched gap
    // Every alternative consumes at least one character, so end > begin and the loop advances.
    pieces.push_back(text.substr(begin, end - begin));
    start = end;
  }
  if (start < text.size()) pieces.push_back(text.substr(start));
}

}  // namespace qi::text

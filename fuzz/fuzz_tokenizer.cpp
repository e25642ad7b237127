// Fuzzes the Qwen2 tokenizer on arbitrary bytes. Encoding must either give ids or, exactly when the input is
// not well-formed UTF-8, throw InputError; decoding those ids must succeed, yield valid UTF-8 and, for ASCII
// input (which NFC leaves alone), give the input back. The tokenizer is loaded once, from $QI_TOKENIZER_DIR
// (default ../shared/fixtures/tiny-a/model/tokenizer, relative to the repository root where
// tools/run_fuzzers.sh runs).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"
#include "text/utf8.h"

namespace {

constexpr const char* kDefaultTokenizerDir = "../shared/fixtures/tiny-a/model/tokenizer";

const qi::Qwen2Tokenizer& tokenizer() {
  static const std::unique_ptr<qi::Qwen2Tokenizer> loaded = [] {
    const char* env = std::getenv("QI_TOKENIZER_DIR");
    const char* dir = env && *env ? env : kDefaultTokenizerDir;
    try {
      return qi::Qwen2Tokenizer::load(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz_tokenizer: cannot load the tokenizer from %s (set QI_TOKENIZER_DIR): %s\n", dir, e.what());
      std::abort();
    }
  }();
  return *loaded;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_tokenizer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool well_formed = !qi::text::find_utf8_problem(text).has_value();
  std::vector<int32_t> ids;
  try {
    ids = tokenizer().encode(text);
  } catch (const qi::InputError&) {
    if (well_formed) violated("InputError for well-formed UTF-8");
    return 0;
  }
  if (!well_formed) violated("malformed UTF-8 was accepted");
  if (ids.empty() != text.empty()) violated("empty ids for non-empty text (or the reverse)");
  const std::string decoded = tokenizer().decode(ids);
  if (qi::text::find_utf8_problem(decoded)) violated("decode produced malformed UTF-8");
  if (is_ascii(text) && decoded != text) violated("ASCII text does not round-trip");
  const std::vector<int32_t> templated = qi::encode_prompt(tokenizer(), text);
  if (templated.size() < qi::kPromptTemplateDropIndex) violated("templated prompt shorter than its prefix");
  return 0;
}

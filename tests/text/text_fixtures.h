// Helpers shared by the tokenizer tests: the fixture tokenizer (the real Qwen2 vocabulary) and the Hugging
// Face cases. Hand-written tokenizer files go in a ScratchDir (support/scratch_dir.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/scratch_dir.h"
#include "text/qwen2_tokenizer.h"

namespace qi::test {

// shared_dir()/fixtures/tiny-a/model/tokenizer: vocab.json + merges.txt + added_tokens.json + tokenizer_config.json.
std::filesystem::path fixture_tokenizer_dir();
// Loaded once per test binary.
const Qwen2Tokenizer& fixture_tokenizer();

struct TokenizerCase {
  std::string text;
  std::vector<int32_t> ids;  // what Hugging Face tokenizers produces, no special tokens added
};
// The 400 lines of shared_dir()/fixtures/tokenizer_cases.jsonl.
std::vector<TokenizerCase> tokenizer_cases();
inline constexpr size_t kTokenizerCaseCount = 400;

}  // namespace qi::test

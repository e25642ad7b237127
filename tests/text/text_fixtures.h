// Helpers shared by the tokenizer tests: the fixture tokenizer (the real Qwen2 vocabulary), the Hugging Face
// cases, and scratch directories for hand-written tokenizer files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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

// A fresh empty directory under the system temp dir, removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `contents` to path()/name and returns the file's path.
  std::filesystem::path write(const std::string& name, const std::string& contents) const;

 private:
  std::filesystem::path path_;
};

}  // namespace qi::test

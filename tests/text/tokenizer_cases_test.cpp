// Exact ids against Hugging Face tokenizers on ../shared/fixtures/tokenizer_cases.jsonl (400 strings), and
// the templated prompts of the tiny-a reference generation.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"

namespace qi {
namespace {

std::filesystem::path fixture_tokenizer_dir() { return test::tiny_a_dir() / "model" / "tokenizer"; }

const Qwen2Tokenizer& fixture_tokenizer() {
  static const std::unique_ptr<Qwen2Tokenizer> tokenizer = Qwen2Tokenizer::load(fixture_tokenizer_dir());
  return *tokenizer;
}

struct TokenizerCase {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<TokenizerCase> read_cases() {
  std::ifstream in(test::shared_dir() / "fixtures" / "tokenizer_cases.jsonl");
  std::vector<TokenizerCase> cases;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

std::vector<int32_t> reference_ids(const std::string& name) {
  const test::ReferenceTensor t = test::reference_tensor(name);
  std::vector<int32_t> ids;
  for (float v : t.values) ids.push_back(int32_t(v));
  return ids;
}

TEST(TokenizerCases, AllHuggingFaceCasesGiveIdenticalIds) {
  const std::vector<TokenizerCase> cases = read_cases();
  // The fixture file holds exactly this many lines; fewer would mean it was not found or was cut short.
  constexpr size_t kFixtureCases = 400;
  ASSERT_EQ(cases.size(), kFixtureCases);
  size_t failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<int32_t> ids = fixture_tokenizer().encode(cases[i].text);
    if (ids != cases[i].ids) {
      ++failures;
      ADD_FAILURE() << "case " << i << " (line " << i + 1 << "): ids differ for text " << nlohmann::json(cases[i].text).dump();
    }
  }
  EXPECT_EQ(failures, 0u);
}

TEST(TokenizerCases, TemplatedPromptsMatchTheReferenceGeneration) {
  const std::string prompt = "A red fox sitting in fresh snow, golden hour light, 35mm photo";
  const std::vector<int32_t> prompt_ids = encode_prompt(fixture_tokenizer(), prompt);
  const std::vector<int32_t> negative_ids = encode_prompt(fixture_tokenizer(), " ");
  EXPECT_EQ(prompt_ids, reference_ids("tokens.prompt.input_ids"));
  EXPECT_EQ(negative_ids, reference_ids("tokens.negative.input_ids"));
}

TEST(TokenizerCases, TheFirst34TokensAreTheTemplatePrefix) {
  const std::vector<int32_t> prefix = fixture_tokenizer().encode(kPromptTemplatePrefix);
  ASSERT_EQ(prefix.size(), kPromptTemplateDropIndex);
  for (const char* prompt : {"A red fox sitting in fresh snow, golden hour light, 35mm photo", " ", "x", "猫"}) {
    const std::vector<int32_t> ids = encode_prompt(fixture_tokenizer(), prompt);
    ASSERT_GT(ids.size(), kPromptTemplateDropIndex);
    EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), ids.begin())) << prompt;
  }
  // The suffix's five tokens <|im_end|> \n <|im_start|> assistant \n end every templated prompt.
  const std::vector<int32_t> suffix = fixture_tokenizer().encode(kPromptTemplateSuffix);
  ASSERT_EQ(suffix.size(), 5u);
  const std::vector<int32_t> ids = encode_prompt(fixture_tokenizer(), "x");
  EXPECT_TRUE(std::equal(suffix.begin(), suffix.end(), ids.end() - 5));
}

}  // namespace
}  // namespace qi

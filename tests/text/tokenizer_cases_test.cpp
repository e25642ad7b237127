// Exact ids against Hugging Face tokenizers on ../shared/fixtures/tokenizer_cases.jsonl (400 strings), and
// the templated prompts of the tiny-a reference generation.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "text/text_fixtures.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"

namespace qi {
namespace {

using test::fixture_tokenizer;

std::vector<int32_t> reference_ids(const std::string& name) {
  const test::ReferenceTensor t = test::reference_tensor(name);
  std::vector<int32_t> ids;
  for (float v : t.values) ids.push_back(int32_t(v));
  return ids;
}

TEST(TokenizerCases, AllHuggingFaceCasesGiveIdenticalIds) {
  const std::vector<test::TokenizerCase> cases = test::tokenizer_cases();
  ASSERT_EQ(cases.size(), test::kTokenizerCaseCount);
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

TEST(TokenizerCases, ConcurrentEncodingGivesTheSameIds) {
  // Threads share one tokenizer (and its BPE cache); each must still get exactly the reference ids.
  const std::vector<test::TokenizerCase> cases = test::tokenizer_cases();
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Each thread walks the cases from a different starting point, so cache fills and reads interleave.
      for (size_t k = 0; k < cases.size(); ++k) {
        const auto& c = cases[(k + size_t(t) * cases.size() / kThreads) % cases.size()];
        if (fixture_tokenizer().encode(c.text) != c.ids) ++mismatches[size_t(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[size_t(t)], 0) << "thread " << t;
}

TEST(TokenizerCases, RepeatedEncodingIsStable) {
  // The second run reads the BPE cache the first one filled.
  const std::string text = "Cached pieces: the same ids twice, 東京 included.";
  const auto first = fixture_tokenizer().encode(text);
  EXPECT_EQ(fixture_tokenizer().encode(text), first);
}

}  // namespace
}  // namespace qi

#include "text/text_fixtures.h"

#include <fstream>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace qi::test {

std::filesystem::path fixture_tokenizer_dir() { return tiny_a_dir() / "model" / "tokenizer"; }

const Qwen2Tokenizer& fixture_tokenizer() {
  static const std::unique_ptr<Qwen2Tokenizer> tokenizer = Qwen2Tokenizer::load(fixture_tokenizer_dir());
  return *tokenizer;
}

std::vector<TokenizerCase> tokenizer_cases() {
  const auto path = shared_dir() / "fixtures" / "tokenizer_cases.jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<TokenizerCase> cases;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

}  // namespace qi::test

// Loading tokenizer directories: the tokenizer.json form gives the same ids as vocab.json + merges.txt, and
// missing or malformed files are InputErrors naming the file and the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"
#include "text/byte_level.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"
#include "text/text_fixtures.h"

namespace qi {
namespace {

using nlohmann::json;
using test::ScratchDir;

std::string read_fixture(const std::string& name) {
  std::ifstream in(test::fixture_tokenizer_dir() / name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

enum class MergeSpelling { String, Pair };

// The fixture tokenizer as one Hugging Face tokenizer.json (the layout `tokenizers` saves).
json fixture_as_tokenizer_json(MergeSpelling spelling) {
  json merges = json::array();
  std::istringstream lines(read_fixture("merges.txt"));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with("#version")) continue;
    const size_t space = line.find(' ');
    if (spelling == MergeSpelling::String)
      merges.push_back(line);
    else
      merges.push_back(json::array({line.substr(0, space), line.substr(space + 1)}));
  }
  json added = json::array();
  const json decoder = json::parse(read_fixture("tokenizer_config.json"))["added_tokens_decoder"];
  for (const auto& [id, entry] : decoder.items())
    added.push_back({{"id", std::stoi(id)},
                     {"content", entry["content"]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", entry["special"]}});
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", {{"type", "NFC"}}},
          {"model",
           {{"type", "BPE"},
            {"byte_fallback", false},
            {"vocab", json::parse(read_fixture("vocab.json"))},
            {"merges", merges}}}};
}

void expect_all_cases_match(const Qwen2Tokenizer& tokenizer) {
  size_t failures = 0;
  for (const auto& c : test::tokenizer_cases())
    if (tokenizer.encode(c.text) != c.ids) ++failures;
  EXPECT_EQ(failures, 0u);
}

TEST(TokenizerFiles, TokenizerJsonWithStringMergesGivesIdenticalIds) {
  ScratchDir dir;
  dir.write("tokenizer.json", fixture_as_tokenizer_json(MergeSpelling::String).dump());
  const auto tokenizer = Qwen2Tokenizer::load(dir.path());
  EXPECT_NE(tokenizer->origin().find("tokenizer.json"), std::string::npos);
  expect_all_cases_match(*tokenizer);
  EXPECT_EQ(encode_prompt(*tokenizer, "a cat"), encode_prompt(test::fixture_tokenizer(), "a cat"));
}

TEST(TokenizerFiles, TokenizerJsonWithPairMergesGivesIdenticalIds) {
  ScratchDir dir;
  dir.write("tokenizer.json", fixture_as_tokenizer_json(MergeSpelling::Pair).dump());
  expect_all_cases_match(*Qwen2Tokenizer::load(dir.path()));
}

TEST(TokenizerFiles, TokenizerJsonIsPreferredOverVocabAndMerges) {
  ScratchDir dir;
  dir.write("tokenizer.json", fixture_as_tokenizer_json(MergeSpelling::Pair).dump());
  dir.write("vocab.json", "not json");  // would fail if it were read
  EXPECT_NO_THROW(Qwen2Tokenizer::load(dir.path()));
}

TEST(TokenizerFiles, ModelDirectoryUsesItsTokenizerFolder) {
  const auto tokenizer = Qwen2Tokenizer::load_from_model(test::tiny_a_dir() / "model");
  EXPECT_EQ(tokenizer->encode("Hello world"), test::fixture_tokenizer().encode("Hello world"));
}

// --- a small hand-made vocabulary: each byte's character with the byte's value as id, plus listed tokens ---

json byte_vocab() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    const char byte = char(b);
    vocab[text::bytes_to_byte_level(std::string_view(&byte, 1))] = b;
  }
  return vocab;
}

// A directory with vocab.json (byte characters + `extra`) and merges.txt (`merges`, one rule a line).
void write_small_tokenizer(const ScratchDir& dir, const json& extra, const std::string& merges) {
  json vocab = byte_vocab();
  for (const auto& [token, id] : extra.items()) vocab[token] = id;
  dir.write("vocab.json", vocab.dump());
  dir.write("merges.txt", "#version: 0.2\n" + merges);
}

template <class Fn>
std::string input_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

std::string load_error(const std::filesystem::path& dir) {
  return input_error_of([&] { Qwen2Tokenizer::load(dir); });
}

TEST(TokenizerFiles, MergesApplyInRankOrder) {
  ScratchDir dir;
  write_small_tokenizer(dir, {{"ab", 256}, {"bc", 257}, {"abc", 258}}, "b c\na bc\na b\n");
  const auto tokenizer = Qwen2Tokenizer::load(dir.path());
  // "b c" outranks "a b": abc -> a|bc -> abc.
  EXPECT_EQ(tokenizer->encode("abc"), (std::vector<int32_t>{258}));
  EXPECT_EQ(tokenizer->encode("ab"), (std::vector<int32_t>{256}));

  ScratchDir reversed;
  write_small_tokenizer(reversed, {{"ab", 256}, {"bc", 257}, {"abc", 258}}, "a b\nb c\na bc\n");
  // Now "a b" comes first, leaving ab|c, for which there is no merge.
  EXPECT_EQ(Qwen2Tokenizer::load(reversed.path())->encode("abc"), (std::vector<int32_t>{256, 'c'}));
}

TEST(TokenizerFiles, EqualRankPairsMergeLeftmostFirst) {
  ScratchDir dir;
  write_small_tokenizer(dir, {{"aa", 256}}, "a a\n");
  const auto tokenizer = Qwen2Tokenizer::load(dir.path());
  EXPECT_EQ(tokenizer->encode("aaa"), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(tokenizer->encode("aaaa"), (std::vector<int32_t>{256, 256}));
}

TEST(TokenizerFiles, MissingDirectoryOrFiles) {
  EXPECT_NE(load_error("/nonexistent/qi-tokenizer").find("does not exist"), std::string::npos);
  ScratchDir empty;
  EXPECT_NE(load_error(empty.path()).find("holds neither tokenizer.json nor vocab.json + merges.txt"), std::string::npos);
  ScratchDir no_merges;
  no_merges.write("vocab.json", byte_vocab().dump());
  EXPECT_NE(load_error(no_merges.path()).find("merges.txt does not exist"), std::string::npos);
  ScratchDir no_vocab;
  no_vocab.write("merges.txt", "#version: 0.2\n");
  EXPECT_NE(load_error(no_vocab.path()).find("vocab.json does not exist"), std::string::npos);
}

TEST(TokenizerFiles, MalformedVocabulary) {
  ScratchDir not_json;
  not_json.write("vocab.json", "{\"a\": 1,");
  not_json.write("merges.txt", "");
  EXPECT_NE(load_error(not_json.path()).find("vocab.json: malformed JSON"), std::string::npos);

  ScratchDir bad_id;
  write_small_tokenizer(bad_id, {{"ab", "256"}}, "");
  EXPECT_NE(load_error(bad_id.path()).find("[\"ab\"] must be a whole number"), std::string::npos);

  ScratchDir negative_id;
  write_small_tokenizer(negative_id, {{"ab", -3}}, "");
  EXPECT_NE(load_error(negative_id.path()).find("out of range"), std::string::npos);

  ScratchDir huge_id;
  write_small_tokenizer(huge_id, {{"ab", 10'000'000'000}}, "");
  EXPECT_NE(load_error(huge_id.path()).find("[\"ab\"] is out of range: 10000000000"), std::string::npos);

  ScratchDir nested;
  write_small_tokenizer(nested, {{"ab", {{"id", 256}}}}, "");
  EXPECT_NE(load_error(nested.path()).find("[\"ab\"] must be a whole number"), std::string::npos);

  ScratchDir not_an_object;
  not_an_object.write("vocab.json", "[1, 2]");
  not_an_object.write("merges.txt", "");
  EXPECT_NE(load_error(not_an_object.path()).find("vocab.json: the top level must be an object"), std::string::npos);

  ScratchDir shared_id;
  write_small_tokenizer(shared_id, {{"ab", 7}}, "");
  EXPECT_NE(load_error(shared_id.path()).find("is given to both"), std::string::npos);

  ScratchDir missing_byte;
  json vocab = byte_vocab();
  vocab.erase("Ġ");
  missing_byte.write("vocab.json", vocab.dump());
  missing_byte.write("merges.txt", "");
  EXPECT_NE(load_error(missing_byte.path()).find("byte-level character of byte 32"), std::string::npos);
}

TEST(TokenizerFiles, MalformedMerges) {
  ScratchDir no_space;
  write_small_tokenizer(no_space, {{"ab", 256}}, "a b\nab\n");
  EXPECT_NE(load_error(no_space.path()).find("merges.txt: line 3 must be two tokens separated by one space"),
            std::string::npos);

  ScratchDir unknown_token;
  write_small_tokenizer(unknown_token, {{"ab", 256}}, "a b\nab zz\n");
  EXPECT_NE(load_error(unknown_token.path()).find("merge 2 ('ab zz'): right token 'zz' is not in the vocabulary"),
            std::string::npos);

  ScratchDir unknown_result;
  write_small_tokenizer(unknown_result, {}, "a b\n");
  EXPECT_NE(load_error(unknown_result.path()).find("merged token 'ab' is not in the vocabulary"), std::string::npos);
}

TEST(TokenizerFiles, MalformedAddedTokens) {
  ScratchDir mismatch;
  write_small_tokenizer(mismatch, {}, "");
  mismatch.write("added_tokens.json", R"({"<|im_start|>": 300})");
  mismatch.write("tokenizer_config.json", R"({"added_tokens_decoder": {"301": {"content": "<|im_start|>", "special": true}}})");
  EXPECT_NE(load_error(mismatch.path()).find("has id 300 but tokenizer_config.json gives it 301"), std::string::npos);

  ScratchDir bad_key;
  write_small_tokenizer(bad_key, {}, "");
  bad_key.write("tokenizer_config.json", R"({"added_tokens_decoder": {"x1": {"content": "<a>"}}})");
  EXPECT_NE(load_error(bad_key.path()).find("is not keyed by a token id"), std::string::npos);

  ScratchDir taken_id;
  write_small_tokenizer(taken_id, {}, "");
  taken_id.write("added_tokens.json", R"({"<|im_start|>": 65})");
  EXPECT_NE(load_error(taken_id.path()).find("added token '<|im_start|>' has id 65, which is 'A'"), std::string::npos);
}

TEST(TokenizerFiles, MalformedTokenizerJson) {
  auto error_for = [](const json& tokenizer_json) {
    ScratchDir dir;
    dir.write("tokenizer.json", tokenizer_json.dump());
    return load_error(dir.path());
  };
  const json model = {{"type", "BPE"}, {"vocab", byte_vocab()}, {"merges", json::array()}};
  EXPECT_NE(error_for(json::array()).find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_for({{"added_tokens", json::array()}}).find("model must be an object"), std::string::npos);

  json wrong_type = model;
  wrong_type["type"] = "WordPiece";
  EXPECT_NE(error_for({{"model", wrong_type}}).find("only BPE tokenizers are supported"), std::string::npos);

  json bad_merge = model;
  bad_merge["merges"] = json::array({json::array({"a"})});
  EXPECT_NE(error_for({{"model", bad_merge}}).find("model.merges[0] must be"), std::string::npos);

  json no_vocab = model;
  no_vocab.erase("vocab");
  EXPECT_NE(error_for({{"model", no_vocab}}).find("model.vocab is missing"), std::string::npos);

  const json lstrip = {{"id", 300}, {"content", "<x>"}, {"lstrip", true}};
  EXPECT_NE(error_for({{"model", model}, {"added_tokens", json::array({lstrip})}}).find("added_tokens[0].lstrip is true"),
            std::string::npos);

  const json no_id = {{"content", "<x>"}};
  EXPECT_NE(error_for({{"model", model}, {"added_tokens", json::array({no_id})}}).find("added_tokens[0] must be an object with an id"),
            std::string::npos);

  ScratchDir truncated;
  truncated.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {)");
  EXPECT_NE(load_error(truncated.path()).find("tokenizer.json: malformed JSON"), std::string::npos);
}

TEST(TokenizerFiles, PromptTemplateNeedsItsSpecialTokens) {
  ScratchDir dir;
  write_small_tokenizer(dir, {}, "");
  const auto tokenizer = Qwen2Tokenizer::load(dir.path());
  EXPECT_NE(input_error_of([&] { encode_prompt(*tokenizer, "a cat"); }).find("has no added token <|im_start|>"),
            std::string::npos);
}

TEST(TokenizerFiles, NormalizedAddedTokensAreMatchedAfterNfc) {
  // ">" followed by U+0338 COMBINING LONG SOLIDUS OVERLAY composes to U+226F under NFC. A token matched in the
  // raw text ("normalized": false, as Qwen2's are) is found before that happens; a normalised one is not.
  const std::string text = "<x>\xCC\xB8";
  auto tokenizer_with = [](bool normalized) {
    json added = json::array({{{"id", 300}, {"content", "<x>"}, {"normalized", normalized}, {"special", true}}});
    return json{{"model", {{"type", "BPE"}, {"vocab", byte_vocab()}, {"merges", json::array()}}}, {"added_tokens", added}};
  };
  ScratchDir raw;
  raw.write("tokenizer.json", tokenizer_with(false).dump());
  const auto raw_ids = Qwen2Tokenizer::load(raw.path())->encode(text);
  ASSERT_FALSE(raw_ids.empty());
  EXPECT_EQ(raw_ids[0], 300);

  ScratchDir normalized;
  normalized.write("tokenizer.json", tokenizer_with(true).dump());
  const auto normalized_tokenizer = Qwen2Tokenizer::load(normalized.path());
  const auto normalized_ids = normalized_tokenizer->encode(text);
  EXPECT_EQ(std::count(normalized_ids.begin(), normalized_ids.end(), 300), 0);
  // Where NFC changes nothing, a normalised token is matched like any other.
  EXPECT_EQ(normalized_tokenizer->encode("a<x>b"), (std::vector<int32_t>{'a', 300, 'b'}));
}

}  // namespace
}  // namespace qi

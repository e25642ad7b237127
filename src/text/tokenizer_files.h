// Reading a Qwen2 tokenizer's files: either Hugging Face's tokenizer.json, or the vocab.json + merges.txt
// pair that transformers' Qwen2Tokenizer reads (with added tokens from added_tokens.json and
// tokenizer_config.json's added_tokens_decoder). Every problem is an InputError naming the file.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "text/added_tokens.h"
#include "text/bpe_model.h"

namespace qi::text {

// Everything a tokenizer directory defines, before validation against each other.
struct TokenizerDefinition {
  TokenIdMap vocab;                     // byte-level token -> id
  std::vector<MergeRule> merges;        // in rank order
  std::vector<AddedToken> added_tokens;
  std::string origin;                   // the file(s) read, for messages
};

// Files larger than this are refused: Qwen2's tokenizer.json is about 7 MB, its vocab.json 3 MB.
constexpr size_t kMaxTokenizerFileBytes = 256u << 20;

// dir/tokenizer.json when present (as transformers prefers it), else dir/vocab.json + dir/merges.txt.
TokenizerDefinition read_tokenizer_dir(const std::filesystem::path& dir);

// A Hugging Face tokenizer.json with a BPE model: model.vocab, model.merges ("a b" strings or [a, b]
// pairs), added_tokens.
TokenizerDefinition read_tokenizer_json(const std::filesystem::path& file);

// dir/vocab.json, dir/merges.txt, and when present dir/added_tokens.json and dir/tokenizer_config.json.
TokenizerDefinition read_vocab_and_merges(const std::filesystem::path& dir);

}  // namespace qi::text

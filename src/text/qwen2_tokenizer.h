// The Qwen2 byte-level BPE tokenizer (transformers' Qwen2Tokenizer / Hugging Face tokenizers with Qwen2's
// tokenizer.json), with exact id parity:
//   1. added tokens (<|im_start|>, ...) are matched as atomic ids anywhere in the raw text (leftmost,
//      longest first; split_special_tokens=False), tokens marked "normalized" in the NFC text;
//   2. the rest is NFC-normalised and split by Qwen2's pre-tokenizer regex;
//   3. each piece's bytes are BPE-merged by rank and looked up. No BOS/EOS is added.
// Input must be well-formed UTF-8 (an InputError otherwise). NUL bytes are ordinary characters, as in
// Hugging Face's tokenizers (byte 0 is the byte-level token "Ā").
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/added_tokens.h"
#include "text/bpe_model.h"
#include "text/pretokenizer.h"
#include "text/tokenizer_files.h"

namespace qi {

class Qwen2Tokenizer {
 public:
  // Reads dir/tokenizer.json, or dir/vocab.json + merges.txt (+ added_tokens.json, tokenizer_config.json).
  // InputError naming the file on anything missing, malformed or inconsistent.
  static std::unique_ptr<Qwen2Tokenizer> load(const std::filesystem::path& dir);
  // The tokenizer of a diffusers model directory: model_dir/tokenizer.
  static std::unique_ptr<Qwen2Tokenizer> load_from_model(const std::filesystem::path& model_dir);
  static std::unique_ptr<Qwen2Tokenizer> from_definition(text::TokenizerDefinition definition);

  Qwen2Tokenizer(const Qwen2Tokenizer&) = delete;
  Qwen2Tokenizer& operator=(const Qwen2Tokenizer&) = delete;

  // Token ids of `text` (UTF-8). Thread-safe.
  std::vector<int32_t> encode(std::string_view text) const;

  // The text the ids spell; byte sequences that are not valid UTF-8 on their own become U+FFFD (as with
  // errors="replace"). InputError for an id the tokenizer does not have.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The id of a token written as in the vocabulary (byte-level spelling, e.g. "Ġthe") or an added token.
  std::optional<int32_t> token_id(std::string_view token) const;
  // The id of an added token (matched atomically in text); nullopt for anything else.
  std::optional<int32_t> added_token_id(std::string_view token) const;
  // The token an id stands for, as written in the vocabulary; nullopt for unknown ids.
  std::optional<std::string> id_token(int32_t id) const;

  size_t vocab_size() const { return id_to_token_.size(); }  // distinct ids, added tokens included
  const std::string& origin() const { return origin_; }

 private:
  explicit Qwen2Tokenizer(text::TokenizerDefinition definition);
  void encode_normalized(std::string_view text, std::vector<int32_t>& ids) const;

  struct IdEntry {
    std::string token;
    bool added = false;
    bool special = false;
  };

  std::string origin_;
  text::BpeModel bpe_;
  text::Qwen2PreTokenizer pretokenizer_;
  text::AddedTokenMatcher raw_added_;         // matched before normalisation
  text::AddedTokenMatcher normalized_added_;  // matched in NFC text
  std::unordered_map<std::string, int32_t, text::StringHash, std::equal_to<>> added_ids_;
  std::unordered_map<int32_t, IdEntry> id_to_token_;
};

}  // namespace qi

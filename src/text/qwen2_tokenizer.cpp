#include "text/qwen2_tokenizer.h"

#include "core/error.h"
#include "text/byte_level.h"
#include "text/nfc.h"
#include "text/utf8.h"

namespace qi {

namespace {

std::vector<text::AddedToken> added_tokens_where(const std::vector<text::AddedToken>& tokens, bool normalized) {
  std::vector<text::AddedToken> out;
  for (const auto& t : tokens)
    if (t.normalized == normalized) out.push_back(t);
  return out;
}

}  // namespace

std::unique_ptr<Qwen2Tokenizer> Qwen2Tokenizer::load(const std::filesystem::path& dir) {
  return from_definition(text::read_tokenizer_dir(dir));
}

std::unique_ptr<Qwen2Tokenizer> Qwen2Tokenizer::load_from_model(const std::filesystem::path& model_dir) {
  // The diffusers layout keeps the tokenizer in its own component folder.
  return load(model_dir / "tokenizer");
}

std::unique_ptr<Qwen2Tokenizer> Qwen2Tokenizer::from_definition(text::TokenizerDefinition definition) {
  return std::unique_ptr<Qwen2Tokenizer>(new Qwen2Tokenizer(std::move(definition)));
}

Qwen2Tokenizer::Qwen2Tokenizer(text::TokenizerDefinition def)
    : origin_(def.origin),
      bpe_(std::move(def.vocab), def.merges, def.origin),
      raw_added_(added_tokens_where(def.added_tokens, false)),
      normalized_added_(added_tokens_where(def.added_tokens, true)) {
  id_to_token_.reserve(bpe_.vocab().size() + def.added_tokens.size());
  for (const auto& [token, id] : bpe_.vocab()) {
    auto [it, inserted] = id_to_token_.try_emplace(id, IdEntry{token});
    if (!inserted)
      throw InputError(origin_ + ": id " + std::to_string(id) + " is given to both '" + it->second.token + "' and '" +
                       token + "'");
  }
  for (const auto& t : def.added_tokens) {
    if (!added_ids_.emplace(t.content, t.id).second)
      throw InputError(origin_ + ": added token '" + t.content + "' is listed twice");
    auto [it, inserted] = id_to_token_.try_emplace(t.id, IdEntry{t.content, true, t.special});
    // An added token may restate a vocabulary entry, but must not take another token's id.
    if (!inserted && it->second.token != t.content)
      throw InputError(origin_ + ": added token '" + t.content + "' has id " + std::to_string(t.id) + ", which is '" +
                       it->second.token + "'");
    it->second.added = true;
    it->second.special = t.special;
  }
}

void Qwen2Tokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& ids) const {
  std::vector<std::string_view> pieces;
  pretokenizer_.split(text, pieces);
  for (std::string_view piece : pieces) bpe_.encode_piece(piece, ids);
}

std::vector<int32_t> Qwen2Tokenizer::encode(std::string_view text) const {
  text::require_utf8(text, "text to tokenize");
  std::vector<int32_t> ids;
  std::vector<text::TextSegment> segments;
  raw_added_.split(text, segments);
  std::vector<text::TextSegment> normalized_segments;
  for (const text::TextSegment& segment : segments) {
    if (segment.added_token_id != text::TextSegment::kPlainText) {
      ids.push_back(segment.added_token_id);
      continue;
    }
    const std::string normalized = text::nfc(segment.text);
    if (normalized_added_.empty()) {
      encode_normalized(normalized, ids);
      continue;
    }
    normalized_segments.clear();
    normalized_added_.split(normalized, normalized_segments);
    for (const text::TextSegment& s : normalized_segments) {
      if (s.added_token_id != text::TextSegment::kPlainText)
        ids.push_back(s.added_token_id);
      else
        encode_normalized(s.text, ids);
    }
  }
  return ids;
}

std::string Qwen2Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    auto it = id_to_token_.find(id);
    if (it == id_to_token_.end()) throw InputError("cannot decode token id " + std::to_string(id) + ": not in the vocabulary");
    const IdEntry& entry = it->second;
    if (skip_special_tokens && entry.special) continue;
    // Hugging Face's ByteLevel decoder: a token made only of byte-level characters spells those bytes; any
    // other token (an added token such as "<think>" with characters outside the alphabet) spells itself.
    if (auto spelled = text::byte_level_to_bytes(entry.token))
      bytes += *spelled;
    else
      bytes += entry.token;
  }
  return text::to_utf8_lossy(bytes);
}

std::optional<int32_t> Qwen2Tokenizer::token_id(std::string_view token) const {
  if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
  if (auto it = bpe_.vocab().find(token); it != bpe_.vocab().end()) return it->second;
  return std::nullopt;
}

std::optional<int32_t> Qwen2Tokenizer::added_token_id(std::string_view token) const {
  if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Qwen2Tokenizer::id_token(int32_t id) const {
  auto it = id_to_token_.find(id);
  if (it == id_to_token_.end()) return std::nullopt;
  return it->second.token;
}

}  // namespace qi

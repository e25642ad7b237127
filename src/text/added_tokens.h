// Added tokens (<|im_start|>, <|endoftext|>, ...): strings the tokenizer maps to one id wherever they occur
// in the text, before pre-tokenisation. Matching follows Hugging Face's AddedVocabulary with
// split_special_tokens=False: leftmost match, the longest one where several start at the same position.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qi::text {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;     // skipped by decode(ids, skip_special_tokens = true)
  bool normalized = false;  // matched in NFC-normalised text rather than in the raw input
};

// A run of the input: an added token's id, or plain text for the rest of the pipeline.
struct TextSegment {
  static constexpr int32_t kPlainText = -1;
  std::string_view text;
  int32_t added_token_id = kPlainText;
};

// Finds a fixed set of added tokens in text. Immutable after construction (safe to share across threads).
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  bool empty() const { return token_count_ == 0; }
  // Appends the segments of `text` to `out`: plain runs (never empty) and matched tokens, in order.
  void split(std::string_view text, std::vector<TextSegment>& out) const;

 private:
  struct Candidate {
    std::string content;
    int32_t id;
  };
  static constexpr size_t kByteValues = 256;
  // Tokens by first byte, longest first, so the first one that matches at a position is the longest.
  std::vector<Candidate> by_first_byte_[kByteValues];
  size_t token_count_ = 0;
};

}  // namespace qi::text

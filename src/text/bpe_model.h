// Byte-level BPE (Hugging Face models.BPE without dropout, unk token or byte fallback, as Qwen2 uses it):
// a piece's bytes start as one symbol each, then the adjacent pair with the lowest merge rank is merged
// until no pair has a merge. Results are cached per piece.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qi::text {

// Heterogeneous lookup (find(string_view) without building a std::string).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// One merge rule "left right" of merges.txt / tokenizer.json, in byte-level spelling.
struct MergeRule {
  std::string left;
  std::string right;
};

class BpeModel {
 public:
  // vocab: byte-level token -> id. merges in rank order (first = applied first). Every byte's character must
  // be in the vocabulary, and both sides and the concatenation of every merge; otherwise InputError naming
  // `origin` and the offending entry.
  BpeModel(TokenIdMap vocab, const std::vector<MergeRule>& merges, const std::string& origin);

  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-tokenised piece, given as raw bytes. Thread-safe.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& ids) const;

  const TokenIdMap& vocab() const { return vocab_; }
  size_t merge_count() const { return merge_ranks_.size(); }

 private:
  struct MergeResult {
    uint32_t rank;
    int32_t id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }
  const MergeResult* find_merge(int32_t left, int32_t right) const;
  void merge(std::string_view bytes, std::vector<int32_t>& ids) const;

  TokenIdMap vocab_;
  std::array<int32_t, 256> byte_ids_{};
  std::unordered_map<uint64_t, MergeResult> merge_ranks_;

  // Pieces already encoded. Like Hugging Face's BPE cache: bounded, and long pieces are not kept.
  static constexpr size_t kCacheCapacity = 10'000;
  static constexpr size_t kMaxCachedPieceBytes = 256;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace qi::text

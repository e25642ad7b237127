#include "text/bpe_model.h"

#include <queue>

#include "core/error.h"
#include "text/byte_level.h"

namespace qi::text {

namespace {

int32_t lookup(const TokenIdMap& vocab, const std::string& token, const std::string& origin, const std::string& what) {
  auto it = vocab.find(token);
  if (it == vocab.end()) throw InputError(origin + ": " + what + " '" + token + "' is not in the vocabulary");
  return it->second;
}

// A symbol of the piece being merged: a token id in a doubly linked list over the initial positions.
struct Symbol {
  int32_t id;
  int32_t prev;  // -1 at the start
  int32_t next;  // -1 at the end
  bool merged_away = false;
};

// A pair that may be merged: the left symbol's position, the merge's rank and the resulting id.
struct MergeCandidate {
  uint32_t rank;
  int32_t pos;
  int32_t new_id;
  // Lowest rank first; among equal ranks the leftmost, as Hugging Face's word merging does.
  bool operator>(const MergeCandidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::BpeModel(TokenIdMap vocab, const std::vector<MergeRule>& merges, const std::string& origin)
    : vocab_(std::move(vocab)) {
  for (size_t b = 0; b < byte_ids_.size(); ++b) {
    const char byte = char(b);
    byte_ids_[b] = lookup(vocab_, bytes_to_byte_level(std::string_view(&byte, 1)), origin,
                          "the byte-level character of byte " + std::to_string(b) + ",");
  }
  merge_ranks_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const MergeRule& m = merges[rank];
    const std::string what = "merge " + std::to_string(rank + 1) + " ('" + m.left + " " + m.right + "'):";
    const int32_t left = lookup(vocab_, m.left, origin, what + " left token");
    const int32_t right = lookup(vocab_, m.right, origin, what + " right token");
    const int32_t merged = lookup(vocab_, m.left + m.right, origin, what + " merged token");
    // A repeated pair takes its last rank, as in Hugging Face's BPE (its merge map is built by insertion).
    merge_ranks_.insert_or_assign(pair_key(left, right), MergeResult{uint32_t(rank), merged});
  }
}

const BpeModel::MergeResult* BpeModel::find_merge(int32_t left, int32_t right) const {
  auto it = merge_ranks_.find(pair_key(left, right));
  return it == merge_ranks_.end() ? nullptr : &it->second;
}

void BpeModel::merge(std::string_view bytes, std::vector<int32_t>& ids) const {
  const int32_t n = int32_t(bytes.size());
  std::vector<Symbol> symbols(bytes.size());
  for (int32_t i = 0; i < n; ++i) symbols[size_t(i)] = {byte_ids_[uint8_t(bytes[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1};

  std::priority_queue<MergeCandidate, std::vector<MergeCandidate>, std::greater<>> queue;
  auto push_pair = [&](int32_t pos) {
    const Symbol& s = symbols[size_t(pos)];
    if (s.next < 0) return;
    if (const MergeResult* m = find_merge(s.id, symbols[size_t(s.next)].id)) queue.push({m->rank, pos, m->id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

  while (!queue.empty()) {
    const MergeCandidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(top.pos)];
    // Stale entries: the left symbol was merged into its neighbour, or either side changed since the push.
    if (left.merged_away || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    const MergeResult* current = find_merge(left.id, right.id);
    if (!current || current->rank != top.rank || current->id != top.new_id) continue;

    left.id = top.new_id;
    right.merged_away = true;
    left.next = right.next;
    if (left.next >= 0) symbols[size_t(left.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[size_t(i)].next) ids.push_back(symbols[size_t(i)].id);
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& ids) const {
  if (bytes.empty()) return;
  if (bytes.size() == 1) {
    ids.push_back(byte_ids_[uint8_t(bytes[0])]);
    return;
  }
  const bool cacheable = bytes.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(bytes); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  merge(bytes, ids);
  if (cacheable) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(bytes), std::vector<int32_t>(ids.begin() + first, ids.end()));
  }
}

}  // namespace qi::text

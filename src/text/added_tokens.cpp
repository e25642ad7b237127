#include "text/added_tokens.h"

#include <algorithm>

namespace qi::text {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;  // an empty token can never be matched
    by_first_byte_[uint8_t(t.content[0])].push_back({t.content, t.id});
    ++token_count_;
  }
  for (auto& list : by_first_byte_)
    std::stable_sort(list.begin(), list.end(),
                     [](const Candidate& a, const Candidate& b) { return a.content.size() > b.content.size(); });
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>& out) const {
  size_t plain_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const Candidate* match = nullptr;
    for (const Candidate& c : by_first_byte_[uint8_t(text[i])]) {
      if (text.compare(i, c.content.size(), c.content) == 0) {
        match = &c;
        break;
      }
    }
    if (!match) {
      ++i;
      continue;
    }
    if (i > plain_start) out.push_back({text.substr(plain_start, i - plain_start), TextSegment::kPlainText});
    out.push_back({text.substr(i, match->content.size()), match->id});
    i += match->content.size();
    plain_start = i;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), TextSegment::kPlainText});
}

}  // namespace qi::text

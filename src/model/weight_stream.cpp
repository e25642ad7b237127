#include "model/weight_stream.h"

#include <cstdio>
#include <string>
#include <stdexcept>

namespace qi {

WeightStream::WeightStream(Backend& backend, int slots) : backend_(backend), slots_wanted_(slots) {
  if (slots < 1) throw std::invalid_argument("weight stream: needs at least one slot, got " + std::to_string(slots));
}

int WeightStream::add_group(std::vector<Tensor> host_weights) {
  if (!groups_.empty()) {
    const std::vector<Tensor>& first = groups_.front();
    bool same = first.size() == host_weights.size();
    for (size_t i = 0; same && i < first.size(); ++i)
      same = first[i].shape() == host_weights[i].shape() && first[i].dtype() == host_weights[i].dtype();
    if (!same) throw std::invalid_argument("weight stream: every group needs the tensors of the first");
  } else {
    for (const Tensor& t : host_weights) group_bytes_ += t.bytes();
  }
  // One slot per group until the ring is complete: a slot is as large as a group, so the ring's memory is
  // taken here, with the model's other weights, not in the middle of a forward pass.
  if (int(slots_.size()) < slots_wanted_) {
    Slot s;
    for (const Tensor& t : host_weights) s.tensors.push_back(backend_.empty(t.shape(), t.dtype()));
    slots_.push_back(std::move(s));
  }
  groups_.push_back(std::move(host_weights));
  return int(groups_.size()) - 1;
}

int WeightStream::slot_holding(int g) const {
  for (size_t s = 0; s < slots_.size(); ++s)
    if (slots_[s].group == g) return int(s);
  return -1;
}

int WeightStream::victim(int g) const {
  const int n = groups();
  auto in_window = [&](int h) { return h >= 0 && (h - g + n) % n < int(slots_.size()); };
  int best = -1;
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (in_window(slot.group)) continue;
    if (slot.group < 0) return int(s);  // an empty slot first
    if (best < 0 || slot.last_use < slots_[size_t(best)].last_use) best = int(s);
  }
  return best;
}

void WeightStream::assign(int slot, int g) {
  // A load still queued for this slot is abandoned (only when groups are not used in cyclic order).
  std::erase_if(pending_, [slot](const Piece& p) { return p.slot == slot; });
  Slot& s = slots_[size_t(slot)];
  s.group = g;
  s.last_use = ++tick_;
  for (size_t i = 0; i < s.tensors.size(); ++i) pending_.push_back({slot, i});
  ++stats_.loads;
}

void WeightStream::issue(const Piece& p) {
  const Slot& s = slots_[size_t(p.slot)];
  const Tensor& src = groups_[size_t(s.group)][p.index];
  backend_.copy_into(s.tensors[p.index], src);
  ++stats_.copies;
  stats_.bytes += src.bytes();
}

void WeightStream::flush(int slot) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->slot != slot) {
      ++it;
      continue;
    }
    issue(*it);
    it = pending_.erase(it);
  }
}

const std::vector<Tensor>& WeightStream::acquire(int g) {
  const int n = groups();
  if (g < 0 || g >= n)
    throw std::out_of_range("weight stream: group " + std::to_string(g) + " of " + std::to_string(n));
  ++stats_.acquires;
  int s = slot_holding(g);
  if (s < 0) {
    s = victim(g);
    assign(s, g);
  }
  flush(s);  // whatever pump() has not copied yet
  slots_[size_t(s)].last_use = ++tick_;
  // Prefetch: the next groups into the other slots, each replacing the least recently used group that is
  // not needed before it.
  for (int d = 1; d < int(slots_.size()); ++d) {
    const int h = (g + d) % n;
    if (slot_holding(h) >= 0) continue;
    const int v = victim(g);
    if (v < 0) break;
    assign(v, h);
  }
  return slots_[size_t(s)].tensors;
}

void WeightStream::pump(int copies) {
  for (; copies > 0 && !pending_.empty(); --copies) {
    issue(pending_.front());
    pending_.pop_front();
    ++stats_.pumped;
  }
}

namespace {
// "25.20 GB", or "12.3 MB" below 0.1 GB (small test models).
std::string gb(double bytes) {
  char buf[32];
  if (bytes < 1e8)
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  return buf;
}
}  // namespace

std::string describe_streaming(const char* what, int first_streamed, int count, const WeightStream* stream) {
  if (!stream) return "";
  const int streamed = count - first_streamed, slots = stream->slots();
  const double bytes = double(stream->group_bytes()) * streamed;
  const std::string blocks = streamed == 1 ? "block " + std::to_string(first_streamed)
                                           : "blocks " + std::to_string(first_streamed) + "-" + std::to_string(count - 1);
  // While more blocks stream than the ring holds, a pass copies each of them once; otherwise they stay.
  const char* verb = streamed == 1 ? ") stays in host memory and streams through " : ") stay in host memory and stream through ";
  return std::string(what) + ": " + blocks + " (" + std::to_string(streamed) + " of " + std::to_string(count) + ", " +
         gb(bytes) + verb + std::to_string(slots) + " device slot" + (slots == 1 ? "" : "s") + " (" +
         gb(streamed > slots ? bytes : 0.0) + " copied per pass)";
}

}  // namespace qi

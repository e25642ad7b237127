#include "backend/vulkan/vk_hazards.h"

namespace qi::vk {
namespace {

bool any_overlap(std::span<const BufferRange> a, const std::vector<BufferRange>& b) {
  for (const auto& x : a)
    for (const auto& y : b)
      if (x.overlaps(y)) return true;
  return false;
}

}  // namespace

bool HazardTracker::conflicts(std::span<const BufferRange> reads, std::span<const BufferRange> writes) const {
  return any_overlap(reads, writes_) || any_overlap(writes, writes_) || any_overlap(writes, reads_);
}

void HazardTracker::add(std::span<const BufferRange> reads, std::span<const BufferRange> writes) {
  reads_.insert(reads_.end(), reads.begin(), reads.end());
  writes_.insert(writes_.end(), writes.begin(), writes.end());
}

void HazardTracker::clear() {
  reads_.clear();
  writes_.clear();
}

}  // namespace qi::vk

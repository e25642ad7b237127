// Decides where a pipeline barrier is needed between recorded commands. A command that reads what an
// earlier, not yet synchronised command wrote (RAW), or writes what one read (WAR) or wrote (WAW), needs a
// barrier first; independent commands run without one. Ranges are byte ranges of block buffers, so a range
// recycled by the allocator for a new tensor still conflicts with the work on its previous owner.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "backend/vulkan/vk_common.h"

namespace qi::vk {

struct BufferRange {
  VkBuffer buffer = VK_NULL_HANDLE;
  uint64_t offset = 0;
  uint64_t size = 0;

  bool overlaps(const BufferRange& o) const {
    return buffer == o.buffer && offset < o.offset + o.size && o.offset < offset + size;
  }
};

class HazardTracker {
 public:
  // Whether a command with these accesses must wait for the commands recorded since the last barrier.
  bool conflicts(std::span<const BufferRange> reads, std::span<const BufferRange> writes) const;
  // Notes a recorded command's accesses.
  void add(std::span<const BufferRange> reads, std::span<const BufferRange> writes);
  // After a barrier (or once all earlier work completed) nothing is pending.
  void clear();
  size_t pending_ranges() const { return reads_.size() + writes_.size(); }

 private:
  std::vector<BufferRange> reads_;   // read since the last barrier
  std::vector<BufferRange> writes_;  // written since the last barrier
};

}  // namespace qi::vk

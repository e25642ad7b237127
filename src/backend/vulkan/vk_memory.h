// Device memory: a sub-allocator over large VkDeviceMemory blocks, each bound to one VkBuffer that spans it,
// so a tensor is (block buffer, offset, size) and every hazard is a byte range of a block buffer.
//
// Freed ranges go back to their block (coalesced with free neighbours) and blocks are kept, so the allocator
// is also the caching pool: a repeated workload (a denoising step) finds its ranges again and obtains nothing
// new from the driver after the first iteration. Empty blocks are returned to the driver only when an
// allocation would otherwise fail.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/vulkan/vk_device.h"
#include "backend/vulkan/vk_fault_injection.h"
#include "ops/backend.h"

namespace qi::vk {

// Allocations of different lifetimes live in different blocks, so long-lived weights do not fragment the
// activation blocks.
enum class Arena : uint8_t { Activations, Weights, Staging, Readback };
constexpr int kArenaCount = 4;

struct Block;

struct Allocation {
  Block* block = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;  // rounded up to the allocation alignment
  // Serial of the last command batch that may still touch this range (from its previous owner): host writes
  // through a mapping must wait until that batch has completed.
  uint64_t reuse_serial = 0;

  VkBuffer buffer() const;
  uint8_t* mapped() const;  // nullptr unless the block is host-visible
};

class Allocator {
 public:
  explicit Allocator(const Device& device);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Throws RuntimeFailure (needed vs available bytes, and the ways out) when the device is out of memory
  // even for a block of just this request after the empty blocks were released.
  Allocation allocate(uint64_t bytes, Arena arena);
  // serial: the batch being recorded now (the last one that can touch the range).
  void free(const Allocation& a, uint64_t serial);

  // Called before empty blocks are released on memory pressure: must wait until the GPU is idle.
  void set_idle_wait(std::function<void()> wait) { idle_wait_ = std::move(wait); }
  // Returns empty blocks to the driver (the GPU must be idle). Returns the bytes released.
  uint64_t release_empty_blocks();
  // Test hook (QI_VK_FAULT): simulated memory exhaustion in front of vkAllocateMemory. Null: none.
  void set_fault_injector(std::shared_ptr<FaultInjector> faults) { faults_ = std::move(faults); }

  // Tensor memory (activations + weights): live bytes, high-water mark, bytes held from the driver.
  MemoryStats stats() const;
  void reset_peak();
  // True when tensors live in host-visible device memory (uploads and downloads need no staging copy).
  bool zero_copy() const { return zero_copy_; }
  uint64_t alignment() const { return alignment_; }

 private:
  struct FreeIndexKey;
  Block* new_block(uint64_t min_bytes, Arena arena);
  // vkAllocateMemory / vkFreeMemory of a block's memory, through the fault injector when there is one.
  VkResult obtain_memory(uint64_t bytes, int type, VkDeviceMemory* memory);
  void return_memory(const Block& b);
  bool device_local(int type) const;
  bool take_from_free(uint64_t bytes, Arena arena, Allocation* out);
  void insert_free(Block* b, uint64_t offset, uint64_t size, uint64_t serial);
  uint64_t heap_available(uint32_t heap) const;  // what the driver would still hand out (fault hook included)
  uint64_t real_heap_available(uint32_t heap) const;
  int memory_type(Arena arena) const;

  const Device& device_;
  uint64_t alignment_;
  bool zero_copy_;
  std::vector<std::unique_ptr<Block>> blocks_;
  // Per arena: free ranges by size (best fit), value = (block, offset).
  std::multimap<uint64_t, std::pair<Block*, uint64_t>> by_size_[kArenaCount];
  std::function<void()> idle_wait_;
  std::shared_ptr<FaultInjector> faults_;
  mutable std::recursive_mutex mutex_;  // recursive: idle_wait_ frees staging ranges while allocating
  uint64_t in_use_ = 0, peak_ = 0, reserved_ = 0;
};

struct FreeRange {
  uint64_t size = 0;
  uint64_t reuse_serial = 0;
};

struct Block {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  uint64_t size = 0;
  uint8_t* mapped = nullptr;
  Arena arena = Arena::Activations;
  uint64_t used = 0;
  std::map<uint64_t, FreeRange> free;  // by offset
};

inline VkBuffer Allocation::buffer() const { return block->buffer; }
inline uint8_t* Allocation::mapped() const { return block->mapped ? block->mapped + offset : nullptr; }

}  // namespace qi::vk

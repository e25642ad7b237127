#include "backend/vulkan/vk_memory.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/error.h"

namespace qi::vk {
namespace {

// Block sizes: large enough that a model needs few driver allocations, small enough that a mostly free block
// wastes little. Requests above the block size get a block of their own.
constexpr uint64_t kTensorBlockBytes = 256 * kMiB;
constexpr uint64_t kStagingBlockBytes = 64 * kMiB;
// Every range starts on this boundary: covers minStorageBufferOffsetAlignment on every known device, the
// 4-byte granularity of vkCmdFillBuffer/vkCmdCopyBuffer and nonCoherentAtomSize.
constexpr uint64_t kMinAlignment = 256;

const char* arena_name(Arena a) {
  switch (a) {
    case Arena::Activations: return "activations";
    case Arena::Weights: return "weights";
    case Arena::Staging: return "staging";
    case Arena::Readback: return "readback";
  }
  return "?";
}

bool is_tensor_arena(Arena a) { return a == Arena::Activations || a == Arena::Weights; }

// Bytes for a message: small amounts in bytes or KiB, the rest as mib() prints them.
std::string amount(uint64_t bytes) {
  constexpr uint64_t kKiB = 1024;
  if (bytes < kKiB) return std::to_string(bytes) + " bytes";
  if (bytes < kMiB) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / double(kKiB));
    return buf;
  }
  return mib(bytes);
}

bool is_out_of_memory(VkResult r) { return r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY; }

}  // namespace

Allocator::Allocator(const Device& device)
    : device_(device),
      alignment_(std::max<uint64_t>(kMinAlignment, device.caps().min_storage_offset_alignment)),
      zero_copy_(device.caps().memory_types.zero_copy >= 0) {}

Allocator::~Allocator() {
  VkDevice dev = device_.handle();
  for (auto& b : blocks_) {
    vkDestroyBuffer(dev, b->buffer, nullptr);
    return_memory(*b);
  }
}

int Allocator::memory_type(Arena arena) const {
  const MemoryTypeChoice& t = device_.caps().memory_types;
  switch (arena) {
    case Arena::Activations:
    case Arena::Weights: return zero_copy_ ? t.zero_copy : t.device_local;
    case Arena::Staging: return t.staging;
    case Arena::Readback: return t.readback;
  }
  return -1;
}

bool Allocator::device_local(int type) const {
  return device_.caps().memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
}

VkResult Allocator::obtain_memory(uint64_t bytes, int type, VkDeviceMemory* memory) {
  const bool simulated = faults_ && device_local(type);
  if (simulated && !faults_->may_allocate(bytes)) return VK_ERROR_OUT_OF_DEVICE_MEMORY;
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  info.allocationSize = bytes;
  info.memoryTypeIndex = uint32_t(type);
  const VkResult r = vkAllocateMemory(device_.handle(), &info, nullptr, memory);
  if (simulated && r == VK_SUCCESS) faults_->allocated(bytes);
  return r;
}

void Allocator::return_memory(const Block& b) {
  vkFreeMemory(device_.handle(), b.memory, nullptr);
  if (faults_ && device_local(memory_type(b.arena))) faults_->freed(b.size);
}

uint64_t Allocator::heap_available(uint32_t heap) const {
  if (faults_) return std::min(faults_->available(), real_heap_available(heap));
  return real_heap_available(heap);
}

uint64_t Allocator::real_heap_available(uint32_t heap) const {
  const auto& caps = device_.caps();
  if (caps.memory_budget) {
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 p{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    p.pNext = &budget;
    vkGetPhysicalDeviceMemoryProperties2(caps.physical, &p);
    return budget.heapBudget[heap] > budget.heapUsage[heap] ? budget.heapBudget[heap] - budget.heapUsage[heap] : 0;
  }
  uint64_t size = caps.memory.memoryHeaps[heap].size;
  return size > reserved_ ? size - reserved_ : 0;
}

Block* Allocator::new_block(uint64_t min_bytes, Arena arena) {
  const auto& caps = device_.caps();
  const int type = memory_type(arena);
  if (type < 0) throw RuntimeFailure(std::string("Vulkan device has no memory type for ") + arena_name(arena));
  const uint64_t standard = is_tensor_arena(arena) ? kTensorBlockBytes : kStagingBlockBytes;
  uint64_t size = std::min(std::max(standard, min_bytes), std::max(caps.max_allocation, min_bytes));
  const uint32_t heap = caps.memory.memoryTypes[type].heapIndex;
  if (min_bytes > caps.max_allocation)
    throw RuntimeFailure("a Vulkan allocation of " + mib(min_bytes) + " exceeds the device's maxMemoryAllocationSize (" +
                         mib(caps.max_allocation) + ")");

  auto block = std::make_unique<Block>();
  block->arena = arena;
  VkDevice dev = device_.handle();

  VkResult r = obtain_memory(size, type, &block->memory);
  if (is_out_of_memory(r) && size > min_bytes) {
    // Memory is short: a block of just this request may still fit.
    size = min_bytes;
    r = obtain_memory(size, type, &block->memory);
  }
  if (is_out_of_memory(r) && idle_wait_) {
    // Memory pressure: give the cached empty blocks back and try once more.
    idle_wait_();
    if (release_empty_blocks() > 0) r = obtain_memory(size, type, &block->memory);
  }
  if (is_out_of_memory(r))
    throw RuntimeFailure("out of device memory: needed " + amount(size) + " more for " + arena_name(arena) +
                         ", about " + amount(heap_available(heap)) + " available (" + amount(reserved_) +
                         " already held by this run; heap of " + mib(caps.memory.memoryHeaps[heap].size) +
                         "). Options: a smaller --width/--height, --vram-budget <GiB> to keep part of the "
                         "transformer's weights in host memory, another GPU (--device), or --backend cpu");
  check(r, "vkAllocateMemory");
  block->size = size;

  VkBufferCreateInfo binfo{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  binfo.size = size;
  binfo.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  // Streamed weights are copied on a transfer queue of another family and read by the kernels: such buffers
  // are shared by both families (no ownership transfers).
  const std::vector<uint32_t> families = device_.queue_families();
  binfo.sharingMode = families.size() > 1 ? VK_SHARING_MODE_CONCURRENT : VK_SHARING_MODE_EXCLUSIVE;
  if (families.size() > 1) {
    binfo.queueFamilyIndexCount = uint32_t(families.size());
    binfo.pQueueFamilyIndices = families.data();
  }
  r = vkCreateBuffer(dev, &binfo, nullptr, &block->buffer);
  if (r != VK_SUCCESS) {
    return_memory(*block);
    check(r, "vkCreateBuffer");
  }
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, block->buffer, &req);
  if (!(req.memoryTypeBits & (1u << type)) || req.size > size) {
    vkDestroyBuffer(dev, block->buffer, nullptr);
    return_memory(*block);
    throw RuntimeFailure("Vulkan buffer of " + mib(size) + " cannot use the chosen memory type");
  }
  check(vkBindBufferMemory(dev, block->buffer, block->memory, 0), "vkBindBufferMemory");
  // Tensors' memory is written and read through a mapping only where it is zero-copy memory; elsewhere
  // (QI_ZERO_COPY=0 on a device whose every memory type is host-visible) uploads and downloads are staged.
  const bool host_access = !is_tensor_arena(arena) || zero_copy_;
  if (host_access && (caps.memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
    void* p = nullptr;
    check(vkMapMemory(dev, block->memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    block->mapped = static_cast<uint8_t*>(p);
  }
  if (is_tensor_arena(arena)) reserved_ += size;
  Block* raw = block.get();
  blocks_.push_back(std::move(block));
  insert_free(raw, 0, size, 0);
  return raw;
}

void Allocator::insert_free(Block* b, uint64_t offset, uint64_t size, uint64_t serial) {
  b->free[offset] = FreeRange{size, serial};
  by_size_[int(b->arena)].emplace(size, std::make_pair(b, offset));
}

namespace {
void erase_index(std::multimap<uint64_t, std::pair<Block*, uint64_t>>& index, uint64_t size, Block* b, uint64_t off) {
  auto [lo, hi] = index.equal_range(size);
  for (auto it = lo; it != hi; ++it)
    if (it->second.first == b && it->second.second == off) {
      index.erase(it);
      return;
    }
}
}  // namespace

bool Allocator::take_from_free(uint64_t bytes, Arena arena, Allocation* out) {
  auto& index = by_size_[int(arena)];
  auto it = index.lower_bound(bytes);  // best fit: the smallest free range that holds the request
  if (it == index.end()) return false;
  auto [block, offset] = it->second;
  index.erase(it);
  auto fit = block->free.find(offset);
  FreeRange range = fit->second;
  block->free.erase(fit);
  if (range.size > bytes) insert_free(block, offset + bytes, range.size - bytes, range.reuse_serial);
  block->used += bytes;
  *out = Allocation{block, offset, bytes, range.reuse_serial};
  return true;
}

Allocation Allocator::allocate(uint64_t bytes, Arena arena) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  const uint64_t size = round_up(std::max<uint64_t>(bytes, 1), alignment_);
  Allocation a;
  // Under QI_VK_FAULT=alloc_fail_at the request at which memory runs out finds no room in the held blocks.
  const bool starved = faults_ && faults_->on_allocation_request();
  if (starved || !take_from_free(size, arena, &a)) {
    new_block(size, arena);
    if (!take_from_free(size, arena, &a)) throw std::logic_error("vk::Allocator: fresh block does not fit");
  }
  if (is_tensor_arena(arena)) {
    in_use_ += size;
    peak_ = std::max(peak_, in_use_);
  }
  return a;
}

void Allocator::free(const Allocation& a, uint64_t serial) {
  if (!a.block) return;
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  Block* b = a.block;
  b->used -= a.size;
  if (is_tensor_arena(b->arena)) in_use_ -= a.size;
  auto& index = by_size_[int(b->arena)];
  uint64_t offset = a.offset, size = a.size, reuse = std::max(serial, a.reuse_serial);
  // Coalesce with the free neighbours on both sides.
  auto next = b->free.lower_bound(offset);
  if (next != b->free.end() && next->first == offset + size) {
    size += next->second.size;
    reuse = std::max(reuse, next->second.reuse_serial);
    erase_index(index, next->second.size, b, next->first);
    next = b->free.erase(next);
  }
  if (next != b->free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size == offset) {
      offset = prev->first;
      size += prev->second.size;
      reuse = std::max(reuse, prev->second.reuse_serial);
      erase_index(index, prev->second.size, b, prev->first);
      b->free.erase(prev);
    }
  }
  insert_free(b, offset, size, reuse);
}

uint64_t Allocator::release_empty_blocks() {
  uint64_t released = 0;
  VkDevice dev = device_.handle();
  for (auto it = blocks_.begin(); it != blocks_.end();) {
    Block* b = it->get();
    if (b->used != 0) {
      ++it;
      continue;
    }
    erase_index(by_size_[int(b->arena)], b->size, b, 0);
    vkDestroyBuffer(dev, b->buffer, nullptr);
    return_memory(*b);
    if (is_tensor_arena(b->arena)) reserved_ -= b->size;
    released += b->size;
    it = blocks_.erase(it);
  }
  return released;
}

MemoryStats Allocator::stats() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return MemoryStats{in_use_, peak_, reserved_};
}

void Allocator::reset_peak() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  peak_ = in_use_;
}

}  // namespace qi::vk

// Vulkan headers plus the one error helper every runtime file uses: a failed VkResult becomes a
// RuntimeFailure naming the call and the result (device loss and memory exhaustion spelled out).
#pragma once
#include <vulkan/vulkan.h>

#include <string>

namespace qi::vk {

// "VK_ERROR_DEVICE_LOST" etc.
const char* result_name(VkResult result);

// Throws RuntimeFailure("<what>: <result>") unless result is VK_SUCCESS (or VK_INCOMPLETE for queries).
void check(VkResult result, const char* what);

constexpr uint64_t kMiB = 1ull << 20;

// Rounds value up to a multiple of alignment (any positive alignment, not only powers of two).
constexpr uint64_t round_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

std::string mib(uint64_t bytes);  // "123.4 MiB"

// A command pool for short-lived recordings on queues of `family` and one primary command buffer from it.
void create_command_buffer(VkDevice device, uint32_t family, VkCommandPool* pool, VkCommandBuffer* cb);
// A timeline semaphore starting at `initial`.
VkSemaphore create_timeline_semaphore(VkDevice device, uint64_t initial);

}  // namespace qi::vk

#include "backend/vulkan/vk_transfer_queue.h"

#include <algorithm>

#include "core/error.h"

namespace qi::vk {
namespace {

// Command buffers in the ring: copies that may be in flight before recording one more waits for the oldest.
// A streamed block is 14 copies and the slots ring runs at most one block ahead, so 64 never waits in
// practice.
constexpr size_t kCopiesInFlight = 64;
constexpr uint32_t kQueriesPerCopy = 2;  // timestamps before and after

}  // namespace

TransferQueue::TransferQueue(const Device& device) : device_(device), slots_(kCopiesInFlight) {
  const DeviceCaps& caps = device_.caps();
  can_time_ = device_.transfer_family() == caps.compute_queue_family
                  ? caps.timestamp_period_ns > 0 && caps.host_query_reset
                  : caps.transfer_timestamps;
  VkDevice dev = device_.handle();
  timeline_ = create_timeline_semaphore(dev, 0);
  for (Slot& s : slots_) create_command_buffer(dev, uint32_t(device_.transfer_family()), &s.pool, &s.cb);
}

TransferQueue::~TransferQueue() {
  try {
    wait();
  } catch (const std::exception&) {
    // Teardown goes on: whatever failed was reported by the call that met it first.
  }
  VkDevice dev = device_.handle();
  for (Slot& s : slots_) {
    if (s.queries) vkDestroyQueryPool(dev, s.queries, nullptr);
    vkDestroyCommandPool(dev, s.pool, nullptr);
  }
  vkDestroySemaphore(dev, timeline_, nullptr);
}

bool TransferQueue::completed(uint64_t v) {
  if (v <= completed_) return true;
  uint64_t now = 0;
  if (vkGetSemaphoreCounterValue(device_.handle(), timeline_, &now) == VK_SUCCESS && now > completed_)
    completed_ = now;
  return v <= completed_;
}

bool TransferQueue::wait(uint64_t v) {
  if (v == 0) v = submitted_;
  if (completed(v)) return true;
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  info.semaphoreCount = 1;
  info.pSemaphores = &timeline_;
  info.pValues = &v;
  // UINT64_MAX: a hang shows up as VK_ERROR_DEVICE_LOST from the driver, not as a timeout here.
  const VkResult r = vkWaitSemaphores(device_.handle(), &info, UINT64_MAX);
  if (r == VK_ERROR_DEVICE_LOST) return false;
  check(r, "vkWaitSemaphores");
  completed_ = std::max(completed_, v);
  return true;
}

void TransferQueue::retire(Slot& s) {
  if (s.value == 0) return;
  if (!wait(s.value)) {
    s.value = 0;
    return;
  }
  if (s.timed) {
    uint64_t stamps[kQueriesPerCopy] = {};
    const VkResult q = vkGetQueryPoolResults(device_.handle(), s.queries, 0, kQueriesPerCopy, sizeof(stamps), stamps,
                                             sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (q == VK_SUCCESS) {
      timed_ms_ += double(stamps[1] - stamps[0]) * device_.caps().timestamp_period_ns * 1e-6;
      ++timed_copies_;
    }
  }
  s.value = 0;
  s.timed = false;
}

uint64_t TransferQueue::copy(const BufferRange& from, const BufferRange& to, VkSemaphore wait_for,
                             uint64_t wait_value, bool* lost) {
  Slot& s = slots_[next_slot_];
  next_slot_ = (next_slot_ + 1) % slots_.size();
  retire(s);
  VkDevice dev = device_.handle();
  check(vkResetCommandPool(dev, s.pool, 0), "vkResetCommandPool");
  s.timed = profiling_ && can_time_;
  if (s.timed) {
    if (!s.queries) {
      VkQueryPoolCreateInfo q{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
      q.queryType = VK_QUERY_TYPE_TIMESTAMP;
      q.queryCount = kQueriesPerCopy;
      check(vkCreateQueryPool(dev, &q, nullptr, &s.queries), "vkCreateQueryPool");
    }
    vkResetQueryPool(dev, s.queries, 0, kQueriesPerCopy);  // a transfer queue cannot reset queries itself
  }
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(s.cb, &begin), "vkBeginCommandBuffer");
  // Orders this copy after the earlier ones on the queue (a destination written twice).
  VkMemoryBarrier after_copies{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  after_copies.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  after_copies.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(s.cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &after_copies, 0,
                       nullptr, 0, nullptr);
  if (s.timed) vkCmdWriteTimestamp(s.cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s.queries, 0);
  const VkBufferCopy region{from.offset, to.offset, to.size};
  vkCmdCopyBuffer(s.cb, from.buffer, to.buffer, 1, &region);
  if (s.timed) vkCmdWriteTimestamp(s.cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s.queries, 1);
  check(vkEndCommandBuffer(s.cb), "vkEndCommandBuffer");

  const uint64_t value = submitted_ + 1;
  VkTimelineSemaphoreSubmitInfo values{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  values.waitSemaphoreValueCount = wait_value > 0 ? 1 : 0;
  values.pWaitSemaphoreValues = &wait_value;
  values.signalSemaphoreValueCount = 1;
  values.pSignalSemaphoreValues = &value;
  const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkSubmitInfo info{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  info.pNext = &values;
  info.waitSemaphoreCount = wait_value > 0 ? 1 : 0;
  info.pWaitSemaphores = &wait_for;
  info.pWaitDstStageMask = &wait_stage;
  info.commandBufferCount = 1;
  info.pCommandBuffers = &s.cb;
  info.signalSemaphoreCount = 1;
  info.pSignalSemaphores = &timeline_;
  const VkResult r = vkQueueSubmit(device_.transfer_queue(), 1, &info, VK_NULL_HANDLE);
  if (r == VK_ERROR_DEVICE_LOST) {
    *lost = true;
    s.timed = false;
    return 0;
  }
  check(r, "vkQueueSubmit (transfer)");
  s.value = value;
  submitted_ = value;
  return value;
}

double TransferQueue::take_timed_ms(uint64_t* copies) {
  for (Slot& s : slots_)
    if (s.value != 0 && completed(s.value)) retire(s);
  const double ms = timed_ms_;
  *copies = timed_copies_;
  timed_ms_ = 0;
  timed_copies_ = 0;
  return ms;
}

}  // namespace qi::vk

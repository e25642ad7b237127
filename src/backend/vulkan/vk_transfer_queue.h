// Copies submitted apart from the kernels: on a transfer-only queue (a GPU's copy engines) they run while the
// kernels compute, instead of between them as on the compute queue. Used for weights streamed from host
// memory (generate --vram-budget), where a forward pass copies ~23 GB that would otherwise add their whole
// copy time to it.
//
// Each copy is its own submission: it waits until the compute queue's timeline semaphore reaches a value (the
// batch after which nothing reads or writes the destination's previous contents) and signals this queue's
// timeline with its own value, which the kernels that read the copy wait for (CommandStream decides both).
// Waits only name values whose signal has already been submitted, so neither queue can wait on the other in a
// cycle, even when both are the same queue (StreamedCopies::kApart).
#pragma once
#include <cstdint>
#include <vector>

#include "backend/vulkan/vk_device.h"
#include "backend/vulkan/vk_hazards.h"

namespace qi::vk {

class TransferQueue {
 public:
  explicit TransferQueue(const Device& device);
  ~TransferQueue();  // waits for every copy
  TransferQueue(const TransferQueue&) = delete;
  TransferQueue& operator=(const TransferQueue&) = delete;

  // Submits the copy of `from` into `to` (same size) once `wait` has reached `wait_value` (no wait when
  // `wait_value` is 0). Returns this queue's timeline value that marks the copy's completion; 0 after a device
  // loss (VK_ERROR_DEVICE_LOST from the submission, reported through `lost`).
  uint64_t copy(const BufferRange& from, const BufferRange& to, VkSemaphore wait, uint64_t wait_value, bool* lost);

  // This queue's timeline semaphore: a copy's value is signalled when it has completed.
  VkSemaphore timeline() const { return timeline_; }
  // Whether the copy of value `v` is known to have completed (asks the semaphore when not known yet).
  bool completed(uint64_t v);
  // Blocks until the copy of value `v` (every copy when 0) has completed. Returns false on device loss.
  bool wait(uint64_t v = 0);

  // Device time of the copies that completed since the last call (ms) and their count, from timestamps
  // where the queue has them (profiling on); the copies run beside the kernels, so this is not wall time.
  void set_profiling(bool on) { profiling_ = on; }
  double take_timed_ms(uint64_t* copies);

 private:
  struct Slot {
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkQueryPool queries = VK_NULL_HANDLE;
    uint64_t value = 0;  // timeline value of the copy last recorded here (0: free)
    bool timed = false;
  };
  void retire(Slot& s);  // waits for the slot's copy and collects its timestamps

  const Device& device_;
  bool can_time_ = false;
  bool profiling_ = false;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  std::vector<Slot> slots_;
  size_t next_slot_ = 0;
  uint64_t submitted_ = 0;
  uint64_t completed_ = 0;
  double timed_ms_ = 0;
  uint64_t timed_copies_ = 0;
};

}  // namespace qi::vk

// The logical device: the chosen physical device, its compute queue (and a transfer queue for streamed
// weights where one is used), and the optional features the kernels use switched on where present.
#pragma once
#include <string>
#include <vector>

#include "backend/vulkan/vk_device_caps.h"
#include "backend/vulkan/vulkan_backend.h"

namespace qi::vk {

// Index into `devices` chosen by `request`: "" = first discrete GPU, else integrated, else virtual, else CPU
// (lavapipe); a number = that index; anything else = first device whose name contains it (case-insensitive).
// Throws RuntimeFailure naming the available devices when nothing matches.
size_t choose_device(const std::vector<DeviceCaps>& devices, const std::string& request);

// Environment variable that, set to 0, keeps streamed weight copies on the compute queue in program order
// (StreamedCopies::kInOrder) even where the device has a transfer queue.
inline constexpr const char* kTransferQueueEnvVar = "QI_TRANSFER_QUEUE";

// The queue family streamed weight copies go to apart from the kernels under `mode` (and QI_TRANSFER_QUEUE):
// the device's transfer-only family, the compute family (kApart without one), or -1 (copied in order).
int streamed_copy_family(const DeviceCaps& caps, StreamedCopies mode);

class Device {
 public:
  // transfer_family: the queue family streamed weight copies are submitted to apart from the kernels (a
  // second queue is created when it is not the compute family); -1: none, copies are recorded as ops.
  explicit Device(DeviceCaps caps, int transfer_family = -1);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkQueue queue() const { return queue_; }
  // Where copies are submitted apart from the kernels (copies_apart()): the compute queue itself when the
  // transfer family is the compute family.
  bool copies_apart() const { return transfer_family_ >= 0; }
  int transfer_family() const { return transfer_family_; }
  VkQueue transfer_queue() const { return transfer_queue_; }
  // Queue families whose queues use the buffers: 1 (the compute family), or 2 when a transfer family of its
  // own is used (buffers are then shared concurrently between the two).
  std::vector<uint32_t> queue_families() const;
  const DeviceCaps& caps() const { return caps_; }
  // vkCmdPushDescriptorSetKHR (every dispatch binds its buffers this way; no descriptor pools).
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set() const { return push_descriptor_set_; }
  // True when QI_PIPELINE_STATS=1 asked for the driver's statistics of every compiled pipeline (registers,
  // spills, shared memory: VK_KHR_pipeline_executable_properties) and the device offers them.
  bool capture_pipeline_statistics() const { return capture_pipeline_statistics_; }

 private:
  DeviceCaps caps_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  int transfer_family_ = -1;
  VkQueue transfer_queue_ = VK_NULL_HANDLE;
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set_ = nullptr;
  bool capture_pipeline_statistics_ = false;
};

}  // namespace qi::vk

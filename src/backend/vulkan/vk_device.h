// The logical device: the chosen physical device, its one compute queue, and the optional features the
// kernels use switched on where present.
#pragma once
#include <string>
#include <vector>

#include "backend/vulkan/vk_device_caps.h"

namespace qi::vk {

// Index into `devices` chosen by `request`: "" = first discrete GPU, else integrated, else virtual, else CPU
// (lavapipe); a number = that index; anything else = first device whose name contains it (case-insensitive).
// Throws RuntimeFailure naming the available devices when nothing matches.
size_t choose_device(const std::vector<DeviceCaps>& devices, const std::string& request);

class Device {
 public:
  explicit Device(DeviceCaps caps);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkQueue queue() const { return queue_; }
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
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set_ = nullptr;
  bool capture_pipeline_statistics_ = false;
};

}  // namespace qi::vk

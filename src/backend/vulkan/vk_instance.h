// The Vulkan instance: loader, optional Khronos validation (with synchronization validation) and the
// debug-utils messenger that counts and prints every validation warning and error.
#pragma once
#include <memory>
#include <vector>

#include "backend/vulkan/vk_common.h"

namespace qi::vk {

class Instance {
 public:
  // validation: load VK_LAYER_KHRONOS_validation with synchronization validation (a missing layer is
  // reported once and skipped). Throws RuntimeFailure when no Vulkan loader/driver is usable.
  explicit Instance(bool validation);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }
  std::vector<VkPhysicalDevice> physical_devices() const;

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
};

// True when QI_VALIDATION=1 (or any value other than "0"/empty) is set in the environment.
bool validation_requested_by_env();

// Adds one to the process-wide validation message count (used by the messenger).
void count_validation_message();

}  // namespace qi::vk

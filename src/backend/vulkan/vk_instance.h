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

// The first Vulkan headers with VK_NV_cooperative_matrix2; a validation layer built from older ones (Debian 12
// ships 1.3.239) knows neither it nor VK_KHR_cooperative_matrix (1.3.255).
constexpr uint32_t kLayerVersionKnowingCoopmat2 = VK_MAKE_API_VERSION(0, 1, 3, 296);

// Calls that use VK_KHR_cooperative_matrix / VK_NV_cooperative_matrix2 (the feature and property structures
// that query and enable them; shader modules and pipelines with SPV_KHR_cooperative_matrix) run inside this
// scope. A validation layer that predates the extensions reports each of them as invalid: while the scope is
// open on a thread, that thread's messages are then logged at debug level ("not validated") and not
// counted. With a layer that knows the extensions, or none, the scope changes nothing.
// True once an instance loaded a validation layer built from headers before kLayerVersionKnowingCoopmat2.
bool validation_layer_predates_coopmat2();

class CoopmatValidationScope {
 public:
  CoopmatValidationScope();
  ~CoopmatValidationScope();
  CoopmatValidationScope(const CoopmatValidationScope&) = delete;
  CoopmatValidationScope& operator=(const CoopmatValidationScope&) = delete;
};

}  // namespace qi::vk

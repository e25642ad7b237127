// The Vulkan backend: every op a GLSL compute shader (embedded SPIR-V), recorded into command buffers and
// submitted once per stage.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ops/backend.h"

namespace qi {

// How weights streamed from host memory (generate --vram-budget) are copied to the device.
enum class StreamedCopies {
  kAuto,     // on a transfer-only queue (the GPU's copy engines, beside the kernels) where the device has one
             // and timeline semaphores, else kInOrder
  kInOrder,  // recorded among the kernels on the compute queue, ordered like an op (QI_TRANSFER_QUEUE=0)
  // Submitted apart from the kernels (ordered with them by timeline semaphores) even without a transfer-only
  // queue: on the compute queue itself then, which checks that protocol on a one-queue device (lavapipe).
  kApart,
};

struct VulkanOptions {
  // Device choice: "" = first discrete GPU, else integrated, else CPU (lavapipe); a number = that index in
  // `qwen-image-vk devices`; anything else = the first device whose name contains it.
  std::string device;
  // Khronos validation (with synchronization validation). Also switched on by QI_VALIDATION=1.
  bool validation = false;
  // Pipeline cache file ("" = default under $XDG_CACHE_HOME or ~/.cache/qwen-image-vk).
  std::string pipeline_cache_path;
  bool verbose = true;  // print the chosen device and its key limits
  StreamedCopies streamed_copies = StreamedCopies::kAuto;
};

struct VulkanDeviceInfo {
  int index = 0;
  std::string name;
  std::string type;  // "discrete", "integrated", "cpu", ...
  std::string driver;
  std::string api_version;  // "1.3.230"
  uint64_t device_local_bytes = 0;
  uint64_t max_allocation_bytes = 0;
  uint64_t max_storage_buffer_range = 0;
  uint32_t max_shared_memory = 0;
  uint32_t subgroup_size = 0;
  bool host_visible_device_local = false;  // zero-copy uploads
  bool default_choice = false;             // the device make_vulkan_backend picks without options.device
  std::vector<std::string> features;       // fp16, int8, nv_coopmat, khr_coopmat, ...
  std::vector<std::string> memory_heaps;   // "81559.0 MiB device-local", ...
  std::vector<std::string> coopmat_shapes; // "nv 16x16x16 f16*f16+f32->f32", ...
};

// Lists devices without creating one. Empty when there is no Vulkan loader/driver.
std::vector<VulkanDeviceInfo> list_vulkan_devices();

// Throws RuntimeFailure with a clear message when no device is usable.
std::unique_ptr<Backend> make_vulkan_backend(const VulkanOptions& options = {});

// Number of validation messages (warnings and errors) reported so far by any Vulkan backend in this
// process. Tests require zero.
uint64_t vulkan_validation_message_count();

}  // namespace qi

// list_vulkan_devices(): what `qwen-image-vk devices` prints, without creating a logical device.
#include <exception>
#include <memory>

#include "backend/vulkan/vk_device.h"
#include "backend/vulkan/vk_device_caps.h"
#include "backend/vulkan/vk_instance.h"
#include "backend/vulkan/vulkan_backend.h"

namespace qi {

std::vector<VulkanDeviceInfo> list_vulkan_devices() {
  std::vector<VulkanDeviceInfo> out;
  std::unique_ptr<vk::Instance> instance;
  try {
    instance = std::make_unique<vk::Instance>(false);
  } catch (const std::exception&) {
    return out;  // no loader or driver: no devices
  }
  std::vector<vk::DeviceCaps> all;
  for (VkPhysicalDevice p : instance->physical_devices()) all.push_back(vk::query_device_caps(instance->handle(), p));
  const size_t default_index = all.empty() ? 0 : vk::choose_device(all, "");
  int index = 0;
  for (const vk::DeviceCaps& c : all) {
    VulkanDeviceInfo info;
    info.default_choice = size_t(index) == default_index;
    info.index = index++;
    info.name = c.name;
    info.type = c.type;
    info.driver = c.driver;
    info.api_version = std::to_string(VK_API_VERSION_MAJOR(c.props.apiVersion)) + "." +
                       std::to_string(VK_API_VERSION_MINOR(c.props.apiVersion)) + "." +
                       std::to_string(VK_API_VERSION_PATCH(c.props.apiVersion));
    info.device_local_bytes = c.device_local_bytes;
    info.max_allocation_bytes = c.max_allocation;
    info.max_storage_buffer_range = c.max_storage_buffer_range;
    info.max_shared_memory = c.max_shared_memory;
    info.subgroup_size = c.subgroup_size;
    info.host_visible_device_local = c.memory_types.zero_copy >= 0;
    for (uint32_t h = 0; h < c.memory.memoryHeapCount; ++h) {
      const VkMemoryHeap& heap = c.memory.memoryHeaps[h];
      info.memory_heaps.push_back(vk::mib(heap.size) +
                                  ((heap.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) ? " device-local" : " host"));
    }
    if (c.fp16) info.features.push_back("fp16");
    if (c.storage16) info.features.push_back("storage16");
    if (c.int8) info.features.push_back("int8");
    if (c.storage8) info.features.push_back("storage8");
    if (c.subgroup_arithmetic) info.features.push_back("subgroup_arithmetic");
    if (c.subgroup_shuffle) info.features.push_back("subgroup_shuffle");
    if (c.subgroup_reduce) info.features.push_back("subgroup_reduce");
    if (c.push_descriptor) info.features.push_back("push_descriptor");
    if (c.timestamp_period_ns > 0) info.features.push_back("timestamps");
    if (c.transfer_queue_family >= 0 && c.timeline_semaphore) info.features.push_back("transfer_queue");
    if (c.nv_coopmat) info.features.push_back("nv_coopmat");
    if (c.khr_coopmat) info.features.push_back("khr_coopmat");
    if (c.coopmat_workgroup) info.features.push_back("coopmat_workgroup");
    if (c.coopmat_conversions) info.features.push_back("coopmat_conversions");
    if (c.coopmat_tensor_addressing) info.features.push_back("coopmat_tensor_addressing");
    for (const auto& s : c.nv_coopmat_shapes) info.coopmat_shapes.push_back("nv " + s.describe());
    for (const auto& s : c.coopmat_workgroup_shapes) info.coopmat_shapes.push_back("workgroup " + s.describe());
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace qi

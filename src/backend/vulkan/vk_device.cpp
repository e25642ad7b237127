#include "backend/vulkan/vk_device.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "backend/vulkan/vk_cooperative_matrix2.h"
#include "backend/vulkan/vk_instance.h"
#include "core/error.h"

namespace qi::vk {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return s;
}

std::string device_list(const std::vector<DeviceCaps>& devices) {
  std::string s;
  for (size_t i = 0; i < devices.size(); ++i)
    s += (i ? ", " : "") + std::to_string(i) + ": " + devices[i].name + " (" + devices[i].type + ")";
  return s.empty() ? "none" : s;
}

// Lower is better when no device is requested.
int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

}  // namespace

size_t choose_device(const std::vector<DeviceCaps>& devices, const std::string& request) {
  if (devices.empty())
    throw RuntimeFailure("no Vulkan device found (install a GPU driver, or Mesa lavapipe: mesa-vulkan-drivers)");
  if (request.empty()) {
    size_t best = 0;
    for (size_t i = 1; i < devices.size(); ++i)
      if (type_rank(devices[i].props.deviceType) < type_rank(devices[best].props.deviceType)) best = i;
    return best;
  }
  size_t index = 0;
  auto [end, ec] = std::from_chars(request.data(), request.data() + request.size(), index);
  if (ec == std::errc() && end == request.data() + request.size()) {
    if (index >= devices.size())
      throw RuntimeFailure("Vulkan device index " + request + " out of range; devices: " + device_list(devices));
    return index;
  }
  for (size_t i = 0; i < devices.size(); ++i)
    if (lower(devices[i].name).find(lower(request)) != std::string::npos) return i;
  throw RuntimeFailure("no Vulkan device name contains '" + request + "'; devices: " + device_list(devices));
}

int streamed_copy_family(const DeviceCaps& caps, StreamedCopies mode) {
  const char* env = std::getenv(kTransferQueueEnvVar);
  if ((env && std::string_view(env) == "0") || !caps.timeline_semaphore) return -1;
  switch (mode) {
    case StreamedCopies::kAuto: return caps.transfer_queue_family;
    case StreamedCopies::kInOrder: return -1;
    case StreamedCopies::kApart:
      return caps.transfer_queue_family >= 0 ? caps.transfer_queue_family : caps.compute_queue_family;
  }
  return -1;
}

Device::Device(DeviceCaps caps, int transfer_family) : caps_(std::move(caps)), transfer_family_(transfer_family) {
  if (caps_.compute_queue_family < 0) throw RuntimeFailure("Vulkan device " + caps_.name + " has no compute queue");
  if (!caps_.maintenance4)
    throw RuntimeFailure("Vulkan device " + caps_.name + " lacks the maintenance4 feature, which its shaders need");
  if (!caps_.push_descriptor)
    throw RuntimeFailure("Vulkan device " + caps_.name + " lacks VK_KHR_push_descriptor, which this backend needs");

  std::vector<const char*> extensions = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
  if (caps_.nv_coopmat) extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (caps_.memory_budget) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  const char* stats_env = std::getenv("QI_PIPELINE_STATS");
  capture_pipeline_statistics_ = stats_env && std::string_view(stats_env) == "1" &&
                                 caps_.has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  if (capture_pipeline_statistics_) extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable_info{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  executable_info.pipelineExecutableInfo = VK_TRUE;

  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  coop.cooperativeMatrix = VK_TRUE;
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  f13.maintenance4 = VK_TRUE;
  if (caps_.nv_coopmat) f13.pNext = &coop;
  KhrCoopmatFeatures khr_coop;
  Coopmat2Features coop2;
  if (caps_.coopmat_workgroup) {
    extensions.push_back(kKhrCooperativeMatrixExtension);
    extensions.push_back(kNvCooperativeMatrix2Extension);
    khr_coop.cooperativeMatrix = VK_TRUE;
    coop2.cooperativeMatrixWorkgroupScope = VK_TRUE;
    coop2.cooperativeMatrixFlexibleDimensions = VK_TRUE;
    coop2.cooperativeMatrixConversions = caps_.coopmat_conversions ? VK_TRUE : VK_FALSE;
    coop2.cooperativeMatrixTensorAddressing = caps_.coopmat_tensor_addressing ? VK_TRUE : VK_FALSE;
    coop2.pNext = f13.pNext;
    khr_coop.pNext = &coop2;
    f13.pNext = &khr_coop;
  }
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f12.shaderFloat16 = caps_.fp16;
  f12.shaderInt8 = caps_.int8;
  f12.storageBuffer8BitAccess = caps_.storage8;
  f12.vulkanMemoryModel = caps_.memory_model;
  if (copies_apart()) {
    if (!caps_.timeline_semaphore)
      throw std::logic_error("copies submitted apart need timeline semaphores, which " + caps_.name + " lacks");
    f12.timelineSemaphore = VK_TRUE;
    f12.hostQueryReset = caps_.host_query_reset;
  }
  f12.pNext = &f13;
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.storageBuffer16BitAccess = caps_.storage16;
  f11.pNext = &f12;
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f11;
  if (capture_pipeline_statistics_) {
    executable_info.pNext = f2.pNext;
    f2.pNext = &executable_info;
  }

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo q{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  q.queueFamilyIndex = uint32_t(caps_.compute_queue_family);
  q.queueCount = 1;
  q.pQueuePriorities = &priority;

  std::vector<VkDeviceQueueCreateInfo> queues = {q};
  const bool own_transfer_queue = copies_apart() && transfer_family_ != caps_.compute_queue_family;
  if (own_transfer_queue) {
    VkDeviceQueueCreateInfo t = q;
    t.queueFamilyIndex = uint32_t(transfer_family_);
    queues.push_back(t);
  }

  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.pNext = &f2;
  info.queueCreateInfoCount = uint32_t(queues.size());
  info.pQueueCreateInfos = queues.data();
  info.enabledExtensionCount = uint32_t(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  {
    std::optional<CoopmatValidationScope> unvalidated;
    if (caps_.coopmat_workgroup) unvalidated.emplace();
    check(vkCreateDevice(caps_.physical, &info, nullptr, &device_), "vkCreateDevice");
  }
  vkGetDeviceQueue(device_, q.queueFamilyIndex, 0, &queue_);
  if (own_transfer_queue)
    vkGetDeviceQueue(device_, uint32_t(transfer_family_), 0, &transfer_queue_);
  else if (copies_apart())
    transfer_queue_ = queue_;
  push_descriptor_set_ =
      reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
}

std::vector<uint32_t> Device::queue_families() const {
  std::vector<uint32_t> families = {uint32_t(caps_.compute_queue_family)};
  if (copies_apart() && transfer_family_ != caps_.compute_queue_family) families.push_back(uint32_t(transfer_family_));
  return families;
}

Device::~Device() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
  }
}

}  // namespace qi::vk

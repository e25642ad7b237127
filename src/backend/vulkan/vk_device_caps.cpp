#include "backend/vulkan/vk_device_caps.h"

#include "backend/vulkan/vk_cooperative_matrix2.h"
#include "backend/vulkan/vk_instance.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace qi::vk {
namespace {

const char* component_type_name(VkComponentTypeNV t) {
  switch (t) {
    case VK_COMPONENT_TYPE_FLOAT16_NV: return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_NV: return "f32";
    case VK_COMPONENT_TYPE_FLOAT64_NV: return "f64";
    case VK_COMPONENT_TYPE_SINT8_NV: return "s8";
    case VK_COMPONENT_TYPE_SINT16_NV: return "s16";
    case VK_COMPONENT_TYPE_SINT32_NV: return "s32";
    case VK_COMPONENT_TYPE_UINT8_NV: return "u8";
    case VK_COMPONENT_TYPE_UINT16_NV: return "u16";
    case VK_COMPONENT_TYPE_UINT32_NV: return "u32";
    default: return "?";
  }
}

// Picks the first memory type with all `required` flags (and, among those, `preferred` ones first) on a heap
// accepted by heap_ok.
template <class HeapOk>
int pick_memory_type(const VkPhysicalDeviceMemoryProperties& mem, VkMemoryPropertyFlags required,
                     VkMemoryPropertyFlags preferred, HeapOk heap_ok) {
  int fallback = -1;
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    VkMemoryPropertyFlags f = mem.memoryTypes[i].propertyFlags;
    if ((f & required) != required || !heap_ok(mem.memoryTypes[i].heapIndex)) continue;
    if ((f & preferred) == preferred) return int(i);
    if (fallback < 0) fallback = int(i);
  }
  return fallback;
}

}  // namespace

std::string CoopMatShape::describe() const {
  return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + " " + a_type + "*" + b_type + "+" +
         c_type + "->" + result_type;
}

std::string FlexibleCoopMatShape::describe() const {
  return std::to_string(m_step) + "/" + std::to_string(n_step) + "/" + std::to_string(k_step) + " steps, " +
         std::to_string(threads) + " threads " + a_type + "*" + b_type + "+" + c_type + "->" + result_type;
}

bool DeviceCaps::has_workgroup_coopmat(uint32_t m, uint32_t n, uint32_t k, uint32_t threads, uint32_t shared_bytes,
                                       std::string_view operand, std::string_view accumulator) const {
  if (!coopmat_workgroup || threads > coopmat_workgroup_max_threads ||
      std::max({m, n, k}) > coopmat_workgroup_max_dimension ||
      uint64_t(shared_bytes) + coopmat_workgroup_reserved_shared > max_shared_memory)
    return false;
  return std::any_of(coopmat_workgroup_shapes.begin(), coopmat_workgroup_shapes.end(),
                     [&](const FlexibleCoopMatShape& s) {
                       return s.threads == threads && m % s.m_step == 0 && n % s.n_step == 0 && k % s.k_step == 0 &&
                              s.a_type == operand && s.b_type == operand && s.c_type == accumulator &&
                              s.result_type == accumulator;
                     });
}

const char* device_type_name(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

bool DeviceCaps::has_nv_coopmat_shape(uint32_t m, uint32_t n, uint32_t k, std::string_view operand,
                                      std::string_view accumulator) const {
  return std::any_of(nv_coopmat_shapes.begin(), nv_coopmat_shapes.end(), [&](const CoopMatShape& s) {
    return s.m == m && s.n == n && s.k == k && s.a_type == operand && s.b_type == operand &&
           s.c_type == accumulator && s.result_type == accumulator;
  });
}

bool DeviceCaps::has_extension(const char* ext) const {
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

DeviceCaps query_device_caps(VkInstance instance, VkPhysicalDevice physical) {
  DeviceCaps c;
  c.physical = physical;

  uint32_t ext_count = 0;
  vkEnumerateDeviceExtensionProperties(physical, nullptr, &ext_count, nullptr);
  std::vector<VkExtensionProperties> exts(ext_count);
  vkEnumerateDeviceExtensionProperties(physical, nullptr, &ext_count, exts.data());
  for (const auto& e : exts) c.extensions.emplace_back(e.extensionName);
  c.push_descriptor = c.has_extension(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  c.khr_coopmat = c.has_extension("VK_KHR_cooperative_matrix");
  c.memory_budget = c.has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  const bool nv_coopmat_ext = c.has_extension(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  driver.pNext = &subgroup;
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props2.pNext = &driver;
  vkGetPhysicalDeviceProperties2(physical, &props2);
  c.props = props2.properties;
  c.name = c.props.deviceName;
  c.type = device_type_name(c.props.deviceType);
  c.driver = std::string(driver.driverName) + " " + driver.driverInfo;
  const VkPhysicalDeviceLimits& lim = c.props.limits;
  c.max_storage_buffer_range = lim.maxStorageBufferRange;
  c.min_storage_offset_alignment = lim.minStorageBufferOffsetAlignment;
  c.max_shared_memory = lim.maxComputeSharedMemorySize;
  c.max_push_constants = lim.maxPushConstantsSize;
  for (int i = 0; i < 3; ++i) c.max_workgroup_count[i] = lim.maxComputeWorkGroupCount[i];
  c.subgroup_size = subgroup.subgroupSize;
  c.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  c.subgroup_shuffle = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                       (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  const char* reduce_env = std::getenv(kSubgroupReduceEnvVar);
  const bool reduce_off = reduce_env && std::string_view(reduce_env) == "0";
  const bool size_ok = c.subgroup_size > 0 && (c.subgroup_size & (c.subgroup_size - 1)) == 0;
  c.subgroup_reduce = c.subgroup_arithmetic && c.subgroup_shuffle && size_ok && !reduce_off;

  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p3.pNext = &m3;
  vkGetPhysicalDeviceProperties2(physical, &p3);
  c.max_allocation = m3.maxMemoryAllocationSize;

  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  KhrCoopmatFeatures khr_coop;
  Coopmat2Features coop2;
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.pNext = &f12;
  f12.pNext = &f13;
  if (nv_coopmat_ext) f13.pNext = &coop;
  const bool coop2_ext = c.khr_coopmat && c.has_extension(kNvCooperativeMatrix2Extension);
  if (coop2_ext) {
    coop2.pNext = f13.pNext;
    khr_coop.pNext = &coop2;
    f13.pNext = &khr_coop;
  }
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f11;
  {
    std::optional<CoopmatValidationScope> unvalidated;
    if (coop2_ext) unvalidated.emplace();
    vkGetPhysicalDeviceFeatures2(physical, &f2);
  }
  c.fp16 = f12.shaderFloat16;
  c.int8 = f12.shaderInt8;
  c.storage8 = f12.storageBuffer8BitAccess;
  c.storage16 = f11.storageBuffer16BitAccess;
  c.nv_coopmat = nv_coopmat_ext && coop.cooperativeMatrix;
  c.maintenance4 = f13.maintenance4;
  c.memory_model = f12.vulkanMemoryModel;
  c.timeline_semaphore = f12.timelineSemaphore;
  c.host_query_reset = f12.hostQueryReset;

  const char* workgroup_env = std::getenv(kCoopmatWorkgroupEnvVar);
  const bool workgroup_off = workgroup_env && std::string_view(workgroup_env) == "0";
  if (coop2_ext && khr_coop.cooperativeMatrix && coop2.cooperativeMatrixWorkgroupScope &&
      coop2.cooperativeMatrixFlexibleDimensions && !workgroup_off) {
    CoopmatValidationScope unvalidated;
    Coopmat2Properties coop2_props;
    VkPhysicalDeviceProperties2 pp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    pp.pNext = &coop2_props;
    vkGetPhysicalDeviceProperties2(physical, &pp);
    c.coopmat_workgroup_max_threads = coop2_props.cooperativeMatrixWorkgroupScopeMaxWorkgroupSize;
    c.coopmat_workgroup_max_dimension = coop2_props.cooperativeMatrixFlexibleDimensionsMaxDimension;
    c.coopmat_workgroup_reserved_shared = coop2_props.cooperativeMatrixWorkgroupScopeReservedSharedMemory;
    auto get = reinterpret_cast<PfnGetCoopmatFlexibleDimensions>(
        vkGetInstanceProcAddr(instance, kGetCoopmatFlexibleDimensions));
    if (get) {
      uint32_t n = 0;
      get(physical, &n, nullptr);
      std::vector<CoopmatFlexibleDimensions> list(n);
      get(physical, &n, list.data());
      for (const auto& p : list) {
        if (p.scope != kScopeWorkgroup || p.saturatingAccumulation) continue;
        c.coopmat_workgroup_shapes.push_back(
            {p.MGranularity, p.NGranularity, p.KGranularity, p.workgroupInvocations,
             component_type_name(VkComponentTypeNV(p.AType)), component_type_name(VkComponentTypeNV(p.BType)),
             component_type_name(VkComponentTypeNV(p.CType)), component_type_name(VkComponentTypeNV(p.ResultType))});
      }
    }
    c.coopmat_workgroup = !c.coopmat_workgroup_shapes.empty();
    c.coopmat_conversions = c.coopmat_workgroup && coop2.cooperativeMatrixConversions;
    c.coopmat_tensor_addressing = c.coopmat_workgroup && coop2.cooperativeMatrixTensorAddressing;
  }

  if (c.nv_coopmat) {
    auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
    if (get) {
      uint32_t n = 0;
      get(physical, &n, nullptr);
      std::vector<VkCooperativeMatrixPropertiesNV> list(n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
      get(physical, &n, list.data());
      for (const auto& p : list) {
        if (p.scope != VK_SCOPE_SUBGROUP_NV) continue;
        c.nv_coopmat_shapes.push_back({p.MSize, p.NSize, p.KSize, component_type_name(p.AType),
                                       component_type_name(p.BType), component_type_name(p.CType),
                                       component_type_name(p.DType)});
      }
    }
  }

  uint32_t qcount = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &qcount, nullptr);
  std::vector<VkQueueFamilyProperties> queues(qcount);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &qcount, queues.data());
  // Prefer a family with compute and graphics (the universal queue) over a dedicated compute one: one queue
  // does everything here, and its timestamps are the best supported.
  for (int pass = 0; pass < 2 && c.compute_queue_family < 0; ++pass)
    for (uint32_t i = 0; i < qcount; ++i) {
      bool compute = queues[i].queueFlags & VK_QUEUE_COMPUTE_BIT;
      bool graphics = queues[i].queueFlags & VK_QUEUE_GRAPHICS_BIT;
      if (compute && (pass == 1 || graphics)) {
        c.compute_queue_family = int(i);
        break;
      }
    }
  if (c.compute_queue_family >= 0 && queues[size_t(c.compute_queue_family)].timestampValidBits > 0)
    c.timestamp_period_ns = lim.timestampPeriod;
  for (uint32_t i = 0; i < qcount && c.transfer_queue_family < 0; ++i) {
    const VkQueueFlags f = queues[i].queueFlags;
    if ((f & VK_QUEUE_TRANSFER_BIT) && !(f & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) && queues[i].queueCount > 0) {
      c.transfer_queue_family = int(i);
      c.transfer_timestamps = queues[i].timestampValidBits > 0 && lim.timestampPeriod > 0 && c.host_query_reset;
    }
  }

  vkGetPhysicalDeviceMemoryProperties(physical, &c.memory);
  int main_heap = -1;
  for (uint32_t h = 0; h < c.memory.memoryHeapCount; ++h)
    if ((c.memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
        c.memory.memoryHeaps[h].size > c.device_local_bytes) {
      c.device_local_bytes = c.memory.memoryHeaps[h].size;
      main_heap = int(h);
    }
  auto any_heap = [](uint32_t) { return true; };
  auto on_main_heap = [&](uint32_t h) { return int(h) == main_heap; };
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  c.memory_types.device_local = pick_memory_type(c.memory, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, on_main_heap);
  // Zero-copy only where host-visible device memory is the main heap itself (lavapipe, integrated GPUs), not
  // a small BAR window of a discrete GPU.
  const char* zero_copy_env = std::getenv(kZeroCopyEnvVar);
  const bool zero_copy_off = zero_copy_env && std::string_view(zero_copy_env) == "0";
  if (c.props.deviceType != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU && !zero_copy_off)
    c.memory_types.zero_copy = pick_memory_type(c.memory, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | host, 0, on_main_heap);
  c.memory_types.staging = pick_memory_type(c.memory, host, 0, any_heap);
  c.memory_types.readback = pick_memory_type(c.memory, host, VK_MEMORY_PROPERTY_HOST_CACHED_BIT, any_heap);
  return c;
}

}  // namespace qi::vk

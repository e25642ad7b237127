// VK_KHR_cooperative_matrix and VK_NV_cooperative_matrix2 declarations that Debian 12's Vulkan headers
// (1.3.239) predate: the feature/property structures and the query entry points, as the registry defines them
// (structure type values from the extension numbers 507 and 594). Own names in qi::vk, so newer headers that
// declare the real ones do not collide.
#pragma once
#include "backend/vulkan/vk_common.h"

namespace qi::vk {

inline constexpr const char* kKhrCooperativeMatrixExtension = "VK_KHR_cooperative_matrix";
inline constexpr const char* kNvCooperativeMatrix2Extension = "VK_NV_cooperative_matrix2";

inline constexpr VkStructureType kStructKhrCoopmatFeatures = VkStructureType(1000506000);
inline constexpr VkStructureType kStructCoopmat2Features = VkStructureType(1000593000);
inline constexpr VkStructureType kStructCoopmatFlexibleDimensions = VkStructureType(1000593001);
inline constexpr VkStructureType kStructCoopmat2Properties = VkStructureType(1000593002);
inline constexpr uint32_t kScopeWorkgroup = 2;  // VkScopeKHR: VK_SCOPE_WORKGROUP_KHR

// VkPhysicalDeviceCooperativeMatrixFeaturesKHR
struct KhrCoopmatFeatures {
  VkStructureType sType = kStructKhrCoopmatFeatures;
  void* pNext = nullptr;
  VkBool32 cooperativeMatrix = VK_FALSE;
  VkBool32 cooperativeMatrixRobustBufferAccess = VK_FALSE;
};

// VkPhysicalDeviceCooperativeMatrix2FeaturesNV
struct Coopmat2Features {
  VkStructureType sType = kStructCoopmat2Features;
  void* pNext = nullptr;
  VkBool32 cooperativeMatrixWorkgroupScope = VK_FALSE;
  VkBool32 cooperativeMatrixFlexibleDimensions = VK_FALSE;
  VkBool32 cooperativeMatrixReductions = VK_FALSE;
  VkBool32 cooperativeMatrixConversions = VK_FALSE;
  VkBool32 cooperativeMatrixPerElementOperations = VK_FALSE;
  VkBool32 cooperativeMatrixTensorAddressing = VK_FALSE;
  VkBool32 cooperativeMatrixBlockLoads = VK_FALSE;
};

// VkPhysicalDeviceCooperativeMatrix2PropertiesNV
struct Coopmat2Properties {
  VkStructureType sType = kStructCoopmat2Properties;
  void* pNext = nullptr;
  uint32_t cooperativeMatrixWorkgroupScopeMaxWorkgroupSize = 0;
  uint32_t cooperativeMatrixFlexibleDimensionsMaxDimension = 0;
  uint32_t cooperativeMatrixWorkgroupScopeReservedSharedMemory = 0;
};

// VkCooperativeMatrixFlexibleDimensionsPropertiesNV
struct CoopmatFlexibleDimensions {
  VkStructureType sType = kStructCoopmatFlexibleDimensions;
  void* pNext = nullptr;
  uint32_t MGranularity = 0, NGranularity = 0, KGranularity = 0;
  uint32_t AType = 0, BType = 0, CType = 0, ResultType = 0;  // VkComponentTypeKHR
  VkBool32 saturatingAccumulation = VK_FALSE;
  uint32_t scope = 0;  // VkScopeKHR
  uint32_t workgroupInvocations = 0;
};

// vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV
using PfnGetCoopmatFlexibleDimensions = VkResult(VKAPI_PTR*)(VkPhysicalDevice, uint32_t*, CoopmatFlexibleDimensions*);
inline constexpr const char* kGetCoopmatFlexibleDimensions =
    "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV";

}  // namespace qi::vk

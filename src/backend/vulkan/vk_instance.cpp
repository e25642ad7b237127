#include "backend/vulkan/vk_instance.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "backend/vulkan/vk_driver_pinning.h"
#include "backend/vulkan/vulkan_backend.h"
#include "core/error.h"
#include "core/log.h"

namespace qi {

namespace {
std::atomic<uint64_t> g_validation_messages{0};
// Whether the loaded validation layer predates the cooperative-matrix extensions (CoopmatValidationScope).
std::atomic<bool> g_layer_predates_coopmat2{false};
thread_local int t_coopmat_scope_depth = 0;
}  // namespace

uint64_t vulkan_validation_message_count() { return g_validation_messages.load(); }

namespace vk {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
constexpr uint32_t kApiVersion = VK_API_VERSION_1_3;

VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                VkDebugUtilsMessageTypeFlagsEXT types,
                                                const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  // Loader chatter (general messages) is printed at debug level only; validation and performance findings
  // are the ones tests require to be absent.
  const bool finding = (types & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT)) != 0;
  std::string msg = std::string("vulkan validation: ") + (data && data->pMessage ? data->pMessage : "(no message)");
  if (!finding) {
    log_debug(msg);
    return VK_FALSE;
  }
  if (t_coopmat_scope_depth > 0 && g_layer_predates_coopmat2.load()) {
    log_debug(msg + " (not validated: the layer predates VK_NV_cooperative_matrix2)");
    return VK_FALSE;
  }
  count_validation_message();
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)
    log_error(msg);
  else
    log_warn(msg);
  return VK_FALSE;
}

// The layer's Vulkan header version (specVersion), or 0 when it is not installed.
uint32_t layer_version(const char* name) {
  uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> layers(count);
  vkEnumerateInstanceLayerProperties(&count, layers.data());
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return l.specVersion;
  return 0;
}

bool instance_extension_available(const char* name, const char* layer = nullptr) {
  uint32_t count = 0;
  vkEnumerateInstanceExtensionProperties(layer, &count, nullptr);
  std::vector<VkExtensionProperties> exts(count);
  vkEnumerateInstanceExtensionProperties(layer, &count, exts.data());
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

}  // namespace

void count_validation_message() { ++g_validation_messages; }

bool validation_layer_predates_coopmat2() { return g_layer_predates_coopmat2.load(); }

CoopmatValidationScope::CoopmatValidationScope() { ++t_coopmat_scope_depth; }
CoopmatValidationScope::~CoopmatValidationScope() { --t_coopmat_scope_depth; }

bool validation_requested_by_env() {
  const char* env = std::getenv("QI_VALIDATION");
  return env && *env && std::strcmp(env, "0") != 0;
}

Instance::Instance(bool validation) {
  static const std::set<std::string> loaded_before_vulkan = vk::loaded_shared_objects();
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "qwen-image-vk";
  app.pEngineName = "qwen-image-vk";
  app.apiVersion = kApiVersion;

  std::vector<const char*> layers;
  std::vector<const char*> extensions;
  if (validation) {
    if (const uint32_t version = layer_version(kValidationLayer)) {
      layers.push_back(kValidationLayer);
      g_layer_predates_coopmat2 = version < kLayerVersionKnowingCoopmat2;
    } else {
      static std::once_flag warned;
      std::call_once(warned, [] {
        log_warn("Vulkan validation requested but VK_LAYER_KHRONOS_validation is not installed "
                 "(Debian: apt-get install vulkan-validationlayers); continuing without it");
      });
      validation = false;
    }
  }
  const bool debug_utils = validation && instance_extension_available(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (debug_utils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  const bool validation_features =
      validation && instance_extension_available(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME, kValidationLayer);
  if (validation_features) extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);

  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = uint32_t(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = uint32_t(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();

  const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;
  if (validation_features) info.pNext = &features;

  VkResult r = vkCreateInstance(&info, nullptr, &instance_);
  // The driver the loader loaded stays loaded after this instance (vk_driver_pinning.h). Compared with what
  // the process had before its first instance: the loader may hold the driver already (from the layer and
  // extension queries above), which a snapshot taken here would count as "before".
  vk::keep_loaded_since(loaded_before_vulkan);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
    throw RuntimeFailure(std::string("no Vulkan 1.3 driver found (vkCreateInstance: ") + result_name(r) +
                         "); install a Vulkan driver (Mesa lavapipe: apt-get install mesa-vulkan-drivers)");
  check(r, "vkCreateInstance");

  if (debug_utils) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    VkDebugUtilsMessengerCreateInfoEXT m{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    m.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    m.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    m.pfnUserCallback = on_debug_message;
    if (create) check(create(instance_, &m, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
  }
}

Instance::~Instance() {
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::physical_devices() const {
  uint32_t count = 0;
  check(vkEnumeratePhysicalDevices(instance_, &count, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devices(count);
  check(vkEnumeratePhysicalDevices(instance_, &count, devices.data()), "vkEnumeratePhysicalDevices");
  devices.resize(count);
  return devices;
}

}  // namespace vk
}  // namespace qi

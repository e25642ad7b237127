// Compute pipelines: one per (shader variant, binding count, specialization constants), created on first use
// from the embedded SPIR-V, with an on-disk VkPipelineCache so a second run skips the driver's compilation.
//
// Every pipeline uses the same conventions: bindings 0..n-1 are storage buffers in set 0 (pushed with
// vkCmdPushDescriptorSetKHR), and one push-constant block of at most kMaxPushConstantBytes.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/vulkan/vk_device.h"

namespace qi::vk {

// The Vulkan guaranteed minimum of maxPushConstantsSize: every shader's push block fits in it.
constexpr uint32_t kMaxPushConstantBytes = 128;

struct Pipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  uint32_t bindings = 0;
};

class PipelineRegistry {
 public:
  // cache_path: the pipeline cache file ("" = none). Unreadable or stale files are warnings, never errors.
  PipelineRegistry(const Device& device, std::string cache_path);
  ~PipelineRegistry();  // writes the cache file back
  PipelineRegistry(const PipelineRegistry&) = delete;
  PipelineRegistry& operator=(const PipelineRegistry&) = delete;

  // Throws RuntimeFailure if the variant was not compiled into this build.
  const Pipeline& get(std::string_view shader, uint32_t bindings, std::span<const uint32_t> spec = {});
  static bool has_shader(std::string_view shader);

  // Writes the pipeline cache now (also done on destruction). Returns false (after a warning) on failure.
  bool save_cache();
  const std::string& cache_path() const { return cache_path_; }
  // Bytes read from the cache file at start-up (0: none or rejected).
  size_t loaded_cache_bytes() const { return loaded_cache_bytes_; }
  size_t pipeline_count() const { return pipelines_.size(); }

 private:
  VkShaderModule module(std::string_view shader);
  VkPipelineLayout layout(uint32_t bindings);
  void load_cache();

  const Device& device_;
  std::string cache_path_;
  size_t loaded_cache_bytes_ = 0;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::map<std::string, VkShaderModule, std::less<>> modules_;
  std::map<uint32_t, std::pair<VkDescriptorSetLayout, VkPipelineLayout>> layouts_;
  std::map<std::string, Pipeline, std::less<>> pipelines_;
};

// $XDG_CACHE_HOME/qwen-image-vk/pipelines-<vendor>-<device>.bin (or ~/.cache/...); "" when neither is set.
std::string default_pipeline_cache_path(const DeviceCaps& caps);

}  // namespace qi::vk

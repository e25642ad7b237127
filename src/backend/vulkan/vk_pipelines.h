// Compute pipelines: one per (shader variant, binding count, specialization constants), created on first use
// from the embedded SPIR-V, with an on-disk VkPipelineCache so a second run skips the driver's compilation.
// The driver compiles them on worker threads (PipelineCompiler): get() returns at once, and the command that
// binds a pipeline waits for it when it is written into a command buffer.
//
// Every pipeline uses the same conventions: bindings 0..n-1 are storage buffers in set 0 (pushed with
// vkCmdPushDescriptorSetKHR), and one push-constant block of at most kMaxPushConstantBytes.
#pragma once
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/vulkan/vk_device.h"
#include "backend/vulkan/vk_pipeline_compiler.h"

namespace qi::vk {

// The Vulkan guaranteed minimum of maxPushConstantsSize: every shader's push block fits in it.
constexpr uint32_t kMaxPushConstantBytes = 128;

// A pipeline as get() hands it out: its layout at once, the VkPipeline once a compile worker has it.
class Pipeline {
 public:
  Pipeline(VkPipelineLayout layout, std::string key, std::shared_future<VkPipeline> compiled)
      : layout_(layout), key_(std::move(key)), compiled_(std::move(compiled)) {}

  VkPipelineLayout layout() const { return layout_; }
  // "<shader>/<bindings>[:<spec>...]"
  const std::string& key() const { return key_; }
  // Whether the driver is done with it (created it or failed): wait() would return at once.
  bool ready() const { return compiled_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }
  // Waits for the driver. False if it could not create the pipeline; `error` then says why.
  bool wait(std::string* error = nullptr) const;
  // The pipeline; waits for the driver, throws RuntimeFailure if it could not create it.
  VkPipeline handle() const;

 private:
  VkPipelineLayout layout_;
  std::string key_;
  std::shared_future<VkPipeline> compiled_;
};

class PipelineRegistry {
 public:
  // cache_path: the pipeline cache file ("" = none). Unreadable or stale files are warnings, never errors.
  // compile_threads: pipelines the driver may compile at once.
  PipelineRegistry(const Device& device, std::string cache_path, unsigned compile_threads = default_compile_threads());
  ~PipelineRegistry();  // waits for the compile workers, writes the cache file back
  PipelineRegistry(const PipelineRegistry&) = delete;
  PipelineRegistry& operator=(const PipelineRegistry&) = delete;

  // Throws RuntimeFailure if the variant was not compiled into this build. The reference stays valid as long
  // as the registry.
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
  std::unique_ptr<PipelineCompiler> compiler_;
};

// $XDG_CACHE_HOME/qwen-image-vk/pipelines-<vendor>-<device>.bin (or ~/.cache/...); "" when neither is set.
std::string default_pipeline_cache_path(const DeviceCaps& caps);

}  // namespace qi::vk

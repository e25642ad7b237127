#include "backend/vulkan/vk_pipelines.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <unistd.h>

#include "backend/vulkan/embedded_shaders.h"
#include "backend/vulkan/vk_instance.h"
#include "core/error.h"
#include "core/log.h"

namespace qi::vk {
namespace {

const EmbeddedShader* find_shader(std::string_view name) {
  for (const auto& s : embedded_shaders())
    if (name == s.name) return &s;
  return nullptr;
}

std::string pipeline_key(std::string_view shader, uint32_t bindings, std::span<const uint32_t> spec) {
  std::string key(shader);
  key += '/';
  key += std::to_string(bindings);
  for (uint32_t v : spec) {
    key += ':';
    key += std::to_string(v);
  }
  return key;
}

// The header every driver writes at the start of its cache data (Vulkan spec, VkPipelineCacheHeaderVersionOne).
bool cache_matches_device(const std::vector<char>& data, const VkPhysicalDeviceProperties& props) {
  VkPipelineCacheHeaderVersionOne header;
  if (data.size() < sizeof header) return false;
  std::memcpy(&header, data.data(), sizeof header);
  return header.headerVersion == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && header.vendorID == props.vendorID &&
         header.deviceID == props.deviceID &&
         std::memcmp(header.pipelineCacheUUID, props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

// Logs the driver's statistics of each executable of a pipeline (QI_PIPELINE_STATS=1): register count,
// spills, shared memory, as the driver names them.
void log_pipeline_statistics(VkDevice dev, VkPipeline pipeline, const std::string& key) {
  auto get_properties = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(dev, "vkGetPipelineExecutablePropertiesKHR"));
  auto get_statistics = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(dev, "vkGetPipelineExecutableStatisticsKHR"));
  if (!get_properties || !get_statistics) return;
  VkPipelineInfoKHR pinfo{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pinfo.pipeline = pipeline;
  uint32_t count = 0;
  if (get_properties(dev, &pinfo, &count, nullptr) != VK_SUCCESS) return;
  std::vector<VkPipelineExecutablePropertiesKHR> execs(count, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  if (get_properties(dev, &pinfo, &count, execs.data()) != VK_SUCCESS) return;
  for (uint32_t e = 0; e < count; ++e) {
    VkPipelineExecutableInfoKHR einfo{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    einfo.pipeline = pipeline;
    einfo.executableIndex = e;
    uint32_t n = 0;
    if (get_statistics(dev, &einfo, &n, nullptr) != VK_SUCCESS) continue;
    std::vector<VkPipelineExecutableStatisticKHR> stats(n, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    if (get_statistics(dev, &einfo, &n, stats.data()) != VK_SUCCESS) continue;
    std::string line = "pipeline " + key + " [" + execs[e].name + "]:";
    for (const auto& st : stats) {
      line += std::string(" ") + st.name + "=";
      switch (st.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: line += st.value.b32 ? "true" : "false"; break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: line += std::to_string(st.value.i64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: line += std::to_string(st.value.u64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: line += std::to_string(st.value.f64); break;
        default: line += "?";
      }
    }
    log_info(line);
  }
}

}  // namespace

std::string default_pipeline_cache_path(const DeviceCaps& caps) {
  std::filesystem::path dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    dir = std::filesystem::path(xdg) / "qwen-image-vk";
  else if (const char* home = std::getenv("HOME"); home && *home)
    dir = std::filesystem::path(home) / ".cache" / "qwen-image-vk";
  else
    return "";
  char name[64];
  std::snprintf(name, sizeof name, "pipelines-%04x-%04x.bin", caps.props.vendorID, caps.props.deviceID);
  return (dir / name).string();
}

bool PipelineRegistry::has_shader(std::string_view shader) { return find_shader(shader) != nullptr; }

bool Pipeline::wait(std::string* error) const {
  try {
    compiled_.get();
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
  } catch (...) {
    if (error) *error = "unknown error";
  }
  return false;
}

VkPipeline Pipeline::handle() const {
  std::string error;
  if (!wait(&error)) throw RuntimeFailure("vulkan: pipeline " + key_ + " could not be created: " + error);
  return compiled_.get();
}

PipelineRegistry::PipelineRegistry(const Device& device, std::string cache_path, unsigned compile_threads)
    : device_(device),
      cache_path_(std::move(cache_path)),
      compiler_(std::make_unique<PipelineCompiler>(compile_threads)) {
  load_cache();
}

void PipelineRegistry::load_cache() {
  std::vector<char> data;
  if (!cache_path_.empty() && std::filesystem::exists(cache_path_)) {
    std::ifstream in(cache_path_, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      log_warn("cannot read the Vulkan pipeline cache " + cache_path_ + "; pipelines will be compiled anew");
      data.clear();
    } else if (!data.empty() && !cache_matches_device(data, device_.caps().props)) {
      log_warn("Vulkan pipeline cache " + cache_path_ + " is not a cache of this device and driver; ignoring it");
      data.clear();
    }
  }
  VkPipelineCacheCreateInfo info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  info.initialDataSize = data.size();
  info.pInitialData = data.empty() ? nullptr : data.data();
  if (vkCreatePipelineCache(device_.handle(), &info, nullptr, &cache_) != VK_SUCCESS) {
    log_warn("the driver rejected the Vulkan pipeline cache " + cache_path_ + "; starting an empty one");
    info.initialDataSize = 0;
    info.pInitialData = nullptr;
    data.clear();
    check(vkCreatePipelineCache(device_.handle(), &info, nullptr, &cache_), "vkCreatePipelineCache");
  }
  loaded_cache_bytes_ = data.size();
}

bool PipelineRegistry::save_cache() {
  if (cache_path_.empty() || !cache_) return false;
  size_t size = 0;
  if (vkGetPipelineCacheData(device_.handle(), cache_, &size, nullptr) != VK_SUCCESS) {
    log_warn("cannot read back the Vulkan pipeline cache; not saving it");
    return false;
  }
  std::vector<char> data(size);
  if (vkGetPipelineCacheData(device_.handle(), cache_, &size, data.data()) != VK_SUCCESS) {
    log_warn("cannot read back the Vulkan pipeline cache; not saving it");
    return false;
  }
  data.resize(size);
  // Written to a temporary file and renamed, so a concurrent reader never sees half a cache.
  std::error_code ec;
  std::filesystem::path path(cache_path_);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::filesystem::path tmp = path;
  tmp += ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), std::streamsize(data.size()));
    if (!out.good()) {
      log_warn("cannot write the Vulkan pipeline cache " + tmp.string());
      std::filesystem::remove(tmp, ec);
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    log_warn("cannot write the Vulkan pipeline cache " + cache_path_ + ": " + ec.message());
    std::filesystem::remove(tmp, ec);
    return false;
  }
  return true;
}

PipelineRegistry::~PipelineRegistry() {
  compiler_.reset();  // no worker touches the cache or a pipeline from here on
  save_cache();
  VkDevice dev = device_.handle();
  for (auto& [key, p] : pipelines_)
    if (p.wait()) vkDestroyPipeline(dev, p.handle(), nullptr);
  for (auto& [n, l] : layouts_) {
    vkDestroyPipelineLayout(dev, l.second, nullptr);
    vkDestroyDescriptorSetLayout(dev, l.first, nullptr);
  }
  for (auto& [name, m] : modules_) vkDestroyShaderModule(dev, m, nullptr);
  if (cache_) vkDestroyPipelineCache(dev, cache_, nullptr);
}

namespace {

// Whether a SPIR-V module declares the capability (its OpCapability instructions come first, right after
// the header).
bool declares_capability(const EmbeddedShader& s, uint32_t capability) {
  constexpr size_t kHeaderWords = 5;
  constexpr uint32_t kOpCapability = 17, kOpcodeMask = 0xFFFFu, kWordCountShift = 16;
  for (size_t i = kHeaderWords; i < s.word_count;) {
    const uint32_t op = s.words[i] & kOpcodeMask, words = s.words[i] >> kWordCountShift;
    if (op != kOpCapability || words < 2) return false;
    if (s.words[i + 1] == capability) return true;
    i += words;
  }
  return false;
}

// SPV_KHR_cooperative_matrix's CooperativeMatrixKHR capability (the workgroup-scope GEMM's shaders).
constexpr uint32_t kCapabilityCooperativeMatrixKhr = 6022;

bool uses_khr_coopmat(std::string_view shader) {
  const EmbeddedShader* s = find_shader(shader);
  return s && declares_capability(*s, kCapabilityCooperativeMatrixKhr);
}

}  // namespace

VkShaderModule PipelineRegistry::module(std::string_view shader) {
  if (auto it = modules_.find(shader); it != modules_.end()) return it->second;
  const EmbeddedShader* s = find_shader(shader);
  if (!s)
    throw RuntimeFailure("shader variant '" + std::string(shader) +
                         "' is not compiled into this build (see shaders/shaders.cmake; glslc may lack an extension)");
  VkShaderModuleCreateInfo info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  info.codeSize = s->word_count * sizeof(uint32_t);
  info.pCode = s->words;
  VkShaderModule m;
  std::optional<CoopmatValidationScope> unvalidated;
  if (declares_capability(*s, kCapabilityCooperativeMatrixKhr)) unvalidated.emplace();
  check(vkCreateShaderModule(device_.handle(), &info, nullptr, &m), "vkCreateShaderModule");
  modules_.emplace(std::string(shader), m);
  return m;
}

VkPipelineLayout PipelineRegistry::layout(uint32_t bindings) {
  if (auto it = layouts_.find(bindings); it != layouts_.end()) return it->second.second;
  std::vector<VkDescriptorSetLayoutBinding> b(bindings);
  for (uint32_t i = 0; i < bindings; ++i)
    b[i] = VkDescriptorSetLayoutBinding{i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dinfo{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dinfo.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  dinfo.bindingCount = bindings;
  dinfo.pBindings = b.data();
  VkDescriptorSetLayout set_layout;
  check(vkCreateDescriptorSetLayout(device_.handle(), &dinfo, nullptr, &set_layout), "vkCreateDescriptorSetLayout");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, kMaxPushConstantBytes};
  VkPipelineLayoutCreateInfo pinfo{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pinfo.setLayoutCount = 1;
  pinfo.pSetLayouts = &set_layout;
  pinfo.pushConstantRangeCount = 1;
  pinfo.pPushConstantRanges = &push;
  VkPipelineLayout pipeline_layout;
  check(vkCreatePipelineLayout(device_.handle(), &pinfo, nullptr, &pipeline_layout), "vkCreatePipelineLayout");
  layouts_.emplace(bindings, std::make_pair(set_layout, pipeline_layout));
  return pipeline_layout;
}

const Pipeline& PipelineRegistry::get(std::string_view shader, uint32_t bindings, std::span<const uint32_t> spec) {
  std::string key = pipeline_key(shader, bindings, spec);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;

  const VkShaderModule stage_module = module(shader);
  const VkPipelineLayout pipeline_layout = layout(bindings);
  const bool khr_coopmat = uses_khr_coopmat(shader);
  // What the worker needs, by value: the registry's maps are not touched off this thread.
  auto create = [&device = device_, cache = cache_, stage_module, pipeline_layout, khr_coopmat, key,
                 spec = std::vector<uint32_t>(spec.begin(), spec.end())] {
    std::vector<VkSpecializationMapEntry> entries(spec.size());
    for (uint32_t i = 0; i < spec.size(); ++i)
      entries[i] = VkSpecializationMapEntry{i, uint32_t(i * sizeof(uint32_t)), sizeof(uint32_t)};
    VkSpecializationInfo spec_info{uint32_t(entries.size()), entries.data(), spec.size() * sizeof(uint32_t),
                                   spec.data()};
    VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    info.stage = VkPipelineShaderStageCreateInfo{VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    info.stage.module = stage_module;
    info.stage.pName = "main";
    info.stage.pSpecializationInfo = spec.empty() ? nullptr : &spec_info;
    info.layout = pipeline_layout;
    if (device.capture_pipeline_statistics()) info.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    // The scope is per thread, as the validation layer's callback runs on the thread that makes the call.
    std::optional<CoopmatValidationScope> unvalidated;
    if (khr_coopmat) unvalidated.emplace();
    VkPipeline pipeline;
    // The cache is internally synchronised (created without VK_PIPELINE_CACHE_CREATE_EXTERNALLY_SYNCHRONIZED_BIT).
    check(vkCreateComputePipelines(device.handle(), cache, 1, &info, nullptr, &pipeline),
          ("vkCreateComputePipelines(" + key + ")").c_str());
    if (device.capture_pipeline_statistics()) log_pipeline_statistics(device.handle(), pipeline, key);
    return pipeline;
  };
  Pipeline p(pipeline_layout, key, compiler_->submit(std::move(create)));
  return pipelines_.emplace(std::move(key), std::move(p)).first->second;
}

}  // namespace qi::vk

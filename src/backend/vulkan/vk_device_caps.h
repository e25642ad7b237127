// What one physical device offers: limits, the optional features the kernels use, memory types and the
// cooperative-matrix shapes. Queried without creating a logical device (also used by `devices`).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "backend/vulkan/vk_common.h"

namespace qi::vk {

// One cooperative-matrix configuration: D[M×N] (result type) = A[M×K] (a type) · B[K×N] (b type) + C.
struct CoopMatShape {
  uint32_t m = 0, n = 0, k = 0;
  std::string a_type, b_type, c_type, result_type;  // "f16", "f32", "s8", ...
  std::string describe() const;                      // "16x16x16 f16*f16+f32->f32"
};

// Workgroup-scope cooperative matrices (VK_NV_cooperative_matrix2) of sizes in these steps, for workgroups of
// exactly `threads` invocations.
struct FlexibleCoopMatShape {
  uint32_t m_step = 0, n_step = 0, k_step = 0, threads = 0;
  std::string a_type, b_type, c_type, result_type;
  std::string describe() const;  // "32/32/16 steps, 256 threads f16*f16+f32->f32"
};

struct MemoryTypeChoice {
  int device_local = -1;   // DEVICE_LOCAL, for tensors
  // DEVICE_LOCAL|HOST_VISIBLE|HOST_COHERENT on the main heap of a non-discrete device, or -1. Discrete GPUs
  // with a full BAR also expose such a type, but reads through it cross PCIe uncached: they stage instead.
  int zero_copy = -1;
  int staging = -1;        // HOST_VISIBLE|HOST_COHERENT, for uploads
  int readback = -1;       // HOST_VISIBLE|HOST_COHERENT, HOST_CACHED when available, for downloads
};

// Environment variable that, set to 0, keeps the row reductions off subgroup operations (DeviceCaps::
// subgroup_reduce): for comparing the two paths and for drivers whose subgroup operations misbehave.
inline constexpr const char* kSubgroupReduceEnvVar = "QI_SUBGROUP_REDUCE";
// Environment variable that, set to 0, leaves workgroup-scope cooperative matrices unused (DeviceCaps::
// coopmat_workgroup false): the subgroup-scope tensor-core kernels run, as on devices without them.
inline constexpr const char* kCoopmatWorkgroupEnvVar = "QI_COOPMAT_WORKGROUP";
// "0": no zero-copy memory even where host-visible device memory is the main heap, so uploads are staged
// copies as on a discrete GPU (tests run the staged path on lavapipe with it).
inline constexpr const char* kZeroCopyEnvVar = "QI_ZERO_COPY";

struct DeviceCaps {
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties memory{};
  std::string name, type, driver;
  int compute_queue_family = -1;
  // A queue family for transfers only (no graphics, no compute): a GPU's copy engines, which run beside the
  // kernels. -1 when there is none (lavapipe, most integrated GPUs).
  int transfer_queue_family = -1;
  bool transfer_timestamps = false;  // timestamps on the transfer family (and host query resets)

  // Limits.
  uint64_t max_allocation = 0;
  uint64_t max_storage_buffer_range = 0;
  uint64_t min_storage_offset_alignment = 0;
  uint32_t max_shared_memory = 0;
  uint32_t max_push_constants = 0;
  uint32_t max_workgroup_count[3] = {};
  uint32_t subgroup_size = 0;
  float timestamp_period_ns = 0;  // 0: no timestamps on the compute queue
  uint64_t device_local_bytes = 0;  // size of the largest DEVICE_LOCAL heap

  // Optional features (what the shaders may use).
  bool fp16 = false;             // shaderFloat16
  bool storage16 = false;        // storageBuffer16BitAccess
  bool int8 = false;             // shaderInt8
  bool storage8 = false;         // storageBuffer8BitAccess
  bool subgroup_arithmetic = false;
  bool subgroup_shuffle = false;
  // The row reductions may use subgroup operations (segment_reduce.glsl): arithmetic and shuffles in compute
  // shaders and a power-of-two subgroup size; QI_SUBGROUP_REDUCE=0 in the environment turns them off (the
  // shared-memory variants then run, as on devices without those operations).
  bool subgroup_reduce = false;
  bool timeline_semaphore = false;  // timelineSemaphore (Vulkan 1.2): copies submitted apart are ordered by them
  bool host_query_reset = false;    // hostQueryReset (Vulkan 1.2): a transfer queue cannot reset queries itself
  bool memory_model = false;     // vulkanMemoryModel (GL_KHR_memory_scope_semantics, used by coopmat shaders)
  bool maintenance4 = false;     // needed by SPIR-V 1.6 shaders (glslc --target-env=vulkan1.3 emits LocalSizeId)
  bool push_descriptor = false;  // VK_KHR_push_descriptor (required)
  bool nv_coopmat = false;       // VK_NV_cooperative_matrix feature
  bool khr_coopmat = false;      // VK_KHR_cooperative_matrix extension present
  bool memory_budget = false;    // VK_EXT_memory_budget
  std::vector<CoopMatShape> nv_coopmat_shapes;
  // Workgroup-scope cooperative matrices: VK_KHR_cooperative_matrix plus VK_NV_cooperative_matrix2's
  // cooperativeMatrixWorkgroupScope and cooperativeMatrixFlexibleDimensions (unless QI_COOPMAT_WORKGROUP=0).
  bool coopmat_workgroup = false;
  // cooperativeMatrixConversions (with coopmat_workgroup): an accumulator converts to an A/B operand.
  bool coopmat_conversions = false;
  // cooperativeMatrixTensorAddressing (with coopmat_workgroup): tensor-addressed matrix loads.
  bool coopmat_tensor_addressing = false;
  uint32_t coopmat_workgroup_max_threads = 0;
  uint32_t coopmat_workgroup_max_dimension = 0;
  uint32_t coopmat_workgroup_reserved_shared = 0;  // shared memory the driver keeps for its own staging
  std::vector<FlexibleCoopMatShape> coopmat_workgroup_shapes;

  MemoryTypeChoice memory_types;

  bool has_extension(const char* name) const;
  // Whether VK_NV_cooperative_matrix offers m×n×k matrices with `operand`-typed A and B and an `accumulator`-
  // typed C and result (type names as CoopMatShape's: "f16", "f32").
  bool has_nv_coopmat_shape(uint32_t m, uint32_t n, uint32_t k, std::string_view operand,
                            std::string_view accumulator) const;
  // Whether a workgroup of `threads` may hold m×k `operand` A, k×n B and m×n `accumulator` C matrices of
  // workgroup scope, and `shared_bytes` of its own shared memory beside the driver's reserve.
  bool has_workgroup_coopmat(uint32_t m, uint32_t n, uint32_t k, uint32_t threads, uint32_t shared_bytes,
                             std::string_view operand, std::string_view accumulator) const;
  std::vector<std::string> extensions;
};

DeviceCaps query_device_caps(VkInstance instance, VkPhysicalDevice physical);

// "discrete", "integrated", "virtual", "cpu", "other".
const char* device_type_name(VkPhysicalDeviceType type);

}  // namespace qi::vk

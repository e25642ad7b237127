// Ceiling kernels of the Vulkan backend (Backend::ceiling_kernels): the tensor cores' multiply-add rate with
// every operand in registers, then with the operands fed from shared memory as a GEMM's inner loop does, then
// with the GEMM's per-slice barrier and staging stores added. Two ladders: subgroup-scope
// GL_NV_cooperative_matrix (shaders/coopmat_mma_peak.comp: fp32 and fp16 accumulators, per-subgroup blocks of
// 64×32 and 64×64 outputs) and workgroup-scope matrices (shaders/coopmat_workgroup_mma_peak.comp: the slice of
// the workgroup GEMM tile, 128×128×32; then, with no shared stage of the shader's own, slices the driver loads
// from global memory through KHR or tensor-addressed loads). The ladders say where a tensor-core GEMM's time
// goes; `bench kernels` prints them.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "backend/vulkan/vk_ops.h"
#include "core/dtype.h"
#include "core/error.h"

namespace qi::vk {
namespace {

constexpr uint32_t kPeakWorkgroupThreads = 256;  // WG in coopmat_mma_peak.comp
constexpr uint32_t kSubgroup = 32;               // the shader's subgroup count assumes 32 lanes
constexpr uint32_t kMma = 16;
// A slice of coopmat_workgroup_mma_peak.comp as shaders.cmake compiles it: BM×BK A, SPLIT B matrices of
// BK×BNP, into SPLIT accumulators of BM×BNP, on `threads` invocations.
struct WorkgroupSlice {
  uint32_t threads, rows, k, columns, split;
  bool prefetch = false;  // level 5: the next slice loaded before the current one's multiply-adds
};
// Levels 0-4 (the workgroup GEMM tile's slice), with their shared array of (BM + 1 + BN + 1) rows of BK/8 + 1
// uvec4; level 5 keeps no shared array of its own.
constexpr WorkgroupSlice kGemmSlice = {128, 128, 32, 32, 4};
constexpr uint32_t kWordBytes = 16, kHalvesPerWord = 8;  // a uvec4 of shared memory: 8 fp16
constexpr uint32_t staged_shared_bytes(const WorkgroupSlice& s) {
  return (s.rows + 1 + s.columns * s.split + 1) * (s.k / kHalvesPerWord + 1) * kWordBytes;
}
// Level 5's tiles (QI_WORKGROUP_DRIVER_LOAD_TILES in shaders.cmake), each compiled with KHR and with
// tensor-addressed loads.
constexpr WorkgroupSlice kDriverLoadSlices[] = {
    {128, 128, 32, 32, 4}, {128, 128, 64, 32, 4}, {256, 128, 64, 32, 4}, {256, 128, 128, 32, 4},
    {128, 128, 32, 32, 4, true},
};
// Levels 4 and 5 of coopmat_workgroup_mma_peak.comp read the operands of a 4096×3072×3072 GEMM (GLOBAL_* there):
// (4096 + 3072) rows of 3072 halves.
constexpr size_t kGlobalHalves = size_t(4096 + 3072) * 3072;
// Many short workgroups rather than a few long ones, so the last partial wave costs little (8192 groups are
// dozens of waves on any GPU with tensor cores); 1024 rounds make one run ~4.4 TFLOP (workgroup tile: ~8.8),
// milliseconds on an H100.
constexpr uint32_t kPeakWorkgroups = 8192;
constexpr uint32_t kPeakIterations = 1024;
// Operand values: 2^-6 keeps fp16 accumulators finite over every round (each adds 16·2^-12 per element).
constexpr float kOperandValue = 1.0f / 64.0f;

// How a workgroup-scope kernel gets its operands.
enum class Feed {
  kShared,        // levels 0-3: from the shader's shared array
  kStagedGlobal,  // level 4: chunks of a buffer of kGlobalHalves through registers into the shared array
  kDriverLoads,   // level 5: KHR matrix loads from a buffer of kGlobalHalves
  kTensorLoads,   // level 5: tensor-addressed matrix loads from it (cooperativeMatrixTensorAddressing)
};

struct PeakKernel {
  std::string name;         // the ceiling kernel's name
  std::string shader;       // its SPIR-V variant
  const char* accumulator;  // the accumulator type, as CoopMatShape names it
  double flops_per_round;   // per workgroup (the variant's defines)
  bool workgroup_scope;     // coopmat_workgroup_mma_peak.comp rather than coopmat_mma_peak.comp
  WorkgroupSlice slice;     // workgroup scope: the slice each round multiplies
  Feed feed;                // workgroup scope: where its operands come from
};

// FM·FN 16×16×16 multiply-adds per subgroup and round, 8 subgroups (coopmat_mma_peak.comp).
constexpr double subgroup_round(uint32_t chains) {
  return 2.0 * kMma * kMma * kMma * chains * (kPeakWorkgroupThreads / kSubgroup);
}
// SPLIT multiply-adds of BM×BK by BK×BNP per round (coopmat_workgroup_mma_peak.comp).
constexpr double slice_round(const WorkgroupSlice& s) { return 2.0 * s.rows * s.k * s.columns * s.split; }

PeakKernel subgroup_kernel(const char* name, const char* shader, const char* accumulator, uint32_t chains) {
  return {name, shader, accumulator, subgroup_round(chains), false, {}, Feed::kShared};
}
PeakKernel workgroup_kernel(std::string name, std::string shader, const WorkgroupSlice& slice, Feed feed) {
  return {std::move(name), std::move(shader), "f32", slice_round(slice), true, slice, feed};
}
// Levels 0-4: workgroup_tile_<what> runs coopmat_workgroup_mma_peak_<level>.
PeakKernel gemm_slice_kernel(const char* what, const char* level, Feed feed) {
  return workgroup_kernel(std::string("workgroup_tile_") + what, std::string("coopmat_workgroup_mma_peak_") + level,
                          kGemmSlice, feed);
}

const std::vector<PeakKernel>& peak_kernels() {
  static const std::vector<PeakKernel> kernels = [] {
    std::vector<PeakKernel> k = {
        subgroup_kernel("tensor_core_registers_fp32_accumulate", "coopmat_mma_peak_f32acc", "f32", 8),
        subgroup_kernel("tensor_core_registers_fp16_accumulate", "coopmat_mma_peak_f16acc", "f16", 8),
        subgroup_kernel("tensor_core_shared_fed_64x32", "coopmat_mma_peak_shared_4x2", "f32", 8),
        subgroup_kernel("tensor_core_shared_fed_64x64", "coopmat_mma_peak_shared_4x4", "f32", 16),
        subgroup_kernel("tensor_core_shared_fed_64x32_barrier", "coopmat_mma_peak_shared_4x2_barrier", "f32", 8),
        subgroup_kernel("tensor_core_shared_fed_64x32_staged", "coopmat_mma_peak_shared_4x2_staged", "f32", 8),
        gemm_slice_kernel("registers", "l0", Feed::kShared),
        gemm_slice_kernel("shared_fed", "l1", Feed::kShared),
        gemm_slice_kernel("shared_fed_barrier", "l2", Feed::kShared),
        gemm_slice_kernel("shared_fed_staged", "l3", Feed::kShared),
        gemm_slice_kernel("global_loads_cached", "l4_cached", Feed::kStagedGlobal),
        gemm_slice_kernel("global_loads_gemm_addresses", "l4_spread", Feed::kStagedGlobal),
    };
    for (const WorkgroupSlice& s : kDriverLoadSlices) {
      // t<threads>_<BM>x<BK>x<BNP>x<SPLIT>[_prefetch], as shaders.cmake names the variants.
      char tile[64];
      std::snprintf(tile, sizeof tile, "t%u_%ux%ux%ux%u%s", s.threads, s.rows, s.k, s.columns, s.split,
                    s.prefetch ? "_prefetch" : "");
      k.push_back(workgroup_kernel(std::string("workgroup_tile_driver_loads_") + tile,
                                   std::string("coopmat_workgroup_mma_peak_l5_khr_loads_") + tile, s,
                                   Feed::kDriverLoads));
      k.push_back(workgroup_kernel(std::string("workgroup_tile_tensor_loads_") + tile,
                                   std::string("coopmat_workgroup_mma_peak_l5_tensor_loads_") + tile, s,
                                   Feed::kTensorLoads));
    }
    return k;
  }();
  return kernels;
}

double peak_flops(const PeakKernel& k) { return k.flops_per_round * kPeakIterations * double(kPeakWorkgroups); }

bool usable(const Context& ctx, const PeakKernel& k) {
  const DeviceCaps& c = ctx.caps();
  if (!PipelineRegistry::has_shader(k.shader)) return false;
  if (k.workgroup_scope) {
    const WorkgroupSlice& s = k.slice;
    const bool own_stage = k.feed == Feed::kShared || k.feed == Feed::kStagedGlobal;
    if (k.feed == Feed::kTensorLoads && !c.coopmat_tensor_addressing) return false;
    return c.fp16 && c.memory_model &&
           c.has_workgroup_coopmat(s.rows, s.columns, s.k, s.threads, own_stage ? staged_shared_bytes(s) : 0, "f16",
                                   k.accumulator);
  }
  return c.nv_coopmat && c.subgroup_size == kSubgroup && c.has_nv_coopmat_shape(kMma, kMma, kMma, "f16", k.accumulator);
}

}  // namespace

std::vector<Backend::CeilingKernel> ceiling_kernels(const Context& ctx) {
  std::vector<Backend::CeilingKernel> kernels;
  for (const PeakKernel& k : peak_kernels())
    if (usable(ctx, k)) kernels.push_back({k.name, peak_flops(k)});
  return kernels;
}

void run_ceiling_kernel(Context& ctx, std::string_view name) {
  for (const PeakKernel& k : peak_kernels()) {
    if (name != k.name) continue;
    if (!usable(ctx, k)) throw UsageError(std::string("ceiling kernel ") + k.name + " is not available on this device");
    // `count` fp16 operand values.
    auto operand_values = [&ctx](size_t count) {
      Tensor t = ctx.alloc({int64_t(count)}, DType::F16);
      const std::vector<uint16_t> values(count, f32_to_f16(kOperandValue));
      ctx.upload(t, values.data(), values.size() * sizeof(uint16_t));
      return t;
    };
    Tensor operands = operand_values(kMma * kMma);
    // One sum per subgroup (coopmat_mma_peak.comp) or per invocation (coopmat_workgroup_mma_peak.comp).
    const uint32_t sums_per_group = k.workgroup_scope ? k.slice.threads : kPeakWorkgroupThreads / kSubgroup;
    Tensor sums = ctx.alloc({int64_t(kPeakWorkgroups) * sums_per_group}, DType::F32);
    struct Push {
      uint32_t iterations;
    } push{kPeakIterations};
    if (!k.workgroup_scope || k.feed == Feed::kShared) {
      ctx.dispatch(k.name, k.shader, {in(operands), out(sums)}, push, linear_grid(kPeakWorkgroups));
      return;
    }
    Tensor global = operand_values(kGlobalHalves);
    ctx.dispatch(k.name, k.shader, {in(operands), out(sums), in(global)}, push, linear_grid(kPeakWorkgroups));
    return;
  }
  throw UsageError("no ceiling kernel named '" + std::string(name) + "'");
}

}  // namespace qi::vk

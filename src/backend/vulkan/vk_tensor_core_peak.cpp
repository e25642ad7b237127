// Ceiling kernels of the Vulkan backend (Backend::ceiling_kernels): the tensor cores' multiply-add rate with
// every operand in registers, then with the operands fed from shared memory as a GEMM's inner loop does, then
// with the GEMM's per-slice barrier and staging stores added. Two ladders: subgroup-scope
// GL_NV_cooperative_matrix (shaders/coopmat_mma_peak.comp: fp32 and fp16 accumulators, per-subgroup blocks of
// 64×32 and 64×64 outputs) and workgroup-scope matrices (shaders/coopmat_workgroup_mma_peak.comp: the slice of
// the workgroup GEMM tile, 128×128×32). The ladders say where a tensor-core GEMM's time goes; `bench kernels`
// prints them.
#include <string>
#include <vector>

#include "backend/vulkan/vk_ops.h"
#include "core/dtype.h"
#include "core/error.h"

namespace qi::vk {
namespace {

constexpr uint32_t kPeakWorkgroupThreads = 256;  // WG in coopmat_mma_peak.comp
constexpr uint32_t kSubgroup = 32;               // the shader's subgroup count assumes 32 lanes
constexpr uint32_t kMma = 16;
// coopmat_workgroup_mma_peak.comp as shaders.cmake compiles it (the workgroup GEMM tile's slice): BM×BK A,
// SPLIT B matrices of BK×BNP, 128 threads, and its shared array of (BM + 1 + BN + 1) rows of BK/8 + 1 uvec4.
constexpr uint32_t kTileThreads = 128, kTileRows = 128, kTileK = 32, kTileColumns = 32, kTileSplit = 4;
constexpr uint32_t kWordBytes = 16, kHalvesPerWord = 8;  // a uvec4 of shared memory: 8 fp16
constexpr uint32_t kTileSharedBytes =
    (kTileRows + 1 + kTileColumns * kTileSplit + 1) * (kTileK / kHalvesPerWord + 1) * kWordBytes;
// LEVEL 4 of coopmat_workgroup_mma_peak.comp reads the operands of a 4096×3072×3072 GEMM (GLOBAL_* there):
// (4096 + 3072) rows of 3072 halves.
constexpr size_t kGlobalHalves = size_t(4096 + 3072) * 3072;
// Many short workgroups rather than a few long ones, so the last partial wave costs little (8192 groups are
// dozens of waves on any GPU with tensor cores); 1024 rounds make one run ~4.4 TFLOP (workgroup tile: ~8.8),
// milliseconds on an H100.
constexpr uint32_t kPeakWorkgroups = 8192;
constexpr uint32_t kPeakIterations = 1024;
// Operand values: 2^-6 keeps fp16 accumulators finite over every round (each adds 16·2^-12 per element).
constexpr float kOperandValue = 1.0f / 64.0f;

struct PeakKernel {
  const char* name;         // the ceiling kernel's name
  const char* shader;       // its SPIR-V variant
  const char* accumulator;  // the accumulator type, as CoopMatShape names it
  double flops_per_round;   // per workgroup (the variant's defines)
  bool workgroup_scope;     // coopmat_workgroup_mma_peak.comp rather than coopmat_mma_peak.comp
  bool global_operands;     // its LEVEL 4: the staged chunks come from a buffer of kGlobalHalves
};

// FM·FN 16×16×16 multiply-adds per subgroup and round, 8 subgroups (coopmat_mma_peak.comp).
constexpr double subgroup_round(uint32_t chains) {
  return 2.0 * kMma * kMma * kMma * chains * (kPeakWorkgroupThreads / kSubgroup);
}
// SPLIT multiply-adds of BM×BK by BK×BNP per round (coopmat_workgroup_mma_peak.comp).
constexpr double tile_round() { return 2.0 * kTileRows * kTileK * kTileColumns * kTileSplit; }

constexpr PeakKernel kPeakKernels[] = {
    {"tensor_core_registers_fp32_accumulate", "coopmat_mma_peak_f32acc", "f32", subgroup_round(8), false, false},
    {"tensor_core_registers_fp16_accumulate", "coopmat_mma_peak_f16acc", "f16", subgroup_round(8), false, false},
    {"tensor_core_shared_fed_64x32", "coopmat_mma_peak_shared_4x2", "f32", subgroup_round(8), false, false},
    {"tensor_core_shared_fed_64x64", "coopmat_mma_peak_shared_4x4", "f32", subgroup_round(16), false, false},
    {"tensor_core_shared_fed_64x32_barrier", "coopmat_mma_peak_shared_4x2_barrier", "f32", subgroup_round(8), false,
     false},
    {"tensor_core_shared_fed_64x32_staged", "coopmat_mma_peak_shared_4x2_staged", "f32", subgroup_round(8), false,
     false},
    {"workgroup_tile_registers", "coopmat_workgroup_mma_peak_l0", "f32", tile_round(), true, false},
    {"workgroup_tile_shared_fed", "coopmat_workgroup_mma_peak_l1", "f32", tile_round(), true, false},
    {"workgroup_tile_shared_fed_barrier", "coopmat_workgroup_mma_peak_l2", "f32", tile_round(), true, false},
    {"workgroup_tile_shared_fed_staged", "coopmat_workgroup_mma_peak_l3", "f32", tile_round(), true, false},
    {"workgroup_tile_global_loads_cached", "coopmat_workgroup_mma_peak_l4_cached", "f32", tile_round(), true, true},
    {"workgroup_tile_global_loads_gemm_addresses", "coopmat_workgroup_mma_peak_l4_spread", "f32", tile_round(), true,
     true},
};

double peak_flops(const PeakKernel& k) { return k.flops_per_round * kPeakIterations * double(kPeakWorkgroups); }

bool usable(const Context& ctx, const PeakKernel& k) {
  const DeviceCaps& c = ctx.caps();
  if (!PipelineRegistry::has_shader(k.shader)) return false;
  if (k.workgroup_scope)
    return c.fp16 && c.memory_model &&
           c.has_workgroup_coopmat(kTileRows, kTileColumns, kTileK, kTileThreads, kTileSharedBytes, "f16",
                                   k.accumulator);
  return c.nv_coopmat && c.subgroup_size == kSubgroup && c.has_nv_coopmat_shape(kMma, kMma, kMma, "f16", k.accumulator);
}

}  // namespace

std::vector<Backend::CeilingKernel> ceiling_kernels(const Context& ctx) {
  std::vector<Backend::CeilingKernel> kernels;
  for (const PeakKernel& k : kPeakKernels)
    if (usable(ctx, k)) kernels.push_back({k.name, peak_flops(k)});
  return kernels;
}

void run_ceiling_kernel(Context& ctx, std::string_view name) {
  for (const PeakKernel& k : kPeakKernels) {
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
    const uint32_t sums_per_group = k.workgroup_scope ? kTileThreads : kPeakWorkgroupThreads / kSubgroup;
    Tensor sums = ctx.alloc({int64_t(kPeakWorkgroups) * sums_per_group}, DType::F32);
    struct Push {
      uint32_t iterations;
    } push{kPeakIterations};
    if (!k.global_operands) {
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

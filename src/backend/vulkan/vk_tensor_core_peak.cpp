// Ceiling kernels of the Vulkan backend (Backend::ceiling_kernels), shaders/coopmat_mma_peak.comp: the tensor
// cores' multiply-add rate through GL_NV_cooperative_matrix with every operand in registers (fp32 accumulators,
// what the GEMMs use, and fp16 ones), then with the operands fed from shared memory as the GEMM's inner loop
// does (per-subgroup blocks of 64×32 and 64×64 outputs), then with the GEMM's per-slice barrier and staging
// stores added. The ladder says where a tensor-core GEMM's time goes; `bench kernels` prints it.
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
// Many short workgroups rather than a few long ones, so the last partial wave costs little (8192 groups are
// dozens of waves on any GPU with tensor cores); 1024 rounds make one run ~4.4 TFLOP, milliseconds on an H100.
constexpr uint32_t kPeakWorkgroups = 8192;
constexpr uint32_t kPeakIterations = 1024;
// Operand values: 2^-6 keeps fp16 accumulators finite over every round (each adds 16·2^-12 per element).
constexpr float kOperandValue = 1.0f / 64.0f;

struct PeakKernel {
  const char* name;         // the ceiling kernel's name
  const char* shader;       // its SPIR-V variant
  const char* accumulator;  // the accumulator type, as CoopMatShape names it
  uint32_t chains;          // FM·FN: multiply-adds per subgroup and round (the variant's defines)
};
constexpr PeakKernel kPeakKernels[] = {
    {"tensor_core_registers_fp32_accumulate", "coopmat_mma_peak_f32acc", "f32", 8},
    {"tensor_core_registers_fp16_accumulate", "coopmat_mma_peak_f16acc", "f16", 8},
    {"tensor_core_shared_fed_64x32", "coopmat_mma_peak_shared_4x2", "f32", 8},
    {"tensor_core_shared_fed_64x64", "coopmat_mma_peak_shared_4x4", "f32", 16},
    {"tensor_core_shared_fed_64x32_barrier", "coopmat_mma_peak_shared_4x2_barrier", "f32", 8},
    {"tensor_core_shared_fed_64x32_staged", "coopmat_mma_peak_shared_4x2_staged", "f32", 8},
};

constexpr uint32_t kPeakSubgroups = kPeakWorkgroups * (kPeakWorkgroupThreads / kSubgroup);

// FLOPs of one dispatch: every subgroup does `chains` 16×16×16 multiply-adds per round.
double peak_flops(const PeakKernel& k) {
  return 2.0 * double(kMma) * kMma * kMma * k.chains * kPeakIterations * double(kPeakSubgroups);
}

bool usable(const Context& ctx, const PeakKernel& k) {
  const DeviceCaps& c = ctx.caps();
  return c.nv_coopmat && c.subgroup_size == kSubgroup && PipelineRegistry::has_shader(k.shader) &&
         c.has_nv_coopmat_shape(kMma, kMma, kMma, "f16", k.accumulator);
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
    Tensor operands = ctx.alloc({int64_t(kMma * kMma)}, DType::F16);
    const std::vector<uint16_t> values(kMma * kMma, f32_to_f16(kOperandValue));
    ctx.upload(operands, values.data(), values.size() * sizeof(uint16_t));
    Tensor sums = ctx.alloc({int64_t(kPeakSubgroups)}, DType::F32);
    struct Push {
      uint32_t iterations;
    } push{kPeakIterations};
    ctx.dispatch(k.name, k.shader, {in(operands), out(sums)}, push, linear_grid(kPeakWorkgroups));
    return;
  }
  throw UsageError("no ceiling kernel named '" + std::string(name) + "'");
}

}  // namespace qi::vk

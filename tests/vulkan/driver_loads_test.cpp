// Level 5 of the workgroup tile's ceiling ladder (shaders/coopmat_workgroup_mma_peak.comp): matrices loaded by
// the driver straight from a GEMM's operands, through KHR loads or through the tensor-addressed loads that
// coopmat_nv_to_khr --tensor-loads writes (a tensor layout per load, a transposing view for the column-major
// B). The ladder's rates mean something only if each load reads the tile it names, so every compiled variant
// runs one round on random operands and each workgroup's sum of its product tile is checked against the CPU.
// Runs where the device has workgroup-scope matrices (and, for the tensor variants, tensor addressing).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/vulkan/embedded_shaders.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_ops.h"
#include "core/dtype.h"
#include "vulkan_test_util.h"

namespace qi::test {
namespace {

class DriverLoads : public VulkanTest {};

// The GEMM whose operands level 5 walks (GLOBAL_* in the shader): A rows then B rows, K halves each.
constexpr uint32_t kRowsA = 4096, kRowsB = 3072, kK = 3072;
constexpr char kPrefix[] = "coopmat_workgroup_mma_peak_l5_";

struct Variant {
  std::string shader;
  bool tensor_loads = false;
  uint32_t threads = 0, rows = 0, k = 0, columns = 0, split = 0;
};

// The level-5 variants this build compiled, read back from their names
// (<prefix><khr|tensor>_loads_t<threads>_<BM>x<BK>x<BNP>x<SPLIT>[_prefetch]).
std::vector<Variant> level5_variants() {
  std::vector<Variant> out;
  for (const EmbeddedShader& s : embedded_shaders()) {
    const std::string name = s.name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    Variant v;
    v.shader = name;
    char kind[16] = {};
    if (std::sscanf(name.c_str() + sizeof(kPrefix) - 1, "%15[a-z]_loads_t%u_%ux%ux%ux%u", kind, &v.threads, &v.rows,
                    &v.k, &v.columns, &v.split) != 6)
      ADD_FAILURE() << "cannot read the tile of " << name;
    v.tensor_loads = std::string(kind) == "tensor";
    out.push_back(v);
  }
  return out;
}

TEST_F(DriverLoads, EveryVariantMultipliesTheTilesItNames) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  const vk::DeviceCaps& caps = ctx->caps();
  const std::vector<Variant> variants = level5_variants();
  if (variants.empty()) GTEST_SKIP() << "this build's glslc lacks GL_NV_cooperative_matrix";
  if (!caps.coopmat_workgroup || !caps.fp16 || !caps.memory_model)
    GTEST_SKIP() << "the device has no workgroup-scope cooperative matrices";

  // Random fp16 operands; the CPU sums of each A row's and each B row's first slice.
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const size_t halves = size_t(kRowsA + kRowsB) * kK;
  std::vector<uint16_t> global(halves);
  for (uint16_t& h : global) h = f32_to_f16(dist(rng));
  Tensor global_t = ctx->alloc({int64_t(halves)}, DType::F16);
  ctx->upload(global_t, global.data(), halves * sizeof(uint16_t));
  Tensor unused = ctx->alloc({256}, DType::F16);  // binding 0, read by levels 0-4 only

  int checked = 0;
  for (const Variant& v : variants) {
    if (v.tensor_loads && !caps.coopmat_tensor_addressing) continue;
    if (!caps.has_workgroup_coopmat(v.rows, v.columns, v.k, v.threads, 0, "f16", "f32")) continue;
    SCOPED_TRACE(v.shader);
    const uint32_t bn = v.columns * v.split, tiles_m = kRowsA / v.rows;
    // Workgroup g multiplies tile g (the shader takes it modulo the tile count): a full column of tiles
    // and two of the next, so both operands' row offsets vary.
    const uint32_t groups = tiles_m + 2;
    Tensor sums = ctx->alloc({int64_t(groups) * v.threads}, DType::F32);
    struct {
      uint32_t iterations;
    } push{1};  // one round: the first K slice
    ctx->dispatch("driver_loads", v.shader, {vk::in(unused), vk::out(sums), vk::in(global_t)}, push,
                  vk::linear_grid(groups));
    std::vector<float> got(size_t(groups) * v.threads, std::nanf(""));
    ctx->download(sums, got.data());
    for (uint32_t g = 0; g < groups; ++g) {
      const uint32_t a_row0 = (g % tiles_m) * v.rows, b_row0 = kRowsA + (g / tiles_m) * bn;
      // The sum of the tile's product is Σ_k (Σ_i A[i][k]) (Σ_j B[j][k]); the bound is the same with |·|.
      double want = 0, bound = 0;
      for (uint32_t k = 0; k < v.k; ++k) {
        double a = 0, a_abs = 0, b = 0, b_abs = 0;
        for (uint32_t i = 0; i < v.rows; ++i) {
          const double x = f16_to_f32(global[size_t(a_row0 + i) * kK + k]);
          a += x;
          a_abs += std::fabs(x);
        }
        for (uint32_t j = 0; j < bn; ++j) {
          const double x = f16_to_f32(global[size_t(b_row0 + j) * kK + k]);
          b += x;
          b_abs += std::fabs(x);
        }
        want += a * b;
        bound += a_abs * b_abs;
      }
      double total = 0;
      for (uint32_t t = 0; t < v.threads; ++t) total += got[size_t(g) * v.threads + t];
      // fp32 accumulation over BK terms, then over the tile's elements in the shader and here.
      EXPECT_NEAR(total, want, 1e-5 * bound) << "workgroup " << g;
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no level-5 variant fits this device";
}

}  // namespace
}  // namespace qi::test

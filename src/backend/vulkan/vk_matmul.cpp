// matmul: y[..., N] = epilogue(x[..., K] · w[N, K]ᵀ). Variants: "scalar" (tiled fp32 GEMM, every device) and
// "coopmat_nv" (fp16 tensor cores through VK_NV_cooperative_matrix with per-row activation scaling), each
// compiled per weight format: matmul_<variant>_<f32|f16|bf16> (coopmat_nv: f16 and bf16 only). F32 weights
// ask for fp32 arithmetic, so they always run the scalar kernel. Products of at most kGemvMaxRows
// rows (the modulation vectors) run matmul_gemv_<format> whatever the variant: bandwidth-bound, fp32.
#include <algorithm>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr std::string_view kOp = "matmul";
constexpr const char* kScalar = "scalar";
constexpr const char* kCoopmatNv = "coopmat_nv";
// Output tile of the scalar shader (BM × BN in matmul.comp) and of the coopmat_nv shader (matmul_coopmat_nv.comp).
constexpr uint32_t kTileRows = 64, kTileCols = 64;
constexpr uint32_t kCoopmatTileRows = 128, kCoopmatTileCols = 128;
// The coopmat_nv shader's needs: 16×16×16 fp16 products into fp32, 8 subgroups of 32 threads, 48 KiB of
// shared memory (two stages of 128×32 fp16 x and w slices plus the epilogue patches).
constexpr uint32_t kCoopmatSubgroup = 32;
constexpr uint32_t kCoopmatShared = 48 * 1024;

// matmul_gemv.comp: products of at most kGemvMaxRows rows (MAX_ROWS there) read each weight once; it needs
// K in whole chunks of kGemvChunk and computes kGemvColumns columns per workgroup.
constexpr int64_t kGemvMaxRows = 8;
constexpr int64_t kGemvChunk = 8;
constexpr uint32_t kGemvColumns = 8;

// Flag bits of the epilogue (mirror FLAG_* in shaders/matmul_epilogue.glsl).
constexpr uint32_t kFlagBias = 1, kFlagResidual = 2, kFlagGate = 4, kFlagGatePerItem = 8;

uint32_t activation_code(Activation a) {
  // Mirrors ACT_* in shaders/activations.glsl.
  switch (a) {
    case Activation::None: return 0;
    case Activation::GeluTanh: return 1;
    case Activation::Silu: return 2;
  }
  return 0;
}

bool coopmat_nv_usable(const Context& ctx) {
  const DeviceCaps& c = ctx.caps();
  if (!c.nv_coopmat || !c.fp16 || !c.memory_model || c.subgroup_size != kCoopmatSubgroup ||
      c.max_shared_memory < kCoopmatShared)
    return false;
  if (!PipelineRegistry::has_shader("matmul_coopmat_nv_f16") || !PipelineRegistry::has_shader("matmul_row_scale"))
    return false;
  return std::any_of(c.nv_coopmat_shapes.begin(), c.nv_coopmat_shapes.end(), [](const CoopMatShape& s) {
    return s.m == 16 && s.n == 16 && s.k == 16 && s.a_type == "f16" && s.b_type == "f16" && s.c_type == "f32" &&
           s.result_type == "f32";
  });
}

struct Push {
  uint32_t rows, n, k, rows_per_item, act, flags, bias_dtype;
};

}  // namespace

void register_matmul_variants(Context& ctx) {
  // coopmat_nv is the automatic choice where the device has it: on an H100 (driver 580.159.04, 2026-11-22) it
  // runs the model's GEMMs at 29-30 TFLOP/s, the scalar kernel at 28-29 (docs/performance.md).
  std::vector<std::string> usable;
  if (coopmat_nv_usable(ctx)) usable.push_back(kCoopmatNv);
  usable.push_back(kScalar);
  ctx.variants().add(std::string(kOp), usable);
}

DType bf16_weight_storage(const Context& ctx) {
  // Tensor cores read fp16: convert once at upload. Otherwise bf16 stays exact (widened in the shader).
  return ctx.variants().usable(kOp).front() == kCoopmatNv ? DType::F16 : DType::BF16;
}

Tensor matmul(Context& ctx, const Tensor& x, const Tensor& w, const MatmulArgs& args) {
  check_f32(ctx, kOp, "x", x);
  check_float(ctx, kOp, "w", w);
  check_rank(kOp, "w", w, 2);
  if (x.rank() < 1) fail(kOp, "x must have at least one axis, got " + x.describe());
  const int64_t n = w.dim(0), k = w.dim(1);
  if (x.dim(-1) != k) fail(kOp, "x " + x.describe() + " and w " + w.describe() + " differ in K");
  check_index_range(kOp, x);
  check_index_range(kOp, w);
  const int64_t rows = x.rows(), items = x.rank() >= 3 ? x.dim(0) : 1;
  Shape ys = x.shape();
  ys.back() = n;

  uint32_t flags = 0;
  if (args.bias.defined()) {
    check_float(ctx, kOp, "bias", args.bias);
    if (args.bias.shape() != Shape{n}) fail(kOp, "bias " + args.bias.describe() + " must be [" + std::to_string(n) + "]");
    flags |= kFlagBias;
  }
  if (args.gate.defined() && !args.residual.defined()) fail(kOp, "gate needs residual");
  if (args.residual.defined()) {
    check_f32(ctx, kOp, "residual", args.residual);
    if (args.residual.shape() != ys)
      fail(kOp, "residual " + args.residual.describe() + " must have the output's shape " + shape_str(ys));
    flags |= kFlagResidual;
  }
  if (args.gate.defined()) {
    check_f32(ctx, kOp, "gate", args.gate);
    if (args.gate.shape() == Shape{items, n})
      flags |= kFlagGate | kFlagGatePerItem;
    else if (args.gate.numel() == n && args.gate.rank() == 1)
      flags |= kFlagGate;
    else
      fail(kOp, "gate " + args.gate.describe() + " must be [" + std::to_string(items) + ", " + std::to_string(n) +
                    "] or [" + std::to_string(n) + "] for x " + x.describe());
  }

  Tensor y = ctx.alloc(ys, DType::F32);
  check_index_range(kOp, y);
  if (y.numel() == 0) return y;
  const Push push_all{uint32_t(rows), uint32_t(n), uint32_t(k), uint32_t(rows / items), activation_code(args.act),
                      flags, args.bias.defined() ? shader_dtype(args.bias.dtype()) : 0u};
  if (rows <= kGemvMaxRows && k % kGemvChunk == 0) {
    // Few rows: bandwidth-bound, fp32 arithmetic; the same kernel whatever the variant.
    ctx.dispatch(kOp, std::string("matmul_gemv_") + weight_suffix(w.dtype()),
                 {in(x), in(w), in(args.bias), in(args.residual), in(args.gate), out(y)}, push_all,
                 linear_grid(ceil_div(n, kGemvColumns)));
    return y;
  }
  const std::string variant = w.dtype() == DType::F32 ? std::string(kScalar) : ctx.variants().selected(kOp);
  const std::string shader = "matmul_" + variant + "_" + weight_suffix(w.dtype());
  const bool coopmat = variant == kCoopmatNv;
  const uint32_t tile_rows = coopmat ? kCoopmatTileRows : kTileRows;
  const uint32_t tile_cols = coopmat ? kCoopmatTileCols : kTileCols;
  if (ceil_div(n, tile_cols) > kMaxGridDim || ceil_div(rows, tile_rows) > kMaxGridDim)
    fail(kOp, "output " + y.describe() + " needs more workgroups than one dispatch holds");
  const Push& push = push_all;
  const Grid grid{uint32_t(ceil_div(n, tile_cols)), uint32_t(ceil_div(rows, tile_rows)), 1};

  if (coopmat) {
    Tensor row_scale = ctx.alloc({rows}, DType::F32);
    const uint32_t seg = threads_per_row(k);
    struct {
      uint32_t rows, k, seg;
    } scale_push{uint32_t(rows), uint32_t(k), seg};
    ctx.dispatch(kOp, "matmul_row_scale", {in(x), out(row_scale)}, scale_push,
                 linear_grid(ceil_div(rows, kRowReduceWorkgroup / seg)));
    ctx.dispatch(kOp, shader,
                 {in(x), in(w), in(args.bias), in(args.residual), in(args.gate), out(y), in(row_scale)}, push, grid);
    return y;
  }
  ctx.dispatch(kOp, shader, {in(x), in(w), in(args.bias), in(args.residual), in(args.gate), out(y)}, push, grid);
  return y;
}

}  // namespace qi::vk

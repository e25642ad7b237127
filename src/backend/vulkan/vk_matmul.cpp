// matmul: y[..., N] = epilogue(x[..., K] · w[N, K]ᵀ). Variants: "scalar" (tiled fp32 GEMM, every device) and
// "coopmat_nv" (fp16 tensor cores through VK_NV_cooperative_matrix with per-row activation scaling, a tile
// configuration chosen by shape; "coopmat_nv_<tile>" forces one; where the device has VK_NV_cooperative_matrix2
// workgroup scope, the "wg" tile on workgroup-scope matrices), each compiled per weight format:
// matmul_scalar_<f32|f16|bf16>, matmul_coopmat_nv_<tile>_<f16|bf16>[_k8]. F32 weights
// ask for fp32 arithmetic, so they always run the scalar kernel. Products of at most kGemvMaxRows
// rows (the modulation vectors) run matmul_gemv_<format> whatever the variant: bandwidth-bound, fp32.
#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <vector>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr std::string_view kOp = "matmul";
// modulated_matmul (layer_norm_modulate then matmul_many) runs the same kernels; its variant is selected apart
// (the same list), so that the parity harness runs each for it too.
constexpr std::string_view kModulatedOp = "modulated_matmul";
// modulated_mlp likewise (its products run matmul's kernels under its own selection).
constexpr std::string_view kMlpOp = "modulated_mlp";
// modulated_mlp's pass over the up-projection weights (matmul_weight_bound.comp), timed apart.
constexpr std::string_view kWeightBoundTiming = "matmul_weight_bound";
constexpr int64_t kWeightBoundValues = 2;  // max row norm, max |bias| (matmul_weight_bound.comp)
constexpr int64_t kWeightBoundRows = 8;    // weight rows per workgroup (ROWS there)
// The fused normalise-modulate-pack pass of modulated_matmul, timed apart (op_timings).
constexpr std::string_view kModulatedPackTiming = "layer_norm_modulate_pack";
// The activation-packing pass of the tensor-core variants, timed apart from the GEMM (op_timings).
constexpr std::string_view kPackTiming = "matmul_pack";
constexpr const char* kScalar = "scalar";
constexpr std::string_view kCoopmatNv = "coopmat_nv";
// Output tile of the scalar shader (BM × BN in matmul.comp).
constexpr uint32_t kTileRows = 64, kTileCols = 64;

// The coopmat_nv shaders need 16×16×16 fp16 products into fp32 and subgroups of 32 threads.
constexpr uint32_t kCoopmatSubgroup = 32;
constexpr uint32_t kCoopmatMma = 16;  // 16×16×16 fp16 cooperative matrices (MMA in the shaders)

// Tile configurations of matmul_coopmat_nv.comp, one shader variant each (mirrors QI_COOPMAT_CONFIGS in
// shaders/shaders.cmake): "coopmat_nv_<name>" runs that one; "coopmat_nv" picks one by shape. The activations
// are packed to scaled fp16 first (matmul_pack_rows.comp), in rows of K rounded up to kPackAlign halves.
struct CoopmatConfig {
  const char* name;
  uint32_t bm, bn, bk, sg_m, sg_n, stages;
  uint32_t threads() const { return (bm / sg_m) * (bn / sg_n) * kCoopmatSubgroup; }
  // Shared memory: the staged x and w slices (rows padded by one 16-byte chunk) and a 16×16 fp32
  // epilogue patch per subgroup.
  uint32_t shared_bytes() const {
    constexpr uint32_t kChunkBytes = 16, kHalvesPerChunk = 8, kPatchBytes = 16 * 16 * 4;
    return stages * (bm + bn) * (bk / kHalvesPerChunk + 1) * kChunkBytes + threads() / kCoopmatSubgroup * kPatchBytes;
  }
};
// Measured on an H100 (docs/performance.md, 2026-11-22): 128x128x64 is the best general tile (90-125
// TFLOP/s on the model's shapes); 256x128x32 leads by 3-4 % where K is much larger than N (mlp down);
// 64x64x32 keeps every SM busy when the output has few tiles. Larger per-subgroup blocks (64×64) need more
// than the 255 registers a thread has and spill.
constexpr CoopmatConfig kGeneral{"128x128x64", 128, 128, 64, 64, 32, 1};
constexpr CoopmatConfig kDeepK{"256x128x32", 256, 128, 32, 64, 64, 1};
constexpr CoopmatConfig kSmall{"64x64x32", 64, 64, 32, 32, 32, 2};
constexpr const CoopmatConfig* kCoopmatConfigs[] = {&kGeneral, &kDeepK, &kSmall};
// Only kSmall is also compiled for K not a multiple of 8 (element-wise weight loads); the others exist as
// matmul_coopmat_nv_<name>_<format>_k8 only, which every shape of the model is.
constexpr const CoopmatConfig& kAnyK = kSmall;
constexpr int64_t kPackAlign = 8;  // PACK_ALIGN in matmul_pack_rows.comp
// Most value pairs a thread of matmul_pack_rows holds in registers (64 floats): rows of K ≤ 64 · 256 are read
// once. Measured on an H100 at K = 3072 / 12288 (6889 rows): 0.070 / 0.345 ms reading each row twice.
constexpr int64_t kPackHeldPairsMax = 32;
// Automatic choice: K ≥ kDeepKRatio · N runs kDeepK from kDeepKMinRows rows on; otherwise outputs of fewer
// 128×128 tiles than kSmallGridTiles run kSmall (on an H100's 132 SMs, one workgroup of kGeneral per SM, a
// grid under ~2 waves leaves SMs idle); the rest kDeepK where K ≥ kDeepKRatio · N, else kGeneral.
constexpr int64_t kSmallGridTiles = 264;
constexpr int64_t kDeepKRatio = 2;
// From this many rows kDeepK wins even on a small grid: 1024×3072×12288 (MLP down at 512²) ran in 0.79 ms
// with it against 0.93 with kSmall (H100, 2026-11-22); fewer rows (the text stream) leave its 256-row tiles
// mostly empty.
constexpr int64_t kDeepKMinRows = 1024;

// The workgroup-scope tile (matmul_coopmat_nv.comp with WORKGROUP_SCOPE, coopmat_workgroup_gemm_tile.glsl;
// mirrors QI_COOPMAT_WORKGROUP_CONFIGS in shaders/shaders.cmake): a BM×BN tile as `split` accumulators of
// BM×(BN/split), one workgroup-scope matrix each, one padded shared stage. Compiled for K a multiple of 8.
struct WorkgroupConfig {
  const char* name;
  uint32_t bm, bn, bk, split, threads;
  // The staged slices (rows padded by one 16-byte chunk) with the fp32 epilogue patch laid over them, and
  // the rows' scale factors.
  uint32_t shared_bytes() const {
    constexpr uint32_t kChunkBytes = 16, kHalvesPerChunk = 8, kFloatBytes = 4;
    const uint32_t staging = (bm + bn) * (bk / kHalvesPerChunk + 1) * kChunkBytes;
    const uint32_t patch = bm * (bn / split) * kFloatBytes;
    return std::max(staging, patch) + bm * kFloatBytes;
  }
};
// Measured on an H100 (docs/performance.md, 2026-11-22): 237-258 TFLOP/s (kernel time) on the model's
// 4096- and 6889-row shapes, against 139-160 for the best subgroup tile; as fast or faster from 64 rows on,
// except N = 64 (proj_out: 0.096 ms against 64x64x32's 0.079). As a stand-alone kernel 128×256 with 256
// threads ran within 2 %.
// In the matmul on the same machine, 128×128×64 (255 registers, 42 KiB) ran 6-19 % slower and 128×256×32
// with 256 threads 2-5 % slower on the 1024- to 6889-row shapes. Further configurations go in this list (the
// automatic choice is kWorkgroup; the others can be forced, and bench kernels times each).
constexpr WorkgroupConfig kWorkgroup{"wg128x128x32", 128, 128, 32, 4, 128};
// Split-K on the workgroup tile (automatic choice only; the forced "coopmat_nv_wg..." variant runs whole K, so
// bench kernels compares the two): an output of fewer than kSplitKMaxTiles tiles (the text stream's 64 rows:
// 24 or 96 tiles; an H100 has 132 SMs) has each tile's K cut into ranges of at least kSplitKMinSlices slices,
// so that at most kSplitKTargetWorkgroups workgroups run (two per SM of an H100 or H200, as many as fit beside
// each other); the partial products go to fp32 scratch and matmul_split_k_reduce.comp sums them and applies the
// epilogue.
constexpr int64_t kSplitKMaxTiles = 128;
constexpr int64_t kSplitKTargetWorkgroups = 264;
constexpr int64_t kSplitKMinSlices = 8;
constexpr int64_t kSplitKReduceWorkgroup = 256;  // WG in matmul_split_k_reduce.comp
constexpr const WorkgroupConfig* kWorkgroupConfigs[] = {&kWorkgroup};

std::string coopmat_variant(const CoopmatConfig& c) { return std::string(kCoopmatNv) + "_" + c.name; }
std::string coopmat_variant(const WorkgroupConfig& c) { return std::string(kCoopmatNv) + "_" + c.name; }

const WorkgroupConfig* workgroup_config(std::string_view variant) {
  for (const WorkgroupConfig* c : kWorkgroupConfigs)
    if (variant == coopmat_variant(*c)) return c;
  return nullptr;
}

const CoopmatConfig* coopmat_config(std::string_view variant) {
  for (const CoopmatConfig* c : kCoopmatConfigs)
    if (variant == coopmat_variant(*c)) return c;
  return nullptr;
}

const CoopmatConfig& choose_coopmat_config(int64_t rows, int64_t n, int64_t k) {
  const bool deep_k = k >= kDeepKRatio * n;
  if (deep_k && rows >= kDeepKMinRows) return kDeepK;
  if (ceil_div(rows, kGeneral.bm) * ceil_div(n, kGeneral.bn) < kSmallGridTiles) return kSmall;
  return deep_k ? kDeepK : kGeneral;
}

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
  if (!c.nv_coopmat || !c.fp16 || !c.memory_model || c.subgroup_size != kCoopmatSubgroup) return false;
  for (const CoopmatConfig* cfg : kCoopmatConfigs)
    if (cfg->shared_bytes() > c.max_shared_memory ||
        !PipelineRegistry::has_shader("matmul_" + coopmat_variant(*cfg) + "_f16_k8"))
      return false;
  if (!PipelineRegistry::has_shader("matmul_" + coopmat_variant(kAnyK) + "_f16") ||
      !PipelineRegistry::has_shader("matmul_pack_rows"))
    return false;
  return c.has_nv_coopmat_shape(kCoopmatMma, kCoopmatMma, kCoopmatMma, "f16", "f32");
}

bool coopmat_workgroup_usable(const Context& ctx, const WorkgroupConfig& w) {
  const DeviceCaps& c = ctx.caps();
  return c.fp16 && c.memory_model && PipelineRegistry::has_shader("matmul_" + coopmat_variant(w) + "_f16_k8") &&
         PipelineRegistry::has_shader("matmul_" + coopmat_variant(w) + "_f16_k8_split_k") &&
         PipelineRegistry::has_shader("matmul_split_k_reduce") &&
         c.has_workgroup_coopmat(w.bm, w.bn / w.split, w.bk, w.threads, w.shared_bytes(), "f16", "f32");
}

struct Push {
  uint32_t rows, n, k, rows_per_item, act, flags, bias_dtype;
  uint32_t k_per_split = 0, splits = 1;  // split-K only (matmul_coopmat_nv.comp with SPLIT_K, the reduction)
};

// K ranges of a split-K product on the workgroup tile: `splits` ranges of k_per_split columns (a multiple of
// the tile's BK); splits == 1 runs whole K.
struct KSplit {
  int64_t splits = 1, k_per_split = 0;
};

KSplit choose_k_split(const WorkgroupConfig& w, int64_t rows, int64_t n, int64_t packed_k) {
  const int64_t tiles = ceil_div(rows, w.bm) * ceil_div(n, w.bn), slices = ceil_div(packed_k, w.bk);
  if (tiles >= kSplitKMaxTiles) return {};
  // Rounded down: never more workgroups than run at once, as a second, partial wave costs a whole range's
  // time (72 tiles in 4 ranges are 288 workgroups, 264 of which fit an H200).
  const int64_t wanted = std::min<int64_t>(kSplitKTargetWorkgroups / tiles, slices / kSplitKMinSlices);
  if (wanted < 2) return {};
  const int64_t slices_per_split = ceil_div(slices, wanted);
  return {int64_t(ceil_div(slices, slices_per_split)), slices_per_split * w.bk};
}

// x as the tensor-core tiles read it: rows of K rounded up to kPackAlign halves, scaled to fp16 by a power of
// two per row (matmul_pack_rows.comp), with each row's inverse scale. Made once per input, however many
// weights multiply it (matmul_many).
struct PackedInput {
  Tensor values, row_scale;
};

// What modulated_matmul applies to x before packing: layer_norm_modulate's arguments.
struct Modulation {
  const Tensor& shift;
  const Tensor& scale;
  float eps;
};

// Packs x, or with `mod` its LN-modulated rows (matmul_pack_rows.comp with MODULATE: the normalised input of
// modulated_matmul is never written in fp32).
PackedInput pack_input(Context& ctx, const Tensor& x, const Modulation* mod = nullptr, const Tensor& row_norm = {}) {
  const int64_t items = mod ? modulation_items(ctx, kModulatedOp, x, mod->shift, mod->scale) : 1;
  const int64_t rows = x.rows(), k = x.dim(-1);
  const int64_t packed_k = ceil_div(k, kPackAlign) * kPackAlign;
  PackedInput p{ctx.alloc({rows, packed_k}, DType::F16), ctx.alloc({rows}, DType::F32)};
  const uint32_t seg = threads_per_row(k);
  struct {
    uint32_t rows, k, seg;
    float eps;               // MODULATE only
    uint32_t rows_per_item;  // MODULATE only
  } push{uint32_t(rows), uint32_t(k), seg, mod ? mod->eps : 0.0f, uint32_t(rows / items)};
  // Value pairs each thread holds (HELD_PAIRS in matmul_pack_rows.comp), or 0: each row read more than once.
  // and (MODULATE) whether each row's L2 norm goes to row_norm (WRITE_ROW_NORM).
  const std::array<uint32_t, 2> spec{held_per_thread(ceil_div(packed_k, 2), seg, kPackHeldPairsMax),
                                     row_norm.defined() ? 1u : 0u};
  const Grid grid = linear_grid(ceil_div(rows, kRowReduceWorkgroup / seg));
  if (mod)
    ctx.dispatch(kModulatedPackTiming, row_reduce_shader(ctx, "matmul_pack_rows_modulate"),
                 {in(x), out(p.values), out(p.row_scale), in(mod->shift), in(mod->scale),
                  // Unused, the writeonly binding aliases row_scale rather than the shared dummy buffer (which
                  // synchronisation validation would then count as written).
                  out(row_norm.defined() ? row_norm : p.row_scale)},
                 push, grid, spec);
  else
    ctx.dispatch(kPackTiming, row_reduce_shader(ctx, "matmul_pack_rows"), {in(x), out(p.values), out(p.row_scale)},
                 push, grid, std::span<const uint32_t>(spec).first(1));
  return p;
}

// The kernel family matmul_one runs for x · wᵀ under the variant selected for `variant_op`: the gemv for few
// rows, the scalar GEMM for F32 weights (fp32 arithmetic asked for), else the selected variant.
bool gemv_product(const Tensor& x, const Tensor& w) { return x.rows() <= kGemvMaxRows && w.dim(1) % kGemvChunk == 0; }
std::string product_variant(const Context& ctx, std::string_view variant_op, const Tensor& w) {
  return w.dtype() == DType::F32 ? std::string(kScalar) : ctx.variants().selected(variant_op);
}

// A checked product: its output's shape and sizes, and the push block every kernel family reads.
struct ProductPlan {
  Shape ys;
  int64_t rows, n, k;
  Push push;
};
ProductPlan plan_product(const Context& ctx, const Shape& x_shape, const Tensor& w, const MatmulArgs& args);
// The workgroup-scope tile `variant` (selected for variant_op) runs for K, if any; `automatic` says whether
// it is the automatic choice (which may split K) rather than a forced one.
const WorkgroupConfig* workgroup_tile(const Context& ctx, std::string_view variant_op, const std::string& variant,
                                      int64_t k, bool& automatic);
// x (packed) · wᵀ on the tensor cores under `variant` (a coopmat_nv one) selected for `variant_op`.
Tensor tensor_core_product(Context& ctx, std::string_view variant_op, const std::string& variant,
                           const ProductPlan& plan, const Tensor& w, const MatmulArgs& args, const PackedInput& packed);

// One product under the variant selected for `variant_op` (matmul or modulated_matmul); `packed` holds x's
// packing once a tensor-core kernel has needed it (empty at first).
Tensor matmul_one(Context& ctx, std::string_view variant_op, const Tensor& x, const Tensor& w, const MatmulArgs& args,
                  std::optional<PackedInput>& packed);

}  // namespace

void register_matmul_variants(Context& ctx) {
  // coopmat_nv (a tile configuration per shape) is the automatic choice where the device has it: on an H100
  // (driver 580.159.04, 2026-11-22) it runs the model's GEMMs at 90-130 TFLOP/s, the scalar kernel at ~29
  // (docs/performance.md). Each configuration is also a variant of its own, for benchmarks and tests.
  std::vector<std::string> usable;
  if (coopmat_nv_usable(ctx)) {
    usable.emplace_back(kCoopmatNv);
    for (const WorkgroupConfig* w : kWorkgroupConfigs)
      if (coopmat_workgroup_usable(ctx, *w)) usable.push_back(coopmat_variant(*w));
    for (const CoopmatConfig* c : kCoopmatConfigs) usable.push_back(coopmat_variant(*c));
  }
  usable.push_back(kScalar);
  ctx.variants().add(std::string(kOp), usable);
  ctx.variants().add(std::string(kModulatedOp), usable);
  ctx.variants().add(std::string(kMlpOp), usable);
}

DType bf16_weight_storage(const Context& ctx) {
  // Tensor cores read fp16: convert once at upload. Otherwise bf16 stays exact (widened in the shader).
  return ctx.variants().usable(kOp).front() == kCoopmatNv ? DType::F16 : DType::BF16;
}

Tensor matmul(Context& ctx, const Tensor& x, const Tensor& w, const MatmulArgs& args) {
  std::optional<PackedInput> packed;
  return matmul_one(ctx, kOp, x, w, args, packed);
}

std::vector<Tensor> matmul_many(Context& ctx, const Tensor& x, std::span<const Tensor> w,
                                std::span<const MatmulArgs> args) {
  if (w.size() != args.size())
    fail(kOp, std::to_string(w.size()) + " weights but " + std::to_string(args.size()) + " argument sets");
  std::optional<PackedInput> packed;
  std::vector<Tensor> y;
  y.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) y.push_back(matmul_one(ctx, kOp, x, w[i], args[i], packed));
  return y;
}

namespace {

// modulated_matmul under the variant selected for `variant_op` (modulated_matmul, or modulated_mlp's up
// projection where it does not run fused).
std::vector<Tensor> modulated_products(Context& ctx, std::string_view variant_op, const Tensor& x, const Tensor& shift,
                                       const Tensor& scale, float eps, std::span<const Tensor> w,
                                       std::span<const MatmulArgs> args) {
  if (w.size() != args.size())
    fail(kModulatedOp, std::to_string(w.size()) + " weights but " + std::to_string(args.size()) + " argument sets");
  // The fused pass where every product runs on the tensor cores, which read only the packed input;
  // otherwise the normalised input is made and multiplied as the variant says.
  bool fused = x.numel() > 0 && !w.empty();
  for (const Tensor& wi : w) {
    check_float(ctx, kModulatedOp, "w", wi);
    check_rank(kModulatedOp, "w", wi, 2);
    fused = fused && !gemv_product(x, wi) && product_variant(ctx, variant_op, wi).starts_with(kCoopmatNv);
  }
  std::optional<PackedInput> packed;
  const Modulation mod{shift, scale, eps};
  if (fused) packed = pack_input(ctx, x, &mod);
  const Tensor input = fused ? x : layer_norm_modulate(ctx, x, shift, scale, eps);
  std::vector<Tensor> y;
  y.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) y.push_back(matmul_one(ctx, variant_op, input, w[i], args[i], packed));
  return y;
}

}  // namespace

std::vector<Tensor> modulated_matmul_many(Context& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale,
                                          float eps, std::span<const Tensor> w, std::span<const MatmulArgs> args) {
  return modulated_products(ctx, kModulatedOp, x, shift, scale, eps, w, args);
}

Tensor modulated_mlp(Context& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale, float eps,
                     const MlpWeights& w, const Tensor& gate) {
  check_float(ctx, kMlpOp, "up", w.up);
  check_rank(kMlpOp, "up", w.up, 2);
  check_float(ctx, kMlpOp, "down", w.down);
  check_rank(kMlpOp, "down", w.down, 2);
  const MatmulArgs up_args{.bias = w.up_bias, .act = w.act};
  const MatmulArgs down_args{.bias = w.down_bias, .residual = x, .gate = gate};
  // Fused where the up projection runs the workgroup-scope tile and the hidden rows are whole packed rows:
  // its epilogue writes the hidden activations as the down projection's scaled fp16 input (PACKED_OUTPUT in
  // matmul_coopmat_nv.comp), so they are never written in fp32 nor packed again.
  const std::string variant = product_variant(ctx, kMlpOp, w.up);
  bool automatic = false;
  const WorkgroupConfig* tile =
      variant.starts_with(kCoopmatNv) ? workgroup_tile(ctx, kMlpOp, variant, w.up.dim(1), automatic) : nullptr;
  const std::string up_shader =
      tile ? "matmul_" + coopmat_variant(*tile) + "_" + weight_suffix(w.up.dtype()) + "_k8_packed_out" : "";
  const int64_t f = w.up.dim(0);
  const bool fused = tile && x.numel() > 0 && !gemv_product(x, w.up) && w.down.dtype() != DType::F32 &&
                     f % kPackAlign == 0 && PipelineRegistry::has_shader(up_shader);
  if (!fused) {
    const Tensor up[] = {w.up};
    const MatmulArgs up_list[] = {up_args};
    const Tensor h = modulated_products(ctx, kMlpOp, x, shift, scale, eps, up, up_list).front();
    std::optional<PackedInput> none;
    return matmul_one(ctx, kMlpOp, h, w.down, down_args, none);
  }
  // Every check before any work.
  check_f32(ctx, kMlpOp, "x", x);
  const ProductPlan up_plan = plan_product(ctx, x.shape(), w.up, up_args);
  const ProductPlan down_plan = plan_product(ctx, up_plan.ys, w.down, down_args);
  const int64_t rows = up_plan.rows, k = up_plan.k;

  const Tensor row_norm = ctx.alloc({rows}, DType::F32);
  const Modulation mod{shift, scale, eps};
  const PackedInput input = pack_input(ctx, x, &mod, row_norm);
  // The weights' largest row norm and bias (two floats, combined by atomic maxima from zero), computed once
  // per contents of the weights.
  const Tensor sources[] = {w.up, w.up_bias};
  const Tensor* cached = ctx.derived(kWeightBoundTiming, sources);
  Tensor bound = cached ? *cached : ctx.alloc({kWeightBoundValues}, DType::F32);
  if (!cached) {
    ctx.fill(bound, 0u, kWeightBoundTiming);
    struct {
      uint32_t n, k, has_bias, bias_dtype;
    } bound_push{uint32_t(f), uint32_t(k), w.up_bias.defined() ? 1u : 0u, up_plan.push.bias_dtype};
    ctx.dispatch(kWeightBoundTiming, std::string("matmul_weight_bound_") + weight_suffix(w.up.dtype()),
                 {in(w.up), in(w.up_bias), inout(bound)}, bound_push, linear_grid(ceil_div(f, kWeightBoundRows)));
    ctx.set_derived(kWeightBoundTiming, sources, bound);
  }
  const PackedInput hidden{ctx.alloc({rows, f}, DType::F16), ctx.alloc({rows}, DType::F32)};
  const std::array<uint32_t, 3> up_spec{up_plan.push.flags, up_plan.push.act, up_plan.push.bias_dtype};
  const Tensor none;
  ctx.dispatch(kOp, up_shader,
               {in(input.values), in(w.up), in(w.up_bias), in(none), in(none), out(hidden.values), in(input.row_scale),
                in(row_norm), in(bound), out(hidden.row_scale)},
               up_plan.push, linear_grid(ceil_div(rows, tile->bm) * ceil_div(f, tile->bn)), up_spec);
  return tensor_core_product(ctx, kMlpOp, product_variant(ctx, kMlpOp, w.down), down_plan, w.down, down_args, hidden);
}

namespace {

ProductPlan plan_product(const Context& ctx, const Shape& x_shape, const Tensor& w, const MatmulArgs& args) {
  check_float(ctx, kOp, "w", w);
  check_rank(kOp, "w", w, 2);
  if (x_shape.empty()) fail(kOp, "x must have at least one axis, got " + shape_str(x_shape));
  const int64_t n = w.dim(0), k = w.dim(1);
  if (x_shape.back() != k) fail(kOp, "x " + shape_str(x_shape) + " and w " + w.describe() + " differ in K");
  check_index_range(kOp, w);
  const int64_t rows = shape_numel(x_shape) / std::max<int64_t>(k, 1), items = x_shape.size() >= 3 ? x_shape[0] : 1;
  Shape ys = x_shape;
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
                    "] or [" + std::to_string(n) + "] for x " + shape_str(x_shape));
  }
  if (uint64_t(shape_numel(ys)) > UINT32_MAX) fail(kOp, "output " + shape_str(ys) + " has more elements than 32-bit indices reach");
  const Push push{uint32_t(rows), uint32_t(n), uint32_t(k), uint32_t(items ? rows / items : 0), activation_code(args.act),
                  flags, args.bias.defined() ? shader_dtype(args.bias.dtype()) : 0u};
  return {ys, rows, n, k, push};
}

const WorkgroupConfig* workgroup_tile(const Context& ctx, std::string_view variant_op, const std::string& variant,
                                      int64_t k, bool& automatic) {
  automatic = variant == kCoopmatNv && ctx.variants().has(variant_op, coopmat_variant(kWorkgroup));
  const WorkgroupConfig* forced = workgroup_config(variant);
  return k % kPackAlign != 0 ? nullptr : forced ? forced : automatic ? &kWorkgroup : nullptr;
}

Tensor tensor_core_product(Context& ctx, std::string_view variant_op, const std::string& variant,
                           const ProductPlan& plan, const Tensor& w, const MatmulArgs& args, const PackedInput& packed) {
  const int64_t rows = plan.rows, n = plan.n, k = plan.k;
  const Push& push = plan.push;
  Tensor y = ctx.alloc(plan.ys, DType::F32);
  if (y.numel() == 0) return y;
  // The workgroup-scope tile where the device has it (automatic, or forced), else a subgroup tile; K not a
  // multiple of 8 always runs kAnyK.
  bool automatic_workgroup = false;
  const WorkgroupConfig* workgroup = workgroup_tile(ctx, variant_op, variant, k, automatic_workgroup);
  const CoopmatConfig* chosen = coopmat_config(variant);
  const CoopmatConfig& cfg = k % kPackAlign != 0 ? kAnyK : chosen ? *chosen : choose_coopmat_config(rows, n, k);
  const std::string shader =
      workgroup ? "matmul_" + coopmat_variant(*workgroup) + "_" + weight_suffix(w.dtype()) + "_k8"
                : "matmul_" + coopmat_variant(cfg) + "_" + weight_suffix(w.dtype()) + (k % kPackAlign == 0 ? "_k8" : "");
  const uint32_t tile_rows = workgroup ? workgroup->bm : cfg.bm, tile_cols = workgroup ? workgroup->bn : cfg.bn;
  // The epilogue's choices as specialization constants too (SPEC_* in matmul_coopmat_nv.comp): a pipeline
  // per combination the model uses, each without the code of the others.
  const std::array<uint32_t, 3> epilogue_spec{push.flags, push.act, push.bias_dtype};
  const int64_t tiles = ceil_div(rows, tile_rows) * ceil_div(n, tile_cols);
  const KSplit split =
      workgroup && automatic_workgroup ? choose_k_split(*workgroup, rows, n, packed.values.dim(-1)) : KSplit{};
  if (split.splits > 1) {
    Tensor partial = ctx.alloc({split.splits, rows, n}, DType::F32);
    check_index_range(kOp, partial);
    Push split_push = push;
    split_push.k_per_split = uint32_t(split.k_per_split);
    split_push.splits = uint32_t(split.splits);
    ctx.dispatch(kOp, shader + "_split_k",
                 {in(packed.values), in(w), in(args.bias), in(args.residual), in(args.gate), out(partial),
                  in(packed.row_scale)},
                 split_push, linear_grid(tiles * split.splits), epilogue_spec);
    ctx.dispatch(kOp, "matmul_split_k_reduce", {in(partial), in(args.bias), in(args.residual), in(args.gate), out(y)},
                 split_push, linear_grid(ceil_div(y.numel(), kSplitKReduceWorkgroup)));
    return y;
  }
  ctx.dispatch(kOp, shader,
               {in(packed.values), in(w), in(args.bias), in(args.residual), in(args.gate), out(y),
                in(packed.row_scale)},
               push, linear_grid(tiles), epilogue_spec);
  return y;
}

Tensor matmul_one(Context& ctx, std::string_view variant_op, const Tensor& x, const Tensor& w, const MatmulArgs& args,
                  std::optional<PackedInput>& packed) {
  check_f32(ctx, kOp, "x", x);
  check_index_range(kOp, x);
  const ProductPlan plan = plan_product(ctx, x.shape(), w, args);
  const std::string variant = product_variant(ctx, variant_op, w);
  if (variant.starts_with(kCoopmatNv) && !gemv_product(x, w)) {
    if (!packed && x.numel() > 0) packed = pack_input(ctx, x);
    return packed ? tensor_core_product(ctx, variant_op, variant, plan, w, args, *packed) : ctx.alloc(plan.ys, DType::F32);
  }
  Tensor y = ctx.alloc(plan.ys, DType::F32);
  if (y.numel() == 0) return y;
  const int64_t rows = plan.rows, n = plan.n;
  if (gemv_product(x, w)) {
    // Few rows: bandwidth-bound, fp32 arithmetic; the same kernel whatever the variant.
    ctx.dispatch(kOp, std::string("matmul_gemv_") + weight_suffix(w.dtype()),
                 {in(x), in(w), in(args.bias), in(args.residual), in(args.gate), out(y)}, plan.push,
                 linear_grid(ceil_div(n, kGemvColumns)));
    return y;
  }
  const std::string shader = "matmul_" + variant + "_" + weight_suffix(w.dtype());
  if (ceil_div(n, kTileCols) > kMaxGridDim || ceil_div(rows, kTileRows) > kMaxGridDim)
    fail(kOp, "output " + y.describe() + " needs more workgroups than one dispatch holds");
  const Grid grid{uint32_t(ceil_div(n, kTileCols)), uint32_t(ceil_div(rows, kTileRows)), 1};
  ctx.dispatch(kOp, shader, {in(x), in(w), in(args.bias), in(args.residual), in(args.gate), out(y)}, plan.push, grid);
  return y;
}

}  // namespace

}  // namespace qi::vk

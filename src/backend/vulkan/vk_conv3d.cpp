// conv3d: x [Cin, T, H, W] * w [Cout, Cin, kT, kH, kW] (+ bias) -> [Cout, T', H', W'], causal in time by
// default (2·pad_t zero frames in front, optionally replaced by a frame cache). Both variants run only the
// temporal taps that reach real frames.
//  "scalar": implicit GEMM in fp32 (conv3d_scalar_<weight format>), every device, every shape.
//  "coopmat_nv": implicit GEMM on NVIDIA tensor cores (fp16 operands, fp32 accumulation): conv3d_pack_*
//            re-lay x as scaled fp16 channels-last with the padding materialised and w as scaled fp16
//            [Cout, taps, Cin]; conv3d_coopmat_nv_<tile> runs the GEMM with matmul's tile machinery
//            (shaders/coopmat_gemm_tile.glsl). A tile configuration by Cout; "coopmat_nv_<tile>" forces one.
//            Needs Cin % 8 == 0 (16-byte chunks of 8 channels); other shapes run the scalar kernel. Weights
//            of any format (the model's conv weights are F32) are converted per call.
#include <algorithm>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr std::string_view kOp = "conv3d";
constexpr const char* kScalar = "scalar";
constexpr std::string_view kCoopmatNv = "coopmat_nv";
constexpr uint32_t kTileRows = 64, kTileCols = 64;  // BM (output channels) × BN (positions) in conv3d.comp

// Tile configurations of conv3d_coopmat_nv.comp (mirror QI_CONV3D_COOPMAT_CONFIGS in shaders/shaders.cmake);
// the layout rules of coopmat_gemm_tile.glsl: a workgroup of (bm/sg_m)·(bn/sg_n) subgroups of 32 threads,
// each thread fetching whole 16-byte chunks of both operands per slice.
constexpr uint32_t kSubgroup = 32, kChunkHalves = 8;
struct CoopmatConfig {
  const char* name;
  uint32_t bm, bn, bk, sg_m, sg_n, stages;
  constexpr uint32_t threads() const { return (bm / sg_m) * (bn / sg_n) * kSubgroup; }
  // The staged A and B slices (rows padded by one chunk) and a 16×16 fp32 epilogue patch per subgroup.
  constexpr uint32_t shared_bytes() const {
    return stages * (bm + bn) * (bk / kChunkHalves + 1) * 16 + threads() / kSubgroup * 16 * 16 * 4;
  }
  constexpr bool valid() const {
    const uint32_t chunks_per_row = bk / kChunkHalves;
    return threads() % chunks_per_row == 0 && bm * chunks_per_row % threads() == 0 &&
           bn * chunks_per_row % threads() == 0 && bn * chunks_per_row >= threads();
  }
};
// Measured on an H100 (bench kernels, VAE shapes at 1024², every tile forced): 128x128x64 (matmul's general
// configuration) leads where Cout is a multiple of 128 (384->384: 114-126 TFLOP/s against 105-120 for
// 128x96x64); 128x96x64 (8 subgroups of 32×48) where Cout is a multiple of 96 only, since 128-wide tiles
// leave a quarter of the tensor cores' columns empty there (192: 104 against 90; 96: 78 against 70);
// 128x32x32 fills more of its columns where Cout is small (conv_out: Cout 3). A 128x96x64 tile of 4
// subgroups of 64×48 needed 255 registers, spilled, and ran at 55-99.
constexpr CoopmatConfig kGeneral{"128x128x64", 128, 128, 64, 64, 32, 1};
constexpr CoopmatConfig kCout96{"128x96x64", 128, 96, 64, 32, 48, 1};
constexpr CoopmatConfig kNarrow{"128x32x32", 128, 32, 32, 32, 32, 2};
constexpr const CoopmatConfig* kConfigs[] = {&kGeneral, &kCout96, &kNarrow};
static_assert(kGeneral.valid() && kCout96.valid() && kNarrow.valid());
constexpr int64_t kNarrowMaxCout = 32;  // automatic choice: kNarrow up to this many output channels

// conv3d_pack.comp: PACK_MAX reduces kPackMaxValues values per workgroup; PACK_X transposes tiles of
// kPackTileW positions × kPackTileC channels; PACK_W writes one 16-byte chunk per thread of kPackWorkgroup.
constexpr uint32_t kPackWorkgroup = 256;
constexpr int64_t kPackMaxValues = 256 * 32;
constexpr int64_t kPackTileW = 64, kPackTileC = 32;
// The scales tensor: [0] max|x| (and cache), [1] max|w| as fp32 bits, [2], [3] their inverse scales.
constexpr uint32_t kSlotX = 0, kSlotW = 1, kScaleSlots = 4;

std::string shapes(const Tensor& x, const Tensor& w) { return "x " + x.describe() + ", w " + w.describe(); }

std::string coopmat_variant(const CoopmatConfig& c) { return std::string(kCoopmatNv) + "_" + c.name; }

// The coopmat_nv variant needs what matmul's does (VK_NV_cooperative_matrix 16×16×16 fp16 products into fp32,
// subgroups of 32, fp16, the memory model; register_variants registers matmul first, and its coopmat_nv is
// first where usable), subgroup arithmetic (conv3d_pack_max) and its own shaders.
bool coopmat_nv_usable(const Context& ctx) {
  const std::vector<std::string> matmul = ctx.variants().usable("matmul");
  if (matmul.empty() || matmul.front() != kCoopmatNv || !ctx.caps().subgroup_arithmetic) return false;
  for (const CoopmatConfig* cfg : kConfigs)
    if (cfg->shared_bytes() > ctx.caps().max_shared_memory ||
        !PipelineRegistry::has_shader("conv3d_" + coopmat_variant(*cfg)))
      return false;
  for (const char* format : {"f32", "f16", "bf16"})
    if (!PipelineRegistry::has_shader(std::string("conv3d_pack_max_") + format) ||
        !PipelineRegistry::has_shader(std::string("conv3d_pack_w_") + format))
      return false;
  return PipelineRegistry::has_shader("conv3d_pack_x");
}

// The shape of one convolution, as both kernels take it.
struct Geometry {
  int64_t cin, t, h, w;
  int64_t cout, kt, kh, kw;
  int64_t st, sh, sw;
  int64_t front, ph, pw;          // zero frames before frame 0 (the last cache_frames from the cache); padding
  int64_t t_out, h_out, w_out;
  int64_t kt_begin, kt_count;     // the temporal taps that can reach data
  int64_t cache_frames;
  int64_t positions() const { return t_out * h_out * w_out; }
};

void run_scalar(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& cache,
                const Geometry& g, const Tensor& y) {
  if (ceil_div(g.positions(), kTileCols) > kMaxGridDim || ceil_div(g.cout, kTileRows) > kMaxGridDim)
    fail(kOp, "output " + y.describe() + " needs more workgroups than one dispatch holds");
  struct {
    uint32_t cin, t_in, h_in, w_in;
    uint32_t cout, t_out, h_out, w_out;
    uint32_t kt, kh, kw;
    uint32_t st, sh, sw;
    uint32_t pad_front, ph, pw;
    uint32_t kt_begin, kt_count, cache_frames;
    uint32_t has_bias, bias_dtype;
  } push{uint32_t(g.cin), uint32_t(g.t), uint32_t(g.h), uint32_t(g.w), uint32_t(g.cout), uint32_t(g.t_out),
         uint32_t(g.h_out), uint32_t(g.w_out), uint32_t(g.kt), uint32_t(g.kh), uint32_t(g.kw), uint32_t(g.st),
         uint32_t(g.sh), uint32_t(g.sw), uint32_t(g.front), uint32_t(g.ph), uint32_t(g.pw), uint32_t(g.kt_begin),
         uint32_t(g.kt_count), uint32_t(g.cache_frames), bias.defined() ? 1u : 0u,
         bias.defined() ? shader_dtype(bias.dtype()) : 0u};
  ctx.dispatch(kOp, std::string("conv3d_scalar_") + weight_suffix(w.dtype()),
               {in(x), in(w), in(bias), in(cache), out(y)}, push,
               Grid{uint32_t(ceil_div(g.positions(), kTileCols)), uint32_t(ceil_div(g.cout, kTileRows)), 1});
}

void run_coopmat(Context& ctx, const CoopmatConfig& cfg, const Tensor& x, const Tensor& w, const Tensor& bias,
                 const Tensor& cache, const Geometry& g, const Tensor& y) {
  // xp: the padded frames from the first useful tap's on (frame f of xp is padded frame kt_begin + f).
  const int64_t frames = (g.t_out - 1) * g.st + g.kt_count;
  const int64_t h_padded = g.h + 2 * g.ph, w_padded = g.w + 2 * g.pw;
  const int64_t taps = g.kt_count * g.kh * g.kw, k = taps * g.cin, m = g.positions();
  Tensor xp = ctx.alloc({frames, h_padded, w_padded, g.cin}, DType::F16);
  Tensor wq = ctx.alloc({g.cout, taps, g.cin}, DType::F16);
  Tensor scales = ctx.alloc({kScaleSlots}, DType::F32);
  check_index_range(kOp, xp);
  check_index_range(kOp, wq);

  ctx.fill(scales, 0u, kOp);
  const auto largest_magnitude = [&](const Tensor& t, uint32_t slot) {
    if (t.numel() == 0) return;
    struct {
      uint32_t n, slot;
    } push{uint32_t(t.numel()), slot};
    ctx.dispatch(kOp, std::string("conv3d_pack_max_") + weight_suffix(t.dtype()), {in(t), inout(scales)}, push,
                 linear_grid(ceil_div(t.numel(), kPackMaxValues)));
  };
  largest_magnitude(x, kSlotX);
  if (cache.defined()) largest_magnitude(cache, kSlotX);
  largest_magnitude(w, kSlotW);

  struct {
    uint32_t cout, cin, kt, khw, kt_begin, kt_count;
  } w_push{uint32_t(g.cout), uint32_t(g.cin), uint32_t(g.kt), uint32_t(g.kh * g.kw), uint32_t(g.kt_begin),
           uint32_t(g.kt_count)};
  ctx.dispatch(kOp, std::string("conv3d_pack_w_") + weight_suffix(w.dtype()), {in(w), out(wq), inout(scales)},
               w_push, linear_grid(ceil_div(wq.numel() / kChunkHalves, kPackWorkgroup)));

  struct {
    uint32_t cin, t_in, h_in, w_in;
    uint32_t frames, hp, wp, ph, pw;
    int32_t frame_offset;
    uint32_t cache_frames;
  } x_push{uint32_t(g.cin), uint32_t(g.t), uint32_t(g.h), uint32_t(g.w), uint32_t(frames), uint32_t(h_padded),
           uint32_t(w_padded), uint32_t(g.ph), uint32_t(g.pw), int32_t(g.kt_begin - g.front),
           uint32_t(g.cache_frames)};
  ctx.dispatch(kOp, "conv3d_pack_x", {in(x), in(cache), out(xp), inout(scales)}, x_push,
               linear_grid(ceil_div(w_padded, kPackTileW) * ceil_div(g.cin, kPackTileC) * h_padded * frames));

  struct {
    uint32_t m, n, k;
    uint32_t cin, h_out, w_out;
    uint32_t st, sh, sw;
    uint32_t hp, wp;
    uint32_t kh, kw;
    uint32_t has_bias, bias_dtype;
  } push{uint32_t(m), uint32_t(g.cout), uint32_t(k), uint32_t(g.cin), uint32_t(g.h_out), uint32_t(g.w_out),
         uint32_t(g.st), uint32_t(g.sh), uint32_t(g.sw), uint32_t(h_padded), uint32_t(w_padded), uint32_t(g.kh),
         uint32_t(g.kw), bias.defined() ? 1u : 0u, bias.defined() ? shader_dtype(bias.dtype()) : 0u};
  ctx.dispatch(kOp, "conv3d_" + coopmat_variant(cfg), {in(xp), in(wq), in(bias), in(scales), out(y)}, push,
               linear_grid(ceil_div(m, cfg.bm) * ceil_div(g.cout, cfg.bn)));
}

// The coopmat configuration a variant runs for this shape, or nullptr for the scalar kernel.
const CoopmatConfig* coopmat_config(std::string_view variant, const Geometry& g) {
  if (!variant.starts_with(kCoopmatNv) || g.cin % kChunkHalves != 0 || g.kt_count == 0) return nullptr;
  for (const CoopmatConfig* c : kConfigs)
    if (variant == coopmat_variant(*c)) return c;
  if (g.cout <= kNarrowMaxCout) return &kNarrow;
  // The tile width that pads Cout least (a tie goes to the 128-wide tile).
  const auto padded = [&](const CoopmatConfig& c) { return ceil_div(g.cout, c.bn) * c.bn; };
  return padded(kCout96) < padded(kGeneral) ? &kCout96 : &kGeneral;
}

}  // namespace

void register_conv3d_variants(Context& ctx) {
  // coopmat_nv (a tile configuration by Cout) is the automatic choice where usable; each configuration is
  // also a variant of its own, for benchmarks and tests.
  std::vector<std::string> usable;
  if (coopmat_nv_usable(ctx)) {
    usable.emplace_back(kCoopmatNv);
    for (const CoopmatConfig* c : kConfigs) usable.push_back(coopmat_variant(*c));
  }
  usable.push_back(kScalar);
  ctx.variants().add(std::string(kOp), usable);
}

Tensor conv3d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args) {
  check_f32(ctx, kOp, "x", x);
  check_rank(kOp, "x", x, 4);
  check_float(ctx, kOp, "w", w);
  check_rank(kOp, "w", w, 5);
  check_index_range(kOp, x);
  check_index_range(kOp, w);
  Geometry g{};
  g.cin = x.dim(0);
  g.t = x.dim(1);
  g.h = x.dim(2);
  g.w = x.dim(3);
  g.cout = w.dim(0);
  g.kt = w.dim(2);
  g.kh = w.dim(3);
  g.kw = w.dim(4);
  if (w.dim(1) != g.cin) fail(kOp, "input channels differ: " + shapes(x, w));
  for (int i = 0; i < 3; ++i) {
    if (args.stride[i] < 1) fail(kOp, "strides must be >= 1 for " + shapes(x, w));
    if (args.pad[i] < 0) fail(kOp, "padding must be >= 0 for " + shapes(x, w));
  }
  g.st = args.stride[0];
  g.sh = args.stride[1];
  g.sw = args.stride[2];
  const int64_t pad_t = args.pad[0];
  g.ph = args.pad[1];
  g.pw = args.pad[2];
  g.front = args.causal ? 2 * pad_t : pad_t;  // zero frames before frame 0
  if (args.cache.defined()) {
    if (!args.causal) fail(kOp, "a frame cache needs causal padding");
    check_f32(ctx, kOp, "cache", args.cache);
    const Tensor& c = args.cache;
    if (c.rank() != 4 || c.dim(0) != g.cin || c.dim(1) > g.front || c.dim(2) != g.h || c.dim(3) != g.w)
      fail(kOp, "cache must be [" + std::to_string(g.cin) + ", Tc <= " + std::to_string(g.front) + ", " +
                    std::to_string(g.h) + ", " + std::to_string(g.w) + "], got " + c.describe());
    g.cache_frames = c.dim(1);
  }
  if (bias.defined()) {
    check_float(ctx, kOp, "bias", bias);
    if (bias.shape() != Shape{g.cout})
      fail(kOp, "bias must be [" + std::to_string(g.cout) + "], got " + bias.describe() + " for " + shapes(x, w));
  }
  const int64_t t_padded = g.t + 2 * pad_t, h_padded = g.h + 2 * g.ph, w_padded = g.w + 2 * g.pw;
  if (g.kt > t_padded || g.kh > h_padded || g.kw > w_padded)
    fail(kOp, "kernel larger than the padded input: " + shapes(x, w));
  g.t_out = (t_padded - g.kt) / g.st + 1;
  g.h_out = (h_padded - g.kh) / g.sh + 1;
  g.w_out = (w_padded - g.kw) / g.sw + 1;
  Tensor y = ctx.alloc({g.cout, g.t_out, g.h_out, g.w_out}, DType::F32);
  check_index_range(kOp, y);
  if (y.numel() == 0) return y;

  // Temporal taps that can read a non-zero frame for some output frame: padded frames
  // [front − cache_frames, front + T) hold data, and output frame o reads padded frames o·st + kt.
  const int64_t first_data = g.front - g.cache_frames, end_data = g.front + g.t;
  g.kt_begin = std::clamp<int64_t>(first_data - (g.t_out - 1) * g.st, 0, g.kt);
  g.kt_count = std::clamp<int64_t>(end_data, g.kt_begin, g.kt) - g.kt_begin;

  if (const CoopmatConfig* cfg = coopmat_config(ctx.variants().selected(kOp), g))
    run_coopmat(ctx, *cfg, x, w, bias, args.cache, g, y);
  else
    run_scalar(ctx, x, w, bias, args.cache, g, y);
  return y;
}

}  // namespace qi::vk

// conv3d: x [Cin, T, H, W] * w [Cout, Cin, kT, kH, kW] (+ bias) -> [Cout, T', H', W'], causal in time by
// default (2·pad_t zero frames in front, optionally replaced by a frame cache). Variant "scalar": implicit
// GEMM in fp32 (conv3d_scalar_<weight format>), running only the temporal taps that reach real frames.
#include <algorithm>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr std::string_view kOp = "conv3d";
constexpr const char* kScalar = "scalar";
constexpr uint32_t kTileRows = 64, kTileCols = 64;  // BM (output channels) × BN (positions) in conv3d.comp

std::string shapes(const Tensor& x, const Tensor& w) { return "x " + x.describe() + ", w " + w.describe(); }

}  // namespace

void register_conv3d_variants(Context& ctx) { ctx.variants().add(std::string(kOp), {kScalar}); }

Tensor conv3d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args) {
  check_f32(ctx, kOp, "x", x);
  check_rank(kOp, "x", x, 4);
  check_float(ctx, kOp, "w", w);
  check_rank(kOp, "w", w, 5);
  check_index_range(kOp, x);
  check_index_range(kOp, w);
  const int64_t cin = x.dim(0), t = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t cout = w.dim(0), kt = w.dim(2), kh = w.dim(3), kw = w.dim(4);
  if (w.dim(1) != cin) fail(kOp, "input channels differ: " + shapes(x, w));
  for (int i = 0; i < 3; ++i) {
    if (args.stride[i] < 1) fail(kOp, "strides must be >= 1 for " + shapes(x, w));
    if (args.pad[i] < 0) fail(kOp, "padding must be >= 0 for " + shapes(x, w));
  }
  const int64_t pad_t = args.pad[0], ph = args.pad[1], pw = args.pad[2];
  const int64_t front = args.causal ? 2 * pad_t : pad_t;  // zero frames before frame 0
  int64_t cache_frames = 0;
  if (args.cache.defined()) {
    if (!args.causal) fail(kOp, "a frame cache needs causal padding");
    check_f32(ctx, kOp, "cache", args.cache);
    const Tensor& c = args.cache;
    if (c.rank() != 4 || c.dim(0) != cin || c.dim(1) > front || c.dim(2) != h || c.dim(3) != wd)
      fail(kOp, "cache must be [" + std::to_string(cin) + ", Tc <= " + std::to_string(front) + ", " +
                    std::to_string(h) + ", " + std::to_string(wd) + "], got " + c.describe());
    cache_frames = c.dim(1);
  }
  if (bias.defined()) {
    check_float(ctx, kOp, "bias", bias);
    if (bias.shape() != Shape{cout})
      fail(kOp, "bias must be [" + std::to_string(cout) + "], got " + bias.describe() + " for " + shapes(x, w));
  }
  const int64_t t_padded = t + 2 * pad_t, h_padded = h + 2 * ph, w_padded = wd + 2 * pw;
  if (kt > t_padded || kh > h_padded || kw > w_padded) fail(kOp, "kernel larger than the padded input: " + shapes(x, w));
  const int64_t t_out = (t_padded - kt) / args.stride[0] + 1;
  const int64_t h_out = (h_padded - kh) / args.stride[1] + 1;
  const int64_t w_out = (w_padded - kw) / args.stride[2] + 1;
  Tensor y = ctx.alloc({cout, t_out, h_out, w_out}, DType::F32);
  check_index_range(kOp, y);
  if (y.numel() == 0) return y;

  // Temporal taps that can read a non-zero frame for some output frame: padded frames
  // [front − cache_frames, front + T) hold data, and output frame o reads padded frames o·st + kt.
  const int64_t first_data = front - cache_frames, end_data = front + t;
  const int64_t kt_begin = std::clamp<int64_t>(first_data - (t_out - 1) * args.stride[0], 0, kt);
  const int64_t kt_end = std::clamp<int64_t>(end_data, kt_begin, kt);

  const int64_t positions = t_out * h_out * w_out;
  if (ceil_div(positions, kTileCols) > kMaxGridDim || ceil_div(cout, kTileRows) > kMaxGridDim)
    fail(kOp, "output " + y.describe() + " needs more workgroups than one dispatch holds");
  struct {
    uint32_t cin, t_in, h_in, w_in;
    uint32_t cout, t_out, h_out, w_out;
    uint32_t kt, kh, kw;
    uint32_t st, sh, sw;
    uint32_t pad_front, ph, pw;
    uint32_t kt_begin, kt_count, cache_frames;
    uint32_t has_bias, bias_dtype;
  } push{uint32_t(cin), uint32_t(t), uint32_t(h), uint32_t(wd), uint32_t(cout), uint32_t(t_out), uint32_t(h_out),
         uint32_t(w_out), uint32_t(kt), uint32_t(kh), uint32_t(kw), uint32_t(args.stride[0]),
         uint32_t(args.stride[1]), uint32_t(args.stride[2]), uint32_t(front), uint32_t(ph), uint32_t(pw),
         uint32_t(kt_begin), uint32_t(kt_end - kt_begin), uint32_t(cache_frames), bias.defined() ? 1u : 0u,
         bias.defined() ? shader_dtype(bias.dtype()) : 0u};
  const std::string shader = std::string("conv3d_") + ctx.variants().selected(kOp) + "_" + weight_suffix(w.dtype());
  ctx.dispatch(kOp, shader, {in(x), in(w), in(bias), in(args.cache), out(y)}, push,
               Grid{uint32_t(ceil_div(positions, kTileCols)), uint32_t(ceil_div(cout, kTileRows)), 1});
  return y;
}

}  // namespace qi::vk

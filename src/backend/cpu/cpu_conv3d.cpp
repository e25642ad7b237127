// conv3d: channel-first 3-D convolution with causal (or symmetric) time padding and an optional frame cache,
// as im2col on chunks of output pixels followed by the blocked GEMM: y[Cout, P] = W[Cout, taps] · col[taps, P].
// Temporal taps that only ever read padding zeros are skipped (for one frame and kernel 3 with causal
// padding that is two taps out of three, spec §4.1).
#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr std::string_view kOp = "conv3d";
constexpr int64_t kMaxPixelsPerChunk = 256;  // output pixels per im2col chunk: col stays a few MiB
constexpr int64_t kMinPixelsPerChunk = 32;   // below this the GEMM's panel packing dominates
constexpr int64_t kTasksPerThread = 2;

struct Geometry {
  int64_t cin, t, h, w;          // input
  int64_t cout, kt, kh, kw;      // kernel
  int64_t st, sh, sw, ph, pw;    // stride, spatial padding
  int64_t front, back;           // temporal zero padding
  int64_t cache_frames;          // frames of the cache replacing the last front zeros
  int64_t to, ho, wo;            // output
};

// The frame read at padded time index tp: a [Cin, ·] plane set of x or of the cache, or null for padding.
struct FrameSource {
  const float* base = nullptr;  // channel 0 of the frame
  int64_t channel_stride = 0;
};

FrameSource frame_at(const Geometry& g, int64_t tp, const float* x, const float* cache) {
  const int64_t plane = g.h * g.w;
  if (tp >= g.front && tp < g.front + g.t) return {x + (tp - g.front) * plane, g.t * plane};
  const int64_t cache_start = g.front - g.cache_frames;
  if (tp >= cache_start && tp < g.front) return {cache + (tp - cache_start) * plane, g.cache_frames * plane};
  return {};
}

// Fills col[row, p] for rows (kt, ci, kh, kw), kt in [kt0, kt1), and output pixels [p0, p0 + count) of frame
// `out_t`.
void im2col(const Geometry& g, int64_t out_t, int64_t kt0, int64_t kt1, int64_t p0, int64_t count, const float* x,
            const float* cache, float* col) {
  int64_t row = 0;
  for (int64_t kt = kt0; kt < kt1; ++kt) {
    FrameSource src = frame_at(g, out_t * g.st + kt, x, cache);
    for (int64_t ci = 0; ci < g.cin; ++ci) {
      const float* plane = src.base + ci * src.channel_stride;
      for (int64_t kh = 0; kh < g.kh; ++kh) {
        for (int64_t kw = 0; kw < g.kw; ++kw, ++row) {
          float* dst = col + row * count;
          int64_t oh = p0 / g.wo, ow = p0 % g.wo;
          for (int64_t p = 0; p < count; ++p) {
            const int64_t ih = oh * g.sh - g.ph + kh, iw = ow * g.sw - g.pw + kw;
            dst[p] = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) ? plane[ih * g.w + iw] : 0.0f;
            if (++ow == g.wo) {
              ow = 0;
              ++oh;
            }
          }
        }
      }
    }
  }
}

std::string shapes(const Tensor& x, const Tensor& w) { return "x " + x.describe() + ", w " + w.describe(); }

}  // namespace

Tensor conv3d(const CpuContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args) {
  check_f32(ctx, kOp, "x", x);
  check_rank(kOp, "x", x, 4);
  check_float(ctx, kOp, "w", w);
  check_rank(kOp, "w", w, 5);
  Geometry g{};
  g.cin = x.dim(0), g.t = x.dim(1), g.h = x.dim(2), g.w = x.dim(3);
  g.cout = w.dim(0), g.kt = w.dim(2), g.kh = w.dim(3), g.kw = w.dim(4);
  if (w.dim(1) != g.cin) fail(kOp, "input channels differ: " + shapes(x, w));
  for (int i = 0; i < 3; ++i) {
    if (args.stride[i] < 1) fail(kOp, "strides must be >= 1 for " + shapes(x, w));
    if (args.pad[i] < 0) fail(kOp, "padding must be >= 0 for " + shapes(x, w));
  }
  g.st = args.stride[0], g.sh = args.stride[1], g.sw = args.stride[2];
  const int64_t pt = args.pad[0];
  g.ph = args.pad[1], g.pw = args.pad[2];
  g.front = args.causal ? 2 * pt : pt;
  g.back = args.causal ? 0 : pt;
  const float* cache = nullptr;
  if (args.cache.defined()) {
    if (!args.causal) fail(kOp, "a frame cache needs causal padding");
    check_f32(ctx, kOp, "cache", args.cache);
    const Tensor& c = args.cache;
    if (c.rank() != 4 || c.dim(0) != g.cin || c.dim(2) != g.h || c.dim(3) != g.w || c.dim(1) > g.front)
      fail(kOp, "cache must be [" + std::to_string(g.cin) + ", Tc <= " + std::to_string(g.front) + ", " +
                    std::to_string(g.h) + ", " + std::to_string(g.w) + "], got " + c.describe());
    g.cache_frames = c.dim(1);
    cache = f32_data(c);
  }
  std::vector<float> b;
  if (bias.defined()) {
    check_float(ctx, kOp, "bias", bias);
    if (bias.rank() != 1 || bias.dim(0) != g.cout)
      fail(kOp, "bias must be [" + std::to_string(g.cout) + "], got " + bias.describe() + " for " + shapes(x, w));
    b = read_f32(bias);
  }
  const int64_t padded_t = g.t + g.front + g.back, padded_h = g.h + 2 * g.ph, padded_w = g.w + 2 * g.pw;
  if (padded_t < g.kt || padded_h < g.kh || padded_w < g.kw || g.kt < 1 || g.kh < 1 || g.kw < 1)
    fail(kOp, "kernel larger than the padded input: " + shapes(x, w));
  g.to = (padded_t - g.kt) / g.st + 1;
  g.ho = (padded_h - g.kh) / g.sh + 1;
  g.wo = (padded_w - g.kw) / g.sw + 1;

  // Weights as fp32 [Cout][kT][Cin·kH·kW], so that the taps of a contiguous range of kt are contiguous.
  const int64_t taps_per_frame = g.cin * g.kh * g.kw;
  const int64_t row_len = g.kt * taps_per_frame;
  std::vector<float> weights(size_t(g.cout * row_len));
  {
    const std::vector<float> raw = read_f32(w);  // [Cout][Cin][kT][kH·kW]
    const int64_t spatial = g.kh * g.kw;
    for (int64_t co = 0; co < g.cout; ++co)
      for (int64_t ci = 0; ci < g.cin; ++ci)
        for (int64_t kt = 0; kt < g.kt; ++kt)
          std::copy_n(raw.begin() + ((co * g.cin + ci) * g.kt + kt) * spatial, spatial,
                      weights.begin() + co * row_len + kt * taps_per_frame + ci * spatial);
  }

  Tensor y = ctx.alloc({g.cout, g.to, g.ho, g.wo}, DType::F32);
  const float* xd = f32_data(x);
  float* yd = f32_data(y);
  const int64_t out_pixels = g.ho * g.wo;
  const int64_t out_stride = g.to * out_pixels;  // between output channels
  // Frames that hold data (cache or x) are the padded indices [data_begin, data_end).
  const int64_t data_begin = g.front - g.cache_frames, data_end = g.front + g.t;

  const int64_t wanted_tasks = int64_t(ctx.pool.threads()) * kTasksPerThread;
  const int64_t chunk = std::clamp<int64_t>((g.to * out_pixels + wanted_tasks - 1) / wanted_tasks,
                                            kMinPixelsPerChunk, kMaxPixelsPerChunk);
  const int64_t chunks = (out_pixels + chunk - 1) / chunk;
  ctx.pool.parallel_for(g.to * chunks, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> col;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t ot = task / chunks;
      const int64_t p0 = (task % chunks) * chunk;
      const int64_t count = std::min(chunk, out_pixels - p0);
      float* out = yd + ot * out_pixels + p0;
      const int64_t kt0 = std::clamp<int64_t>(data_begin - ot * g.st, 0, g.kt);
      const int64_t kt1 = std::clamp<int64_t>(data_end - ot * g.st, kt0, g.kt);
      const int64_t depth = (kt1 - kt0) * taps_per_frame;
      if (depth > 0) {
        col.resize(size_t(depth * count));
        im2col(g, ot, kt0, kt1, p0, count, xd, cache, col.data());
        gemm(g.cout, count, depth, weights.data() + kt0 * taps_per_frame, row_len,
             RhsMatrix{col.data(), DType::F32, count, RhsLayout::KN}, out, out_stride, nullptr);
      }
      for (int64_t co = 0; co < g.cout; ++co) {
        float* row = out + co * out_stride;
        const float bias_value = b.empty() ? 0.0f : b[size_t(co)];
        if (depth == 0)
          std::fill(row, row + count, bias_value);
        else if (!b.empty())
          for (int64_t p = 0; p < count; ++p) row[p] += bias_value;
      }
    }
  });
  return y;
}

}  // namespace qi::cpu

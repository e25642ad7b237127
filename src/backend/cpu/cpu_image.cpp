// to_rgb8: the decoded image [3, H, W] in [-1, 1] to interleaved 8-bit RGB, rounding half to even like numpy
// (spec §2.8). NaN inputs become 0.
#include <cmath>
#include <string>

#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr int64_t kRgbChannels = 3;
constexpr float kU8Max = 255.0f;
constexpr int64_t kPixelsPerTask = 4096;

float clamp_nan_to_low(float v, float lo, float hi) {
  // Written so that NaN takes the low bound.
  return v > lo ? (v < hi ? v : hi) : lo;
}

}  // namespace

Tensor to_rgb8(const CpuContext& ctx, const Tensor& x) {
  constexpr std::string_view op = "to_rgb8";
  check_f32(ctx, op, "x", x);
  if (x.rank() != 3 || x.dim(0) != kRgbChannels) fail(op, "x must be [3, H, W], got " + x.describe());
  const int64_t h = x.dim(1), w = x.dim(2), pixels = h * w;
  Tensor y = ctx.alloc({h, w, kRgbChannels}, DType::U8);
  const float* in = f32_data(x);
  auto* out = static_cast<uint8_t*>(raw_data(y));
  ctx.pool.parallel_for(pixels, kPixelsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p)
      for (int64_t c = 0; c < kRgbChannels; ++c) {
        float v = clamp_nan_to_low(in[c * pixels + p], -1.0f, 1.0f) * 0.5f + 0.5f;
        v = clamp_nan_to_low(v, 0.0f, 1.0f) * kU8Max;
        out[p * kRgbChannels + c] = uint8_t(std::nearbyint(v));  // default rounding mode: half to even
      }
  });
  return y;
}

}  // namespace qi::cpu

// rope: rotates each pair of a head vector by the (cos θ, sin θ) of its position. Interleaved pairs
// (2k, 2k+1) for the MMDiT (spec §3.4), half-split pairs (k, k + D/2) for the text encoder (spec §5.3).
// rms_norm_rope: the same rotation of each head vector after its RMS norm, in one pass per vector.
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr int64_t kTokensPerTask = 16;

// Checks x [B, S, H, D] and table [S, D/2, 2] for `op`, then rotates every head vector of x into a fresh
// tensor. prepare(xv, scratch) gives the D values to rotate for head vector xv: xv itself, or scratch (D
// floats of the calling task) filled from it.
template <class Prepare>
Tensor rotate_heads(const CpuContext& ctx, std::string_view op, const Tensor& x, const Tensor& table, RopeStyle style,
                    Prepare prepare) {
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "table", table);
  check_rank(op, "x", x, 4);
  const int64_t batch = x.dim(0), seq = x.dim(1), heads = x.dim(2), d = x.dim(3);
  if (d % 2 != 0) fail(op, "head dim must be even, got x " + x.describe());
  const int64_t pairs = d / 2;
  if (table.shape() != Shape{seq, pairs, 2})
    fail(op, "table must be [" + std::to_string(seq) + ", " + std::to_string(pairs) + ", 2], got " +
                 table.describe() + " for x " + x.describe());
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* in = f32_data(x);
  const float* tab = f32_data(table);
  float* out = f32_data(y);
  // Pair k is (2k, 2k + 1) interleaved, (k, k + D/2) half-split; table[s, k] = (cos θ, sin θ).
  const bool interleaved = style == RopeStyle::Interleaved;
  ctx.pool.parallel_for(batch * seq, kTokensPerTask, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(d));
    for (int64_t token = begin; token < end; ++token) {
      const float* angles = tab + (token % seq) * pairs * 2;
      for (int64_t h = 0; h < heads; ++h) {
        const float* xv = prepare(in + (token * heads + h) * d, scratch.data());
        float* yv = out + (token * heads + h) * d;
        for (int64_t k = 0; k < pairs; ++k) {
          const int64_t first = interleaved ? 2 * k : k;
          const int64_t second = interleaved ? 2 * k + 1 : k + pairs;
          const float cos_t = angles[2 * k], sin_t = angles[2 * k + 1];
          const float a = xv[first], b = xv[second];
          yv[first] = a * cos_t - b * sin_t;
          yv[second] = a * sin_t + b * cos_t;
        }
      }
    }
  });
  return y;
}

}  // namespace

Tensor rope(const CpuContext& ctx, const Tensor& x, const Tensor& table, RopeStyle style) {
  return rotate_heads(ctx, "rope", x, table, style, [](const float* xv, float*) { return xv; });
}

Tensor rms_norm_rope(const CpuContext& ctx, const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                     RopeStyle style) {
  constexpr std::string_view op = "rms_norm_rope";
  check_f32(ctx, op, "x", x);
  check_rank(op, "x", x, 4);
  const int64_t d = x.dim(3);
  const std::vector<float> w = rms_norm_weight(ctx, op, x, weight);
  // The normalised vector is rounded to fp32 before the rotation, as rope(rms_norm(x)) rounds it.
  return rotate_heads(ctx, op, x, table, style, [&](const float* xv, float* scratch) {
    rms_normalise(xv, d, eps, w, scratch);
    return static_cast<const float*>(scratch);
  });
}

}  // namespace qi::cpu

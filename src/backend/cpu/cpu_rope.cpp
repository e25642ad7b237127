// rope: rotates each pair of a head vector by the (cos θ, sin θ) of its position. Interleaved pairs
// (2k, 2k+1) for the MMDiT (spec §3.4), half-split pairs (k, k + D/2) for the text encoder (spec §5.3).
#include <string>

#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr std::string_view kOp = "rope";
constexpr int64_t kTokensPerTask = 16;

}  // namespace

Tensor rope(const CpuContext& ctx, const Tensor& x, const Tensor& table, RopeStyle style) {
  check_f32(ctx, kOp, "x", x);
  check_f32(ctx, kOp, "table", table);
  check_rank(kOp, "x", x, 4);
  const int64_t batch = x.dim(0), seq = x.dim(1), heads = x.dim(2), d = x.dim(3);
  if (d % 2 != 0) fail(kOp, "head dim must be even, got x " + x.describe());
  const int64_t pairs = d / 2;
  if (table.shape() != Shape{seq, pairs, 2})
    fail(kOp, "table must be [" + std::to_string(seq) + ", " + std::to_string(pairs) + ", 2], got " +
                  table.describe() + " for x " + x.describe());
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* in = f32_data(x);
  const float* tab = f32_data(table);
  float* out = f32_data(y);
  // Pair k is (2k, 2k + 1) interleaved, (k, k + D/2) half-split; table[s, k] = (cos θ, sin θ).
  const bool interleaved = style == RopeStyle::Interleaved;
  ctx.pool.parallel_for(batch * seq, kTokensPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t token = begin; token < end; ++token) {
      const float* angles = tab + (token % seq) * pairs * 2;
      for (int64_t h = 0; h < heads; ++h) {
        const float* xv = in + (token * heads + h) * d;
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

}  // namespace qi::cpu

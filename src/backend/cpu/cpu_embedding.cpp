// timestep_embedding: the sinusoidal features of diffusers' Timesteps (flip_sin_to_cos=True, shift 0), with the
// frequencies and angles rounded through fp32 in the order diffusers computes them (spec §3.2).
#include <cmath>
#include <string>

#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {

Tensor timestep_embedding(const CpuContext& ctx, const Tensor& t, int dim, float scale, float max_period) {
  constexpr std::string_view op = "timestep_embedding";
  check_f32(ctx, op, "t", t);
  check_rank(op, "t", t, 1);
  if (dim <= 0 || dim % 2 != 0) fail(op, "dim must be positive and even, got " + std::to_string(dim));
  if (!(max_period > 0.0f)) fail(op, "max_period must be positive, got " + std::to_string(max_period));
  const int64_t batch = t.dim(0), half = dim / 2;
  Tensor y = ctx.alloc({batch, int64_t(dim)}, DType::F32);
  const float* td = f32_data(t);
  float* out = f32_data(y);
  // exponent = −ln(max_period)·k (fp32) / half (fp32); freq = exp(exponent) (fp32).
  const float neg_log_period = float(-std::log(double(max_period)));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t k = 0; k < half; ++k) {
      const float exponent = neg_log_period * float(k) / float(half);
      const float freq = std::exp(exponent);
      const float angle = scale * (td[b] * freq);
      out[b * dim + k] = float(std::cos(double(angle)));
      out[b * dim + half + k] = float(std::sin(double(angle)));
    }
  }
  return y;
}

}  // namespace qi::cpu

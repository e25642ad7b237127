// Sinusoidal timestep features (diffusers Timesteps, flip_sin_to_cos=True, shift 0).
#include <cmath>
#include <vector>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {

Tensor timestep_embedding(Context& ctx, const Tensor& t, int dim, float scale, float max_period) {
  constexpr std::string_view op = "timestep_embedding";
  constexpr uint32_t kWorkgroup = 256;
  check_f32(ctx, op, "t", t);
  check_rank(op, "t", t, 1);
  if (dim <= 0 || dim % 2 != 0) fail(op, "dim must be positive and even, got " + std::to_string(dim));
  if (!(max_period > 0.0f)) fail(op, "max_period must be positive, got " + std::to_string(max_period));
  const int64_t batch = t.dim(0), half = dim / 2;
  // The frequencies in fp32 exactly as the reference computes them: exp(−ln(max_period)·k / half). A GPU exp
  // may be a few ulp off, which angles of 1000 rad would amplify.
  std::vector<float> freq(static_cast<size_t>(half));
  const float neg_log_period = float(-std::log(double(max_period)));
  for (int64_t k = 0; k < half; ++k) freq[size_t(k)] = std::exp(neg_log_period * float(k) / float(half));
  Tensor freq_t = ctx.alloc({half}, DType::F32, Arena::Activations, /*poison=*/false);
  ctx.upload(freq_t, freq.data(), freq_t.bytes());
  Tensor y = ctx.alloc({batch, int64_t(dim)}, DType::F32);
  check_index_range(op, y);
  struct {
    uint32_t n, half_dim;
    float scale;
  } push{uint32_t(y.numel()), uint32_t(half), scale};
  ctx.dispatch(op, "timestep_embedding", {in(t), in(freq_t), out(y)}, push,
               linear_grid(ceil_div(y.numel(), kWorkgroup)));
  return y;
}

}  // namespace qi::vk

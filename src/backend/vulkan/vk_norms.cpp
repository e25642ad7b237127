// Normalisations: rms_norm over the last axis, layer_norm_modulate (adaLN), channel_rms_norm (VAE, axis 0).
#include <array>
#include <cstdint>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {
// Most values a thread of layer_norm_modulate holds in registers: rows of up to 32 · 256 = 8192 values (the
// transformer's 3072) are read once instead of three times.
constexpr int64_t kLayerNormHeldMax = 32;
}  // namespace

Tensor rms_norm(Context& ctx, const Tensor& x, const Tensor& weight, float eps) {
  constexpr std::string_view op = "rms_norm";
  check_f32(ctx, op, "x", x);
  if (x.rank() < 1) fail(op, "x must have at least one axis, got " + x.describe());
  check_index_range(op, x);
  const int64_t c = x.dim(-1), rows = x.rows();
  check_row_weight(ctx, op, weight, c);
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  if (x.numel() == 0) return y;
  const uint32_t seg = threads_per_row(c);
  struct {
    uint32_t rows, c, seg;
    float eps;
    uint32_t has_weight, w_dtype;
  } push{uint32_t(rows), uint32_t(c), seg, eps, weight.defined() ? 1u : 0u,
         weight.defined() ? shader_dtype(weight.dtype()) : 0u};
  ctx.dispatch(op, row_reduce_shader(ctx, "rms_norm"), {in(x), in(weight), out(y)}, push,
               linear_grid(ceil_div(rows, kRowReduceWorkgroup / seg)));
  return y;
}

Tensor layer_norm_modulate(Context& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale, float eps) {
  constexpr std::string_view op = "layer_norm_modulate";
  const int64_t items = modulation_items(ctx, op, x, shift, scale);
  const int64_t c = x.dim(-1), rows = x.rows();
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  if (x.numel() == 0) return y;
  const uint32_t seg = threads_per_row(c);
  struct {
    uint32_t rows, c, seg;
    float eps;
    uint32_t rows_per_item;
  } push{uint32_t(rows), uint32_t(c), seg, eps, uint32_t(rows / items)};
  // Values each thread holds (HELD in layer_norm_modulate.comp), or 0: three reads of x.
  const std::array<uint32_t, 1> spec{held_per_thread(c, seg, kLayerNormHeldMax)};
  ctx.dispatch(op, row_reduce_shader(ctx, "layer_norm_modulate"), {in(x), in(shift), in(scale), out(y)}, push,
               linear_grid(ceil_div(rows, kRowReduceWorkgroup / seg)), spec);
  return y;
}

Tensor channel_rms_norm(Context& ctx, const Tensor& x, const Tensor& gamma) {
  constexpr std::string_view op = "channel_rms_norm";
  constexpr uint32_t kWorkgroup = 256;
  check_f32(ctx, op, "x", x);
  check_float(ctx, op, "gamma", gamma);
  if (x.rank() < 1) fail(op, "x must have a channel axis, got " + x.describe());
  check_index_range(op, x);
  const int64_t channels = x.dim(0), positions = channels ? x.numel() / channels : 0;
  if (gamma.numel() != channels)
    fail(op, "gamma " + gamma.describe() + " must hold " + std::to_string(channels) + " values for x " + x.describe());
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  if (x.numel() == 0) return y;
  struct {
    uint32_t c, positions, gamma_dtype;
  } push{uint32_t(channels), uint32_t(positions), shader_dtype(gamma.dtype())};
  ctx.dispatch(op, "channel_rms_norm", {in(x), in(gamma), out(y)}, push, linear_grid(ceil_div(positions, kWorkgroup)));
  return y;
}

}  // namespace qi::vk

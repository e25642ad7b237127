// Rotary position embedding from a precomputed (cos, sin) table, interleaved or half-split pairs; and the
// fused per-head RMS norm + rotary embedding (rms_norm_rope).
#include <array>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

// Most rotation pairs a thread of rms_norm_rope holds in registers: head vectors of up to 2 · 16 · 256 = 8192
// values (the transformer's 128) are read once instead of twice.
constexpr int64_t kNormRopeHeldPairsMax = 16;

// The checks rope and rms_norm_rope share: x [B, S, H, D] F32 with D even, table [S, D/2, 2] F32.
void check_rope_args(const Context& ctx, std::string_view op, const Tensor& x, const Tensor& table) {
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "table", table);
  check_rank(op, "x", x, 4);
  check_index_range(op, x);
  const int64_t s = x.dim(1), d = x.dim(3);
  if (d % 2 != 0) fail(op, "head dim must be even, got " + x.describe());
  if (table.shape() != Shape{s, d / 2, 2})
    fail(op, "table " + table.describe() + " must be [" + std::to_string(s) + ", " + std::to_string(d / 2) +
                 ", 2] for x " + x.describe());
}

// The push-constant code of a style (STYLE_INTERLEAVED in rope.comp and rms_norm_rope.comp).
uint32_t shader_style(RopeStyle style) { return style == RopeStyle::Interleaved ? 0u : 1u; }

}  // namespace

Tensor rope(Context& ctx, const Tensor& x, const Tensor& table, RopeStyle style) {
  constexpr std::string_view op = "rope";
  constexpr uint32_t kWorkgroup = 256;
  check_rope_args(ctx, op, x, table);
  const int64_t s = x.dim(1), h = x.dim(2), d = x.dim(3);
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const int64_t pairs = x.numel() / 2;
  struct {
    uint32_t pairs, s, h, half_d, style;
  } push{uint32_t(pairs), uint32_t(s), uint32_t(h), uint32_t(d / 2), shader_style(style)};
  ctx.dispatch(op, "rope", {in(x), in(table), out(y)}, push, linear_grid(ceil_div(pairs, kWorkgroup)));
  return y;
}

Tensor rms_norm_rope(Context& ctx, const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                     RopeStyle style) {
  constexpr std::string_view op = "rms_norm_rope";
  check_rope_args(ctx, op, x, table);
  const int64_t s = x.dim(1), h = x.dim(2), d = x.dim(3), rows = x.rows();
  check_row_weight(ctx, op, weight, d);
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  if (x.numel() == 0) return y;
  const uint32_t seg = threads_per_row(d);
  struct {
    uint32_t rows, s, h, half_d, seg;
    float eps;
    uint32_t has_weight, w_dtype, style;
  } push{uint32_t(rows), uint32_t(s), uint32_t(h), uint32_t(d / 2), seg, eps, weight.defined() ? 1u : 0u,
         weight.defined() ? shader_dtype(weight.dtype()) : 0u, shader_style(style)};
  // Pairs each thread holds (HELD_PAIRS in rms_norm_rope.comp), or 0: two reads of x.
  const std::array<uint32_t, 1> spec{held_per_thread(d / 2, seg, kNormRopeHeldPairsMax)};
  ctx.dispatch(op, row_reduce_shader(ctx, "rms_norm_rope"), {in(x), in(weight), in(table), out(y)}, push,
               linear_grid(ceil_div(rows, kRowReduceWorkgroup / seg)), spec);
  return y;
}

}  // namespace qi::vk

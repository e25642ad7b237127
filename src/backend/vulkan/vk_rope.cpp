// Rotary position embedding from a precomputed (cos, sin) table, interleaved or half-split pairs.
#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {

Tensor rope(Context& ctx, const Tensor& x, const Tensor& table, RopeStyle style) {
  constexpr std::string_view op = "rope";
  constexpr uint32_t kWorkgroup = 256;
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "table", table);
  check_rank(op, "x", x, 4);
  check_index_range(op, x);
  const int64_t s = x.dim(1), h = x.dim(2), d = x.dim(3);
  if (d % 2 != 0) fail(op, "head dim must be even, got " + x.describe());
  if (table.shape() != Shape{s, d / 2, 2})
    fail(op, "table " + table.describe() + " must be [" + std::to_string(s) + ", " + std::to_string(d / 2) +
                 ", 2] for x " + x.describe());
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const int64_t pairs = x.numel() / 2;
  struct {
    uint32_t pairs, s, h, half_d, style;
  } push{uint32_t(pairs), uint32_t(s), uint32_t(h), uint32_t(d / 2), style == RopeStyle::Interleaved ? 0u : 1u};
  ctx.dispatch(op, "rope", {in(x), in(table), out(y)}, push, linear_grid(ceil_div(pairs, kWorkgroup)));
  return y;
}

}  // namespace qi::vk

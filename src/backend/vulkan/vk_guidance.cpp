// One guided Euler step on packed latents (spec §2.7): CFG combine, per-row norm rescale, x + dt·v.
#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {

Tensor guided_euler_step(Context& ctx, const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond, float guidance,
                         float dt) {
  constexpr std::string_view op = "guided_euler_step";
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "v_cond", v_cond);
  if (x.rank() < 1) fail(op, "x must have at least one axis, got " + x.describe());
  check_index_range(op, x);
  if (v_cond.shape() != x.shape()) fail(op, "v_cond " + v_cond.describe() + " must have x's shape " + x.describe());
  const bool guided = v_uncond.defined();
  if (guided) {
    check_f32(ctx, op, "v_uncond", v_uncond);
    if (v_uncond.shape() != x.shape())
      fail(op, "v_uncond " + v_uncond.describe() + " must have x's shape " + x.describe());
  }
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  if (x.numel() == 0) return y;
  const int64_t c = x.dim(-1), rows = x.rows();
  const uint32_t seg = threads_per_row(c);
  struct {
    uint32_t rows, c, seg;
    float guidance, dt;
    uint32_t guided;
  } push{uint32_t(rows), uint32_t(c), seg, guidance, dt, guided ? 1u : 0u};
  ctx.dispatch(op, row_reduce_shader(ctx, "guided_euler_step"), {in(x), in(v_cond), in(v_uncond), out(y)}, push,
               linear_grid(ceil_div(rows, kRowReduceWorkgroup / seg)));
  return y;
}

}  // namespace qi::vk

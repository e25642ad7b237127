// guided_euler_step: classifier-free guidance with the per-row norm rescale of spec §2.7, then the Euler
// update x' = x + dt·v. Rows are the last axis (the packed channels). Sums in double.
//
// The rescale v·‖v_cond‖/‖v‖ has no epsilon (as in diffusers); a row where v is exactly zero stays zero
// (so x' = x there) instead of becoming 0·∞ = NaN.
#include <cmath>
#include <string>

#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr int64_t kRowsPerTask = 64;

}  // namespace

Tensor guided_euler_step(const CpuContext& ctx, const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond,
                         float guidance, float dt) {
  constexpr std::string_view op = "guided_euler_step";
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "v_cond", v_cond);
  check_min_rank(op, "x", x, 1);
  if (v_cond.shape() != x.shape())
    fail(op, "v_cond " + v_cond.describe() + " must have x's shape " + x.describe());
  const bool guided = v_uncond.defined();
  if (guided) {
    check_f32(ctx, op, "v_uncond", v_uncond);
    if (v_uncond.shape() != x.shape())
      fail(op, "v_uncond " + v_uncond.describe() + " must have x's shape " + x.describe());
  }
  const int64_t c = x.dim(-1), rows = x.rows();
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* xd = f32_data(x);
  const float* vc = f32_data(v_cond);
  const float* vu = guided ? f32_data(v_uncond) : nullptr;
  float* out = f32_data(y);
  ctx.pool.parallel_for(rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r * c;
      if (!guided) {
        for (int64_t j = 0; j < c; ++j) out[o + j] = float(xd[o + j] + double(dt) * vc[o + j]);
        continue;
      }
      double cond_sq = 0, guided_sq = 0;
      for (int64_t j = 0; j < c; ++j) {
        const double v = vu[o + j] + double(guidance) * (double(vc[o + j]) - vu[o + j]);
        cond_sq += double(vc[o + j]) * vc[o + j];
        guided_sq += v * v;
      }
      const double rescale = guided_sq > 0 ? std::sqrt(cond_sq / guided_sq) : 0.0;
      for (int64_t j = 0; j < c; ++j) {
        const double v = vu[o + j] + double(guidance) * (double(vc[o + j]) - vu[o + j]);
        out[o + j] = float(xd[o + j] + double(dt) * (v * rescale));
      }
    }
  });
  return y;
}

}  // namespace qi::cpu

// Element-wise ops: unary activations, binary add/mul with row broadcast, scale.
#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr uint32_t kWorkgroup = 256;  // local_size_x of the element-wise shaders

uint32_t activation_code(UnaryOp op) {
  // Mirrors ACT_* in shaders/activations.glsl.
  return op == UnaryOp::GeluTanh ? 1u : 2u;
}

}  // namespace

Tensor unary(Context& ctx, const Tensor& x, UnaryOp op) {
  check_f32(ctx, "unary", "x", x);
  check_index_range("unary", x);
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  struct {
    uint32_t n, act;
  } push{uint32_t(x.numel()), activation_code(op)};
  ctx.dispatch("unary", "unary", {in(x), out(y)}, push, linear_grid(ceil_div(x.numel(), kWorkgroup)));
  return y;
}

Tensor binary(Context& ctx, const Tensor& a, const Tensor& b, BinaryOp op) {
  check_f32(ctx, "binary", "a", a);
  check_f32(ctx, "binary", "b", b);
  check_index_range("binary", a);
  const bool same = a.shape() == b.shape();
  const bool row_broadcast = b.rank() == 1 && a.rank() >= 1 && b.dim(0) == a.dim(-1);
  if (!same && !row_broadcast)
    fail("binary", "b " + b.describe() + " must have a's shape " + a.describe() + " or be 1-D with a.dim(-1) elements");
  Tensor y = ctx.alloc(a.shape(), DType::F32);
  if (a.numel() == 0) return y;
  struct {
    uint32_t n, b_n, op;
  } push{uint32_t(a.numel()), uint32_t(b.numel()), op == BinaryOp::Mul ? 1u : 0u};
  ctx.dispatch("binary", "binary", {in(a), in(b), out(y)}, push, linear_grid(ceil_div(a.numel(), kWorkgroup)));
  return y;
}

Tensor scale(Context& ctx, const Tensor& x, float alpha, float beta) {
  check_f32(ctx, "scale", "x", x);
  check_index_range("scale", x);
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  struct {
    uint32_t n;
    float alpha, beta;
  } push{uint32_t(x.numel()), alpha, beta};
  ctx.dispatch("scale", "scale", {in(x), out(y)}, push, linear_grid(ceil_div(x.numel(), kWorkgroup)));
  return y;
}

}  // namespace qi::vk

// Element-wise ops: unary activations, binary add/mul (with row broadcast) and the affine scale.
#include <string>

#include "backend/cpu/cpu_activation.h"
#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr int64_t kElementsPerTask = 1 << 14;

template <typename Fn>
Tensor map_elements(const CpuContext& ctx, const Tensor& x, Fn fn) {
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* in = f32_data(x);
  float* out = f32_data(y);
  ctx.pool.parallel_for(x.numel(), kElementsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = fn(in[i], i);
  });
  return y;
}

}  // namespace

Tensor unary(const CpuContext& ctx, const Tensor& x, UnaryOp op) {
  check_f32(ctx, "unary", "x", x);
  switch (op) {
    case UnaryOp::Silu: return map_elements(ctx, x, [](float v, int64_t) { return silu(v); });
    case UnaryOp::GeluTanh: return map_elements(ctx, x, [](float v, int64_t) { return gelu_tanh(v); });
  }
  fail("unary", "unknown op " + std::to_string(int(op)));
}

Tensor binary(const CpuContext& ctx, const Tensor& a, const Tensor& b, BinaryOp op) {
  constexpr std::string_view name = "binary";
  check_f32(ctx, name, "a", a);
  check_f32(ctx, name, "b", b);
  const bool same = a.shape() == b.shape();
  const bool row = !same && a.rank() >= 1 && b.rank() == 1 && b.dim(0) == a.dim(-1);
  if (!same && !row)
    fail(name, "b must have a's shape or be [a.dim(-1)]: a " + a.describe() + ", b " + b.describe());
  const float* bd = f32_data(b);
  const int64_t period = row ? b.numel() : a.numel();  // b[i % period]
  switch (op) {
    case BinaryOp::Add:
      return map_elements(ctx, a, [&](float v, int64_t i) { return v + bd[row ? i % period : i]; });
    case BinaryOp::Mul:
      return map_elements(ctx, a, [&](float v, int64_t i) { return v * bd[row ? i % period : i]; });
  }
  fail(name, "unknown op " + std::to_string(int(op)));
}

Tensor scale(const CpuContext& ctx, const Tensor& x, float alpha, float beta) {
  check_f32(ctx, "scale", "x", x);
  return map_elements(ctx, x, [=](float v, int64_t) { return alpha * v + beta; });
}

}  // namespace qi::cpu

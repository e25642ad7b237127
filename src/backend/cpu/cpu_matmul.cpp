// matmul: y = epilogue(x · wᵀ) on the blocked GEMM, then bias, activation and the gated residual per row.
#include <string>

#include "backend/cpu/cpu_activation.h"
#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr std::string_view kOp = "matmul";
constexpr int64_t kEpilogueRowsPerTask = 16;

std::string shapes(const Tensor& x, const Tensor& w) { return "x " + x.describe() + ", w " + w.describe(); }

}  // namespace

Tensor matmul(const CpuContext& ctx, const Tensor& x, const Tensor& w, const MatmulArgs& args) {
  check_f32(ctx, kOp, "x", x);
  check_min_rank(kOp, "x", x, 1);
  check_float(ctx, kOp, "w", w);
  check_rank(kOp, "w", w, 2);
  const int64_t n = w.dim(0), k = w.dim(1);
  if (x.dim(-1) != k) fail(kOp, "inner dimensions differ: " + shapes(x, w));
  const int64_t m = x.rows();
  Shape out_shape = x.shape();
  out_shape.back() = n;

  std::vector<float> bias;
  if (args.bias.defined()) {
    check_float(ctx, kOp, "bias", args.bias);
    if (args.bias.rank() != 1 || args.bias.dim(0) != n)
      fail(kOp, "bias must be [" + std::to_string(n) + "], got " + args.bias.describe() + " for " + shapes(x, w));
    bias = read_f32(args.bias);
  }
  if (args.residual.defined()) {
    check_f32(ctx, kOp, "residual", args.residual);
    if (args.residual.shape() != out_shape)
      fail(kOp, "residual must be " + shape_str(out_shape) + ", got " + args.residual.describe());
  }
  // Batch items the gate rows belong to: x = [B, M, K] has B of them, a 1-D or 2-D x has one.
  const int64_t batch = x.rank() >= 3 ? x.dim(0) : 1;
  const int64_t rows_per_item = batch > 0 ? m / batch : 0;
  int64_t gate_rows = 0;
  if (args.gate.defined()) {
    if (!args.residual.defined()) fail(kOp, "gate given without residual");
    check_f32(ctx, kOp, "gate", args.gate);
    bool flat = args.gate.rank() == 1 && args.gate.dim(0) == n;
    bool per_item = args.gate.rank() == 2 && args.gate.dim(0) == batch && args.gate.dim(1) == n;
    if (!flat && !per_item)
      fail(kOp, "gate must be [" + std::to_string(n) + "] or [" + std::to_string(batch) + ", " + std::to_string(n) +
                    "], got " + args.gate.describe() + " for " + shapes(x, w));
    gate_rows = per_item ? batch : 1;
  }

  Tensor y = ctx.alloc(out_shape, DType::F32);
  float* out = f32_data(y);
  gemm(m, n, k, f32_data(x), k, RhsMatrix{raw_data(w), w.dtype(), k, RhsLayout::NK}, out, n, &ctx.pool);

  const bool has_epilogue = !bias.empty() || args.act != Activation::None || args.residual.defined();
  if (!has_epilogue) return y;
  const float* residual = args.residual.defined() ? f32_data(args.residual) : nullptr;
  const float* gate = args.gate.defined() ? f32_data(args.gate) : nullptr;
  ctx.pool.parallel_for(m, kEpilogueRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = out + r * n;
      const float* g = gate ? gate + (gate_rows == 1 ? 0 : r / rows_per_item) * n : nullptr;
      for (int64_t j = 0; j < n; ++j) {
        float v = row[j];
        if (!bias.empty()) v += bias[size_t(j)];
        v = apply_activation(args.act, v);
        if (residual) v = residual[r * n + j] + (g ? g[j] * v : v);
        row[j] = v;
      }
    }
  });
  return y;
}

}  // namespace qi::cpu

// The three normalisations: rms_norm over the last axis, layer_norm_modulate (LN without affine, then the
// adaLN modulation) and the VAE's channel_rms_norm over axis 0. Sums are accumulated in double. The RMS norm
// of one row is shared with rms_norm_rope (cpu_rope.cpp).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr int64_t kRowsPerTask = 8;
constexpr int64_t kPixelsPerTask = 256;       // channel_rms_norm: smallest pixel range per task
constexpr double kChannelNormFloor = 1e-12;   // spec §4.2: x / max(‖x‖₂, 1e-12)

}  // namespace

std::vector<float> rms_norm_weight(const CpuContext& ctx, std::string_view op, const Tensor& x, const Tensor& weight) {
  if (!weight.defined()) return {};
  const int64_t c = x.dim(-1);
  check_float(ctx, op, "weight", weight);
  if (weight.rank() != 1 || weight.dim(0) != c)
    fail(op, "weight must be [" + std::to_string(c) + "], got " + weight.describe() + " for x " + x.describe());
  return read_f32(weight);
}

void rms_normalise(const float* xr, int64_t c, float eps, const std::vector<float>& w, float* yr) {
  double sum_sq = 0;
  for (int64_t j = 0; j < c; ++j) sum_sq += double(xr[j]) * xr[j];
  const double inv_rms = 1.0 / std::sqrt(sum_sq / double(c) + double(eps));
  for (int64_t j = 0; j < c; ++j) {
    float normalised = float(xr[j] * inv_rms);
    yr[j] = w.empty() ? normalised : normalised * w[size_t(j)];
  }
}

Tensor rms_norm(const CpuContext& ctx, const Tensor& x, const Tensor& weight, float eps) {
  constexpr std::string_view op = "rms_norm";
  check_f32(ctx, op, "x", x);
  check_min_rank(op, "x", x, 1);
  const int64_t c = x.dim(-1), rows = x.rows();
  const std::vector<float> w = rms_norm_weight(ctx, op, x, weight);
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* in = f32_data(x);
  float* out = f32_data(y);
  ctx.pool.parallel_for(rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) rms_normalise(in + r * c, c, eps, w, out + r * c);
  });
  return y;
}

Tensor layer_norm_modulate(const CpuContext& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale,
                           float eps) {
  constexpr std::string_view op = "layer_norm_modulate";
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "shift", shift);
  check_f32(ctx, op, "scale", scale);
  if (x.rank() != 2 && x.rank() != 3) fail(op, "x must be [B, M, C] or [M, C], got " + x.describe());
  const int64_t batch = x.rank() == 3 ? x.dim(0) : 1;
  const int64_t c = x.dim(-1), rows = x.rows();
  const int64_t rows_per_item = batch > 0 ? rows / batch : 0;
  // [B, C], or [C] when there is a single batch item.
  auto valid_modulation = [&](const Tensor& t) {
    return t.shape() == Shape{batch, c} || (batch == 1 && t.shape() == Shape{c});
  };
  if (!valid_modulation(shift) || !valid_modulation(scale))
    fail(op, "shift and scale must be [" + std::to_string(batch) + ", " + std::to_string(c) + "], got shift " +
                 shift.describe() + ", scale " + scale.describe() + " for x " + x.describe());
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* in = f32_data(x);
  const float* sh = f32_data(shift);
  const float* sc = f32_data(scale);
  float* out = f32_data(y);
  ctx.pool.parallel_for(rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in + r * c;
      float* yr = out + r * c;
      const int64_t item = r / rows_per_item;
      const float* shr = sh + item * c;
      const float* scr = sc + item * c;
      double sum = 0;
      for (int64_t j = 0; j < c; ++j) sum += xr[j];
      const double mean = sum / double(c);
      double sum_sq = 0;  // two passes: the variance of large-mean rows keeps its precision
      for (int64_t j = 0; j < c; ++j) sum_sq += (xr[j] - mean) * (xr[j] - mean);
      const double inv_std = 1.0 / std::sqrt(sum_sq / double(c) + double(eps));
      for (int64_t j = 0; j < c; ++j) yr[j] = float((xr[j] - mean) * inv_std) * (1.0f + scr[j]) + shr[j];
    }
  });
  return y;
}

Tensor channel_rms_norm(const CpuContext& ctx, const Tensor& x, const Tensor& gamma) {
  constexpr std::string_view op = "channel_rms_norm";
  check_f32(ctx, op, "x", x);
  check_min_rank(op, "x", x, 1);
  check_float(ctx, op, "gamma", gamma);
  const int64_t channels = x.dim(0);
  const int64_t pixels = channels > 0 ? x.numel() / channels : 0;
  if (gamma.numel() != channels)  // [C] or the checkpoint's [C, 1, 1(, 1)]
    fail(op, "gamma must hold " + std::to_string(channels) + " values, got " + gamma.describe() + " for x " +
                 x.describe());
  const std::vector<float> g = read_f32(gamma);
  const double sqrt_c = std::sqrt(double(channels));
  Tensor y = ctx.alloc(x.shape(), DType::F32);
  const float* in = f32_data(x);
  float* out = f32_data(y);
  ctx.pool.parallel_for(pixels, kPixelsPerTask, [&](int64_t begin, int64_t end) {
    std::vector<double> inv_norm(size_t(end - begin), 0.0);
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float* xc = in + ch * pixels;
      for (int64_t p = begin; p < end; ++p) inv_norm[size_t(p - begin)] += double(xc[p]) * xc[p];
    }
    for (double& v : inv_norm) v = 1.0 / std::max(std::sqrt(v), kChannelNormFloor);
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float* xc = in + ch * pixels;
      float* yc = out + ch * pixels;
      const double factor = sqrt_c * g[size_t(ch)];
      for (int64_t p = begin; p < end; ++p) yc[p] = float(xc[p] * inv_norm[size_t(p - begin)] * factor);
    }
  });
  return y;
}

}  // namespace qi::cpu

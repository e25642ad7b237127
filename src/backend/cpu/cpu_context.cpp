#include "backend/cpu/cpu_context.h"

#include <cstring>
#include <stdexcept>

namespace qi::cpu {

void fail(std::string_view op, const std::string& message) {
  throw std::invalid_argument(std::string(op) + ": " + message);
}

void check_tensor(const CpuContext& ctx, std::string_view op, std::string_view name, const Tensor& t) {
  if (!t.defined()) fail(op, std::string(name) + " is undefined");
  if (t.backend() != &ctx.backend || !dynamic_cast<HostStorage*>(t.storage()))
    fail(op, std::string(name) + " " + t.describe() + " belongs to another backend");
}

void check_f32(const CpuContext& ctx, std::string_view op, std::string_view name, const Tensor& t) {
  check_tensor(ctx, op, name, t);
  if (t.dtype() != DType::F32) fail(op, std::string(name) + " must be F32, got " + t.describe());
}

void check_float(const CpuContext& ctx, std::string_view op, std::string_view name, const Tensor& t) {
  check_tensor(ctx, op, name, t);
  if (!is_float_dtype(t.dtype())) fail(op, std::string(name) + " must be F32, F16 or BF16, got " + t.describe());
}

void check_rank(std::string_view op, std::string_view name, const Tensor& t, int rank) {
  if (t.rank() != rank)
    fail(op, std::string(name) + " must have rank " + std::to_string(rank) + ", got " + t.describe());
}

void check_min_rank(std::string_view op, std::string_view name, const Tensor& t, int rank) {
  if (t.rank() < rank)
    fail(op, std::string(name) + " must have rank >= " + std::to_string(rank) + ", got " + t.describe());
}

void widen_to_f32(const void* src, DType dtype, int64_t n, float* dst) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, size_t(n) * sizeof(float));
      return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::I32:
    case DType::U8:
      break;
  }
  throw std::logic_error("widen_to_f32: " + std::string(dtype_name(dtype)) + " is not a floating dtype");
}

std::vector<float> read_f32(const Tensor& t) {
  std::vector<float> out(size_t(t.numel()));
  widen_to_f32(raw_data(t), t.dtype(), t.numel(), out.data());
  return out;
}

}  // namespace qi::cpu

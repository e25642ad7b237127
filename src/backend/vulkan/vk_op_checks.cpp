#include "backend/vulkan/vk_op_checks.h"

#include <cstdint>

#include "core/error.h"

namespace qi::vk {

void fail(std::string_view op, const std::string& msg) {
  throw RuntimeFailure("vulkan " + std::string(op) + ": " + msg);
}

void check_f32(const Context& ctx, std::string_view op, std::string_view what, const Tensor& t) {
  ctx.storage(t, op, what);
  if (t.dtype() != DType::F32) fail(op, std::string(what) + " must be F32, got " + t.describe());
}

void check_float(const Context& ctx, std::string_view op, std::string_view what, const Tensor& t) {
  ctx.storage(t, op, what);
  if (t.dtype() != DType::F32 && t.dtype() != DType::F16 && t.dtype() != DType::BF16)
    fail(op, std::string(what) + " must be F32, F16 or BF16, got " + t.describe());
}

void check_rank(std::string_view op, std::string_view what, const Tensor& t, int rank) {
  if (t.rank() != rank)
    fail(op, std::string(what) + " must have rank " + std::to_string(rank) + ", got " + t.describe());
}

void check_index_range(std::string_view op, const Tensor& t) {
  // Shaders index elements with 32-bit unsigned integers.
  if (uint64_t(t.numel()) > UINT32_MAX) fail(op, t.describe() + " has more elements than 32-bit indices reach");
}

void check_row_weight(const Context& ctx, std::string_view op, const Tensor& weight, int64_t c) {
  if (!weight.defined()) return;
  check_float(ctx, op, "weight", weight);
  if (weight.shape() != Shape{c}) fail(op, "weight " + weight.describe() + " must be [" + std::to_string(c) + "]");
}

int64_t modulation_items(const Context& ctx, std::string_view op, const Tensor& x, const Tensor& shift,
                         const Tensor& scale) {
  check_f32(ctx, op, "x", x);
  check_f32(ctx, op, "shift", shift);
  check_f32(ctx, op, "scale", scale);
  if (x.rank() != 2 && x.rank() != 3) fail(op, "x must be [B, M, C] or [M, C], got " + x.describe());
  check_index_range(op, x);
  const int64_t c = x.dim(-1), items = x.rank() == 3 ? x.dim(0) : 1;
  const Shape mod{items, c};
  // [C] modulation applies to every row (the same as [1, C] for a single item).
  if (shift.shape() == Shape{c} && scale.shape() == Shape{c}) return 1;
  if (shift.shape() != mod || scale.shape() != mod)
    fail(op, "shift " + shift.describe() + " and scale " + scale.describe() + " must be " + shape_str(mod) + " or [" +
                 std::to_string(c) + "] for x " + x.describe());
  return items;
}

uint32_t threads_per_row(int64_t c) {
  const int64_t wanted = (c + kRowElementsPerThread - 1) / kRowElementsPerThread;
  uint32_t seg = 1;
  while (seg < kRowReduceWorkgroup && int64_t(seg) < wanted) seg *= 2;
  return seg;
}

std::string row_reduce_shader(const Context& ctx, std::string_view base) {
  std::string subgroup = std::string(base) + "_subgroup";
  if (ctx.caps().subgroup_reduce && ctx.caps().subgroup_size <= kRowReduceWorkgroup &&
      PipelineRegistry::has_shader(subgroup))
    return subgroup;
  return std::string(base);
}

uint32_t held_per_thread(int64_t units, uint32_t seg, int64_t max_held) {
  const int64_t held = (units + seg - 1) / seg;
  return held <= max_held ? uint32_t(held) : 0u;
}

uint32_t shader_dtype(DType t) {
  // Mirrors DT_F32 / DT_F16 / DT_BF16 in shaders/half_words.glsl.
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::BF16: return 2;
    default: throw std::logic_error("shader_dtype: not a float type");
  }
}

const char* weight_suffix(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    default: throw std::logic_error("weight_suffix: not a float type");
  }
}

}  // namespace qi::vk

// Argument checks and small helpers shared by the Vulkan ops: every violation is a RuntimeFailure naming the
// op and tensor.
#pragma once
#include <string>
#include <string_view>

#include "backend/vulkan/vk_context.h"

namespace qi::vk {

[[noreturn]] void fail(std::string_view op, const std::string& msg);
// Defined, on this backend, F32.
void check_f32(const Context& ctx, std::string_view op, std::string_view what, const Tensor& t);
// Defined, on this backend, F32/F16/BF16 (weights).
void check_float(const Context& ctx, std::string_view op, std::string_view what, const Tensor& t);
void check_rank(std::string_view op, std::string_view what, const Tensor& t, int rank);
// Element counts must fit the shaders' 32-bit indices.
void check_index_range(std::string_view op, const Tensor& t);
// An optional per-column weight of rows of c values (rms_norm, rms_norm_rope): undefined, or [c] F32/F16/BF16.
void check_row_weight(const Context& ctx, std::string_view op, const Tensor& weight, int64_t c);

// The modulation of layer_norm_modulate (and of modulated_matmul's fused input pass) for x [B, M, C] or
// [M, C]: shift and scale F32, both [B, C] or both [C] (every row). Returns the number of modulation rows (1
// for [C]); fails otherwise.
int64_t modulation_items(const Context& ctx, std::string_view op, const Tensor& x, const Tensor& shift,
                         const Tensor& scale);

// The dtype code shaders read from push constants (half_words.glsl: DT_F32, DT_F16, DT_BF16).
uint32_t shader_dtype(DType t);
// Threads per row for the row-reduction shaders (segment_reduce.glsl with 256-thread workgroups): the
// smallest power of two giving each thread at most kRowElementsPerThread of the c values, at most 256. A
// thread per value made the head-dim rows (c = 128) span four subgroups joined through shared memory, and
// half the threads of attention_pack idle in its two-value stores: rms_norm ran at a third of the memory rate.
uint32_t threads_per_row(int64_t c);
constexpr uint32_t kRowReduceWorkgroup = 256;
constexpr int64_t kRowElementsPerThread = 4;
// The variant of row-reduction shader `base` for this device: "<base>_subgroup" (segment_reduce.glsl with
// subgroup operations) where DeviceCaps::subgroup_reduce allows it and the variant was compiled, else base.
std::string row_reduce_shader(const Context& ctx, std::string_view base);
// The specialization constant of the row kernels that hold a row in registers (matmul_pack_rows' HELD_PAIRS,
// layer_norm_modulate's HELD): the number of a row's `units` each of its `seg` threads covers, or 0 (the
// multi-pass path) where that is more than `max_held`.
uint32_t held_per_thread(int64_t units, uint32_t seg, int64_t max_held);

// Suffix of the shader variant for a weight format: "f32", "f16", "bf16".
const char* weight_suffix(DType t);

}  // namespace qi::vk

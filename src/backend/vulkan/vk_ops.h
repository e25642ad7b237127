// The Vulkan implementations of the Backend ops (semantics: src/ops/backend.h). Each validates its
// arguments, allocates its output through the context and records its dispatches. Grouped by file:
// vk_matmul, vk_attention, vk_conv3d (each with its variants), vk_norms, vk_rope, vk_elementwise, vk_layout,
// vk_embedding, vk_image, vk_guidance.
#pragma once
#include <span>
#include <vector>

#include "backend/vulkan/vk_context.h"

namespace qi::vk {

// Registers each op's shader variants usable on this device (called once per context).
void register_variants(Context& ctx);
void register_matmul_variants(Context& ctx);
void register_attention_variants(Context& ctx);
void register_conv3d_variants(Context& ctx);

// The storage format upload_weight uses for BF16 weights on this device (BF16 kept raw, or F16 where the
// default matmul variant computes in fp16).
DType bf16_weight_storage(const Context& ctx);

// Ceiling kernels (Backend::ceiling_kernels, vk_tensor_core_peak.cpp): the register-only tensor-core rates.
std::vector<Backend::CeilingKernel> ceiling_kernels(const Context& ctx);
void run_ceiling_kernel(Context& ctx, std::string_view name);

Tensor matmul(Context& ctx, const Tensor& x, const Tensor& w, const MatmulArgs& args);
std::vector<Tensor> matmul_many(Context& ctx, const Tensor& x, std::span<const Tensor> w,
                                std::span<const MatmulArgs> args);
Tensor attention(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args);
std::vector<Tensor> modulated_matmul_many(Context& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale,
                                          float eps, std::span<const Tensor> w, std::span<const MatmulArgs> args);
Tensor modulated_mlp(Context& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale, float eps,
                     const MlpWeights& w, const Tensor& gate);
std::vector<Tensor> chunk(Context& ctx, const Tensor& x, int axis, int parts);
AttentionSplit joint_attention(Context& ctx, const AttentionOperands& first, const AttentionOperands& second,
                               const AttentionArgs& args);

Tensor rms_norm(Context& ctx, const Tensor& x, const Tensor& weight, float eps);
Tensor layer_norm_modulate(Context& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale, float eps);
Tensor channel_rms_norm(Context& ctx, const Tensor& x, const Tensor& gamma);

Tensor rope(Context& ctx, const Tensor& x, const Tensor& table, RopeStyle style);
Tensor rms_norm_rope(Context& ctx, const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                     RopeStyle style);

Tensor conv3d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args);

Tensor unary(Context& ctx, const Tensor& x, UnaryOp op);
Tensor binary(Context& ctx, const Tensor& a, const Tensor& b, BinaryOp op);
Tensor scale(Context& ctx, const Tensor& x, float alpha, float beta);

Tensor upsample_nearest2x(Context& ctx, const Tensor& x);
Tensor concat(Context& ctx, const Tensor& a, const Tensor& b, int axis);
Tensor slice(Context& ctx, const Tensor& x, int axis, int64_t start, int64_t length);
Tensor transpose(Context& ctx, const Tensor& x);
Tensor pack_patches(Context& ctx, const Tensor& latents);
Tensor unpack_patches(Context& ctx, const Tensor& packed, int64_t channels, int64_t height, int64_t width);

Tensor timestep_embedding(Context& ctx, const Tensor& t, int dim, float scale, float max_period);
Tensor to_rgb8(Context& ctx, const Tensor& x);
Tensor guided_euler_step(Context& ctx, const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond, float guidance,
                         float dt);

}  // namespace qi::vk

// The CPU implementations of the Backend ops (semantics: src/ops/backend.h). Each validates its arguments,
// allocates its output through the context and computes in fp32 (double where sums matter). Grouped by file:
// cpu_matmul, cpu_attention, cpu_norms, cpu_rope, cpu_conv3d, cpu_elementwise, cpu_layout, cpu_embedding,
// cpu_image, cpu_guidance.
#pragma once
#include "backend/cpu/cpu_context.h"

namespace qi::cpu {

Tensor matmul(const CpuContext& ctx, const Tensor& x, const Tensor& w, const MatmulArgs& args);
Tensor attention(const CpuContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args);

Tensor rms_norm(const CpuContext& ctx, const Tensor& x, const Tensor& weight, float eps);
Tensor layer_norm_modulate(const CpuContext& ctx, const Tensor& x, const Tensor& shift, const Tensor& scale,
                           float eps);
Tensor channel_rms_norm(const CpuContext& ctx, const Tensor& x, const Tensor& gamma);

Tensor rope(const CpuContext& ctx, const Tensor& x, const Tensor& table, RopeStyle style);
Tensor rms_norm_rope(const CpuContext& ctx, const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                     RopeStyle style);

// The RMS norm of one row, shared by rms_norm and rms_norm_rope (cpu_norms.cpp): the validated weight [C] of
// x [..., C] as fp32 (empty when weight is undefined), and yr = xr · rsqrt(mean(xr²) + eps) · w (sum in double).
std::vector<float> rms_norm_weight(const CpuContext& ctx, std::string_view op, const Tensor& x, const Tensor& weight);
void rms_normalise(const float* xr, int64_t c, float eps, const std::vector<float>& w, float* yr);

Tensor conv3d(const CpuContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args);

Tensor unary(const CpuContext& ctx, const Tensor& x, UnaryOp op);
Tensor binary(const CpuContext& ctx, const Tensor& a, const Tensor& b, BinaryOp op);
Tensor scale(const CpuContext& ctx, const Tensor& x, float alpha, float beta);

Tensor upsample_nearest2x(const CpuContext& ctx, const Tensor& x);
Tensor concat(const CpuContext& ctx, const Tensor& a, const Tensor& b, int axis);
Tensor slice(const CpuContext& ctx, const Tensor& x, int axis, int64_t start, int64_t length);
Tensor transpose(const CpuContext& ctx, const Tensor& x);
Tensor pack_patches(const CpuContext& ctx, const Tensor& latents);
Tensor unpack_patches(const CpuContext& ctx, const Tensor& packed, int64_t channels, int64_t height, int64_t width);

Tensor timestep_embedding(const CpuContext& ctx, const Tensor& t, int dim, float scale, float max_period);
Tensor to_rgb8(const CpuContext& ctx, const Tensor& x);
Tensor guided_euler_step(const CpuContext& ctx, const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond,
                         float guidance, float dt);

}  // namespace qi::cpu

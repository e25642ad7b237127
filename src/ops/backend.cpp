#include "ops/backend.h"

#include <stdexcept>
#include <string>

#include "core/error.h"

namespace qi {

void Backend::run_ceiling_kernel(std::string_view name) {
  throw UsageError("backend " + this->name() + " has no ceiling kernel '" + std::string(name) + "'");
}

std::vector<Tensor> Backend::matmul_many(const Tensor& x, std::span<const Tensor> w, std::span<const MatmulArgs> args) {
  if (w.size() != args.size())
    throw InputError("matmul_many: " + std::to_string(w.size()) + " weights but " + std::to_string(args.size()) +
                     " argument sets");
  std::vector<Tensor> y;
  y.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) y.push_back(matmul(x, w[i], args[i]));
  return y;
}

std::vector<Tensor> Backend::modulated_matmul_many(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps,
                                                   std::span<const Tensor> w, std::span<const MatmulArgs> args) {
  return matmul_many(layer_norm_modulate(x, shift, scale, eps), w, args);
}

std::vector<Tensor> Backend::chunk(const Tensor& x, int axis, int parts) {
  const int rank = x.rank(), ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank || parts < 1 || x.dim(ax) % parts != 0)
    throw InputError("chunk: " + x.describe() + " does not split into " + std::to_string(parts) + " along axis " +
                     std::to_string(axis));
  const int64_t length = x.dim(ax) / parts;
  std::vector<Tensor> y;
  for (int i = 0; i < parts; ++i) y.push_back(slice(x, axis, i * length, length));
  return y;
}

Tensor Backend::modulated_mlp(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps, const MlpWeights& w,
                              const Tensor& gate) {
  const Tensor up[] = {w.up};
  const MatmulArgs up_args[] = {{.bias = w.up_bias, .act = w.act}};
  const Tensor h = modulated_matmul_many(x, shift, scale, eps, up, up_args).front();
  return matmul(h, w.down, {.bias = w.down_bias, .residual = x, .gate = gate});
}

AttentionSplit Backend::joint_attention(const AttentionOperands& first_given, const AttentionOperands& second_given,
                                        const AttentionArgs& args) {
  auto normalised = [&](const AttentionOperands& o) {
    if (!o.norm.defined()) return o;
    const QkNormRope& n = o.norm;
    return AttentionOperands{rms_norm_rope(o.q, n.q_weight, n.eps, n.table, n.style),
                             rms_norm_rope(o.k, n.k_weight, n.eps, n.table, n.style), o.v, {}};
  };
  const AttentionOperands first = normalised(first_given), second = normalised(second_given);
  const Tensor o = attention(concat(first.q, second.q, 1), concat(first.k, second.k, 1),
                             concat(first.v, second.v, 1), args);
  const int64_t split = first.q.dim(1);
  return {slice(o, 1, 0, split), slice(o, 1, split, o.dim(1) - split)};
}

std::vector<float> Backend::to_host_f32(const Tensor& t) {
  std::vector<float> out(size_t(t.numel()));
  switch (t.dtype()) {
    case DType::F32:
      to_host(t, out.data());
      break;
    case DType::F16:
    case DType::BF16: {
      std::vector<uint16_t> raw(size_t(t.numel()));
      to_host(t, raw.data());
      for (size_t i = 0; i < raw.size(); ++i)
        out[i] = t.dtype() == DType::F16 ? f16_to_f32(raw[i]) : bf16_to_f32(raw[i]);
      break;
    }
    case DType::I32: {
      std::vector<int32_t> raw(size_t(t.numel()));
      to_host(t, raw.data());
      for (size_t i = 0; i < raw.size(); ++i) out[i] = float(raw[i]);
      break;
    }
    case DType::U8: {
      std::vector<uint8_t> raw(size_t(t.numel()));
      to_host(t, raw.data());
      for (size_t i = 0; i < raw.size(); ++i) out[i] = float(raw[i]);
      break;
    }
  }
  return out;
}

const std::vector<std::string>& all_op_names() {
  static const std::vector<std::string> names = {
      "matmul", "modulated_matmul", "modulated_mlp", "attention", "joint_attention", "rms_norm", "layer_norm_modulate", "channel_rms_norm", "rope", "rms_norm_rope",
      "conv3d", "upsample_nearest2x", "unary", "binary", "scale", "concat", "slice", "chunk", "transpose", "pack_patches",
      "unpack_patches", "timestep_embedding", "to_rgb8", "guided_euler_step"};
  return names;
}

}  // namespace qi

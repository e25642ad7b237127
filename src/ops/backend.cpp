#include "ops/backend.h"

#include <stdexcept>
#include <string>

#include "core/error.h"

namespace qi {

void Backend::run_ceiling_kernel(std::string_view name) {
  throw UsageError("backend " + this->name() + " has no ceiling kernel '" + std::string(name) + "'");
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
      "matmul", "attention", "rms_norm", "layer_norm_modulate", "channel_rms_norm", "rope", "conv3d",
      "upsample_nearest2x", "unary", "binary", "scale", "concat", "slice", "transpose", "pack_patches",
      "unpack_patches", "timestep_embedding", "to_rgb8", "guided_euler_step"};
  return names;
}

}  // namespace qi

// The Vulkan Backend object: tensors in device memory, uploads and downloads, stages and profiling, and
// dispatch to the op implementations in vk_*.cpp.
#include "backend/vulkan/vulkan_backend.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"
#include "backend/vulkan/vk_weight_stream.h"
#include "core/error.h"
#include "core/half_conversion.h"

namespace qi {
namespace {

using vk::Arena;
using vk::Context;

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Host-side conversion of F16/BF16 to F32 (exact).
std::vector<float> widen(const void* data, DType src, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const auto* h = static_cast<const uint16_t*>(data);
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = src == DType::F16 ? f16_to_f32(h[i]) : bf16_to_f32(h[i]);
  return out;
}

class VulkanBackend final : public Backend {
 public:
  explicit VulkanBackend(const VulkanOptions& options)
      : ctx_(Context::create(options, this)), host_weights_(std::make_shared<vk::HostWeightLedger>()) {
    host_weights_->context = ctx_;
    vk::register_variants(*ctx_);
  }
  ~VulkanBackend() override {
    // Tensors may outlive the backend (they keep the context alive); finish the recorded work now. The
    // derived-data cache holds tensors, which hold the context: emptied so that the context can go.
    ctx_->stream().wait_idle();
    ctx_->clear_derived();
  }

  std::string name() const override { return "vulkan"; }

  // ---- memory -----------------------------------------------------------------------------------------
  Tensor empty(const Shape& shape, DType dtype) override { return ctx_->alloc(shape, dtype); }

  Tensor from_host(const void* data, DType src_dtype, const Shape& shape, DType dtype) override {
    const bool widen_to_f32 = dtype == DType::F32 && is_float(src_dtype);
    if (src_dtype != dtype && !widen_to_f32)
      vk::fail("from_host", "cannot convert " + std::string(dtype_name(src_dtype)) + " to " +
                                std::string(dtype_name(dtype)) + " (only F32/F16/BF16 -> F32 or an exact copy)");
    Tensor t = ctx_->alloc(shape, dtype, Arena::Activations, /*poison=*/false);
    if (t.numel() == 0) return t;
    if (!data) vk::fail("from_host", "null data for " + t.describe());
    if (src_dtype == dtype) {
      ctx_->upload(t, data, t.bytes());
    } else {
      std::vector<float> wide = widen(data, src_dtype, t.numel());
      ctx_->upload(t, wide.data(), t.bytes());
    }
    return t;
  }

  // Weights are written chunk by chunk into host-visible memory (staging, or the host weight's own), BF16
  // converted to F16 on the way where they are stored so: a chunk converts while the previous one's copy runs.
  Tensor upload_weight(const void* data, DType src_dtype, const Shape& shape, WeightUploadStats* stats) override {
    const DType stored = stored_dtype("upload_weight", data, src_dtype, shape, stats);
    Tensor t = ctx_->alloc(shape, stored, Arena::Weights, /*poison=*/false);
    int64_t overflowed = 0;
    ctx_->upload_with(t, t.bytes(), weight_fill(data, src_dtype, stored, overflowed));
    if (stats) stats->overflowed += overflowed;
    return t;
  }

  Tensor upload_host_weight(const void* data, DType src_dtype, const Shape& shape, WeightUploadStats* stats) override {
    const DType stored = stored_dtype("upload_host_weight", data, src_dtype, shape, stats);
    int64_t overflowed = 0;
    Tensor t = vk::make_host_weight(*ctx_, host_weights_, this, shape, stored,
                                    weight_fill(data, src_dtype, stored, overflowed));
    if (stats) stats->overflowed += overflowed;
    return t;
  }

  void copy_into(const Tensor& dst, const Tensor& src) override { vk::copy_into(*ctx_, dst, src); }

  void to_host(const Tensor& t, void* dst) override {
    const Tensor* host = vk::host_weight_tensor(t);
    ctx_->download(host ? *host : t, dst);
  }
  void set_poison_allocations(bool on) override { ctx_->set_poison(on); }
  MemoryStats memory_stats() const override { return ctx_->allocator().stats(); }
  void reset_peak_memory() override { ctx_->allocator().reset_peak(); }

  // ---- execution control ------------------------------------------------------------------------------
  void flush() override { ctx_->stream().wait_idle(); }
  void begin_stage(std::string_view name) override { ctx_->stream().begin_stage(name); }
  void end_stage() override { ctx_->stream().end_stage(); }
  void set_profiling(bool on) override { ctx_->stream().set_profiling(on); }
  std::vector<OpTiming> op_timings() override {
    ctx_->stream().wait_idle();
    return ctx_->stream().timings();
  }

  std::vector<std::string> variants(std::string_view op) const override { return ctx_->variants().usable(op); }
  void select_variant(std::string_view op, std::string_view variant) override {
    ctx_->variants().select(op, variant);
  }
  std::vector<CeilingKernel> ceiling_kernels() const override { return vk::ceiling_kernels(*ctx_); }
  void run_ceiling_kernel(std::string_view name) override { vk::run_ceiling_kernel(*ctx_, name); }

  // ---- ops --------------------------------------------------------------------------------------------
  Tensor matmul(const Tensor& x, const Tensor& w, const MatmulArgs& args) override {
    return vk::matmul(*ctx_, x, w, args);
  }
  std::vector<Tensor> matmul_many(const Tensor& x, std::span<const Tensor> w,
                                  std::span<const MatmulArgs> args) override {
    return vk::matmul_many(*ctx_, x, w, args);
  }
  std::vector<Tensor> modulated_matmul_many(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps,
                                            std::span<const Tensor> w, std::span<const MatmulArgs> args) override {
    return vk::modulated_matmul_many(*ctx_, x, shift, scale, eps, w, args);
  }
  Tensor modulated_mlp(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps, const MlpWeights& w,
                       const Tensor& gate) override {
    return vk::modulated_mlp(*ctx_, x, shift, scale, eps, w, gate);
  }
  std::vector<Tensor> chunk(const Tensor& x, int axis, int parts) override { return vk::chunk(*ctx_, x, axis, parts); }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) override {
    return vk::attention(*ctx_, q, k, v, args);
  }
  AttentionSplit joint_attention(const AttentionOperands& first, const AttentionOperands& second,
                                 const AttentionArgs& args) override {
    return vk::joint_attention(*ctx_, first, second, args);
  }
  Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) override {
    return vk::rms_norm(*ctx_, x, weight, eps);
  }
  Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps) override {
    return vk::layer_norm_modulate(*ctx_, x, shift, scale, eps);
  }
  Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma) override {
    return vk::channel_rms_norm(*ctx_, x, gamma);
  }
  Tensor rope(const Tensor& x, const Tensor& table, RopeStyle style) override {
    return vk::rope(*ctx_, x, table, style);
  }
  Tensor rms_norm_rope(const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                       RopeStyle style) override {
    return vk::rms_norm_rope(*ctx_, x, weight, eps, table, style);
  }
  Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args) override {
    return vk::conv3d(*ctx_, x, w, bias, args);
  }
  Tensor upsample_nearest2x(const Tensor& x) override { return vk::upsample_nearest2x(*ctx_, x); }
  Tensor unary(const Tensor& x, UnaryOp op) override { return vk::unary(*ctx_, x, op); }
  Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) override { return vk::binary(*ctx_, a, b, op); }
  Tensor scale(const Tensor& x, float alpha, float beta) override { return vk::scale(*ctx_, x, alpha, beta); }
  Tensor concat(const Tensor& a, const Tensor& b, int axis) override { return vk::concat(*ctx_, a, b, axis); }
  Tensor slice(const Tensor& x, int axis, int64_t start, int64_t length) override {
    return vk::slice(*ctx_, x, axis, start, length);
  }
  Tensor transpose(const Tensor& x) override { return vk::transpose(*ctx_, x); }
  Tensor pack_patches(const Tensor& latents) override { return vk::pack_patches(*ctx_, latents); }
  Tensor unpack_patches(const Tensor& packed, int64_t channels, int64_t height, int64_t width) override {
    return vk::unpack_patches(*ctx_, packed, channels, height, width);
  }
  Tensor timestep_embedding(const Tensor& t, int dim, float scale, float max_period) override {
    return vk::timestep_embedding(*ctx_, t, dim, scale, max_period);
  }
  Tensor to_rgb8(const Tensor& x) override { return vk::to_rgb8(*ctx_, x); }
  Tensor guided_euler_step(const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond, float guidance,
                           float dt) override {
    return vk::guided_euler_step(*ctx_, x, v_cond, v_uncond, guidance, dt);
  }

 private:
  // The format a weight is stored in: BF16 becomes F16 where the tensor cores read the weights (values beyond
  // fp16's range become ±inf, counted by weight_fill; the model code reports them), anything else stays as
  // given. Checks the data and counts the values.
  DType stored_dtype(std::string_view op, const void* data, DType src_dtype, const Shape& shape,
                     WeightUploadStats* stats) const {
    if (!is_float(src_dtype))
      vk::fail(op, "weights must be F32, F16 or BF16, got " + std::string(dtype_name(src_dtype)) + shape_str(shape));
    const DType stored = src_dtype == DType::BF16 ? vk::bf16_weight_storage(*ctx_) : src_dtype;
    const int64_t n = shape_numel(shape);
    if (stats) stats->values += n;
    if (n > 0 && !data) vk::fail(op, "null data for " + std::string(dtype_name(stored)) + shape_str(shape));
    return stored;
  }

  // Writes a weight's bytes in its stored format: a copy, or the BF16 → F16 conversion (overflows counted).
  static Context::UploadFill weight_fill(const void* data, DType src_dtype, DType stored, int64_t& overflowed) {
    if (stored == src_dtype) return Context::copy_from(data);
    const auto* bytes = static_cast<const uint8_t*>(data);
    return [bytes, &overflowed](uint8_t* to, uint64_t offset, uint64_t n) {
      overflowed += convert_bf16_to_f16(reinterpret_cast<const uint16_t*>(bytes + offset),
                                        reinterpret_cast<uint16_t*>(to), n / sizeof(uint16_t));
    };
  }

  std::shared_ptr<Context> ctx_;
  std::shared_ptr<vk::HostWeightLedger> host_weights_;
};

}  // namespace

std::unique_ptr<Backend> make_vulkan_backend(const VulkanOptions& options) {
  return std::make_unique<VulkanBackend>(options);
}

}  // namespace qi

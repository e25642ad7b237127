// The CPU backend object: host memory, poisoning, memory statistics, profiling and dispatch to the op
// implementations in cpu_*.cpp.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace qi {
namespace {

using cpu::CpuContext;

constexpr std::string_view kReferenceVariant = "reference";
// Every byte 0xFF: a NaN in F32, F16 and BF16 alike, and the documented poison for I32 and U8.
constexpr int kPoisonByte = 0xFF;

bool known_op(std::string_view op) {
  const auto& names = all_op_names();
  return std::find(names.begin(), names.end(), op) != names.end();
}

// Wall-clock time of one op while profiling is on; a single branch when it is off.
class OpTimer {
 public:
  OpTimer(std::map<std::string, OpTiming, std::less<>>* timings, std::string_view op)
      : timings_(timings), op_(op) {
    if (timings_) start_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (!timings_) return;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    auto it = timings_->find(op_);
    if (it == timings_->end()) it = timings_->emplace(std::string(op_), OpTiming{std::string(op_), 0, 0}).first;
    ++it->second.count;
    it->second.total_ms += ms;
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  std::map<std::string, OpTiming, std::less<>>* timings_;
  std::string_view op_;
  std::chrono::steady_clock::time_point start_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads)
      : pool_(threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()))),
        counter_(std::make_shared<cpu::MemoryCounter>()),
        ctx_{*this, pool_} {}

  std::string name() const override { return "cpu"; }

  // ---- memory -----------------------------------------------------------------------------------------
  Tensor empty(const Shape& shape, DType dtype) override {
    for (int64_t d : shape)
      if (d < 0) cpu::fail("empty", "negative dimension in " + shape_str(shape));
    size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
    auto storage = std::make_shared<cpu::HostStorage>(bytes, this, counter_);
    if (poison_) std::memset(storage->data(), kPoisonByte, bytes);
    return Tensor(std::move(storage), shape, dtype);
  }

  Tensor from_host(const void* data, DType src_dtype, const Shape& shape, DType dtype) override {
    bool widen = dtype == DType::F32 && cpu::is_float_dtype(src_dtype);
    if (src_dtype != dtype && !widen)
      cpu::fail("from_host", "cannot convert " + std::string(dtype_name(src_dtype)) + " to " +
                                 std::string(dtype_name(dtype)) + " (only F32/F16/BF16 -> F32 or an exact copy)");
    Tensor t = empty(shape, dtype);
    if (t.numel() == 0) return t;
    if (!data) cpu::fail("from_host", "null data for " + t.describe());
    if (src_dtype == dtype)
      std::memcpy(cpu::raw_data(t), data, t.bytes());
    else
      cpu::widen_to_f32(data, src_dtype, t.numel(), cpu::f32_data(t));
    return t;
  }

  // Weights keep their format: F16/BF16 are widened inside the GEMM, so nothing can overflow here.
  Tensor upload_weight(const void* data, DType src_dtype, const Shape& shape, WeightUploadStats* stats) override {
    if (!cpu::is_float_dtype(src_dtype))
      cpu::fail("upload_weight", "weights must be F32, F16 or BF16, got " + std::string(dtype_name(src_dtype)) +
                                     shape_str(shape));
    Tensor t = from_host(data, src_dtype, shape, src_dtype);
    if (stats) stats->values += t.numel();
    return t;
  }

  // Host memory is all the CPU backend has: a host weight is an ordinary weight tensor.
  Tensor upload_host_weight(const void* data, DType src_dtype, const Shape& shape, WeightUploadStats* stats) override {
    return upload_weight(data, src_dtype, shape, stats);
  }

  void copy_into(const Tensor& dst, const Tensor& src) override {
    OpTimer timer(timer_target(), "copy_into");
    cpu::check_tensor(ctx_, "copy_into", "dst", dst);
    cpu::check_tensor(ctx_, "copy_into", "src", src);
    if (dst.dtype() != src.dtype() || dst.numel() != src.numel())
      cpu::fail("copy_into", "src " + src.describe() + " does not match dst " + dst.describe());
    if (dst.bytes() > 0) std::memmove(cpu::raw_data(dst), cpu::raw_data(src), dst.bytes());
  }

  void to_host(const Tensor& t, void* dst) override {
    cpu::check_tensor(ctx_, "to_host", "tensor", t);
    if (t.bytes() > 0) std::memcpy(dst, cpu::raw_data(t), t.bytes());
  }

  void set_poison_allocations(bool on) override { poison_ = on; }

  MemoryStats memory_stats() const override {
    uint64_t in_use = counter_->in_use.load();
    return MemoryStats{in_use, counter_->peak.load(), in_use};
  }

  void reset_peak_memory() override { counter_->peak = counter_->in_use.load(); }

  // ---- execution control: every op has finished when it returns -------------------------------------
  void flush() override {}
  void begin_stage(std::string_view) override {}
  void end_stage() override {}

  void set_profiling(bool on) override {
    profiling_ = on;
    if (on) timings_.clear();
  }

  std::vector<OpTiming> op_timings() override {
    std::vector<OpTiming> out;
    for (const auto& [name, timing] : timings_) out.push_back(timing);
    return out;
  }

  std::vector<std::string> variants(std::string_view op) const override {
    if (!known_op(op)) return {};
    return {std::string(kReferenceVariant)};
  }

  void select_variant(std::string_view op, std::string_view variant) override {
    if (!known_op(op)) cpu::fail("select_variant", "unknown op '" + std::string(op) + "'");
    if (!variant.empty() && variant != kReferenceVariant)
      cpu::fail("select_variant", "op '" + std::string(op) + "' has no variant '" + std::string(variant) +
                                      "' (the CPU backend has only 'reference')");
  }

  // ---- ops --------------------------------------------------------------------------------------------
  Tensor matmul(const Tensor& x, const Tensor& w, const MatmulArgs& args) override {
    OpTimer timer(timer_target(), "matmul");
    return cpu::matmul(ctx_, x, w, args);
  }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) override {
    OpTimer timer(timer_target(), "attention");
    return cpu::attention(ctx_, q, k, v, args);
  }
  Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) override {
    OpTimer timer(timer_target(), "rms_norm");
    return cpu::rms_norm(ctx_, x, weight, eps);
  }
  Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps) override {
    OpTimer timer(timer_target(), "layer_norm_modulate");
    return cpu::layer_norm_modulate(ctx_, x, shift, scale, eps);
  }
  Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma) override {
    OpTimer timer(timer_target(), "channel_rms_norm");
    return cpu::channel_rms_norm(ctx_, x, gamma);
  }
  Tensor rope(const Tensor& x, const Tensor& table, RopeStyle style) override {
    OpTimer timer(timer_target(), "rope");
    return cpu::rope(ctx_, x, table, style);
  }
  Tensor rms_norm_rope(const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                       RopeStyle style) override {
    OpTimer timer(timer_target(), "rms_norm_rope");
    return cpu::rms_norm_rope(ctx_, x, weight, eps, table, style);
  }
  Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args) override {
    OpTimer timer(timer_target(), "conv3d");
    return cpu::conv3d(ctx_, x, w, bias, args);
  }
  Tensor upsample_nearest2x(const Tensor& x) override {
    OpTimer timer(timer_target(), "upsample_nearest2x");
    return cpu::upsample_nearest2x(ctx_, x);
  }
  Tensor unary(const Tensor& x, UnaryOp op) override {
    OpTimer timer(timer_target(), "unary");
    return cpu::unary(ctx_, x, op);
  }
  Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) override {
    OpTimer timer(timer_target(), "binary");
    return cpu::binary(ctx_, a, b, op);
  }
  Tensor scale(const Tensor& x, float alpha, float beta) override {
    OpTimer timer(timer_target(), "scale");
    return cpu::scale(ctx_, x, alpha, beta);
  }
  Tensor concat(const Tensor& a, const Tensor& b, int axis) override {
    OpTimer timer(timer_target(), "concat");
    return cpu::concat(ctx_, a, b, axis);
  }
  Tensor slice(const Tensor& x, int axis, int64_t start, int64_t length) override {
    OpTimer timer(timer_target(), "slice");
    return cpu::slice(ctx_, x, axis, start, length);
  }
  Tensor transpose(const Tensor& x) override {
    OpTimer timer(timer_target(), "transpose");
    return cpu::transpose(ctx_, x);
  }
  Tensor pack_patches(const Tensor& latents) override {
    OpTimer timer(timer_target(), "pack_patches");
    return cpu::pack_patches(ctx_, latents);
  }
  Tensor unpack_patches(const Tensor& packed, int64_t channels, int64_t height, int64_t width) override {
    OpTimer timer(timer_target(), "unpack_patches");
    return cpu::unpack_patches(ctx_, packed, channels, height, width);
  }
  Tensor timestep_embedding(const Tensor& t, int dim, float scale, float max_period) override {
    OpTimer timer(timer_target(), "timestep_embedding");
    return cpu::timestep_embedding(ctx_, t, dim, scale, max_period);
  }
  Tensor to_rgb8(const Tensor& x) override {
    OpTimer timer(timer_target(), "to_rgb8");
    return cpu::to_rgb8(ctx_, x);
  }
  Tensor guided_euler_step(const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond, float guidance,
                           float dt) override {
    OpTimer timer(timer_target(), "guided_euler_step");
    return cpu::guided_euler_step(ctx_, x, v_cond, v_uncond, guidance, dt);
  }

 private:
  std::map<std::string, OpTiming, std::less<>>* timer_target() { return profiling_ ? &timings_ : nullptr; }

  cpu::ThreadPool pool_;
  std::shared_ptr<cpu::MemoryCounter> counter_;
  CpuContext ctx_;
  bool poison_ = false;
  bool profiling_ = false;
  std::map<std::string, OpTiming, std::less<>> timings_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace qi

// The op interface. Model code is written once against Backend and never knows which implementation runs
// it (the MLX split: each primitive has a CPU and a GPU twin behind one interface).
//
// Conventions shared by every op:
//  * Activations are F32. Weights may be F32, F16 or BF16 (each backend picks its storage format in
//    upload_weight). Outputs are fresh tensors allocated by the backend.
//  * Linear layers follow PyTorch: W is [N, K] and y = x·Wᵀ + b.
//  * Sequence tensors are token-major: [B, S, H, D] for attention heads, [B, M, C] or [M, C] for rows.
//  * VAE tensors are channel-first with batch 1: [C, T, H, W].
//  * Ops may run asynchronously; to_host() and flush() are the synchronisation points.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace qi {

enum class Activation : uint8_t { None, GeluTanh, Silu };
enum class UnaryOp : uint8_t { Silu, GeluTanh };
enum class BinaryOp : uint8_t { Add, Mul };
enum class RopeStyle : uint8_t {
  Interleaved,  // pairs (2k, 2k+1): the MMDiT (spec §3.4)
  HalfSplit,    // pairs (k, k + D/2): the text encoder (spec §5.3)
};

struct MatmulArgs {
  Tensor bias;                          // [N], optional
  Activation act = Activation::None;    // applied to x·Wᵀ + b
  // Gated residual epilogue: y = residual + gate ⊙ act(x·Wᵀ + b). residual has y's shape; gate is [B, N]
  // for x = [B, M, K] (row r of batch item b uses gate[b]) or [N]. Both optional; gate needs residual.
  Tensor residual;
  Tensor gate;
};

struct AttentionArgs {
  float scale = 1.0f;   // multiplies Q·Kᵀ
  bool causal = false;  // query i sees keys j <= i + (Sk - Sq)
  Tensor key_mask;      // [B, Sk] F32, 1 = attend, 0 = masked; optional
};

// The MMDiT's per-head Q/K normalisation and rotary embedding of one operand set (spec §3.4), for
// Backend::joint_attention to apply: q ← rms_norm_rope(q, q_weight, eps, table, style), k likewise with
// k_weight. Undefined (no table): q and k are used as given.
struct QkNormRope {
  Tensor q_weight, k_weight;  // [D], optional as rms_norm's weight
  Tensor table;               // [S, D/2, 2] (cos θ, sin θ) per position of the operand set
  float eps = 1e-6f;
  RopeStyle style = RopeStyle::Interleaved;
  bool defined() const { return table.defined(); }
};

// One set of attention operands: q [B, Sq, Hq, D], k and v [B, Sk, Hkv, D], and (joint attention) the Q/K
// norm and rotation still to apply.
struct AttentionOperands {
  Tensor q, k, v;
  QkNormRope norm;
};
// The MMDiT's feed-forward layers of one stream (Backend::modulated_mlp): up [F, C], down [C, F], biases
// optional, and the activation between them.
struct MlpWeights {
  Tensor up, up_bias, down, down_bias;
  Activation act = Activation::GeluTanh;
};

// The two parts of a joint attention's output (see Backend::joint_attention).
struct AttentionSplit {
  Tensor first, second;
};

struct Conv3dArgs {
  int stride[3] = {1, 1, 1};   // t, h, w
  int pad[3] = {0, 0, 0};      // t, h, w; spatial padding is symmetric zero padding
  // Causal in time (the VAE's CausalConv3d): the input is zero-padded by 2·pad_t frames at the front only.
  // If cache is given ([Cin, Tc, H, W], Tc <= 2·pad_t), its frames replace the last Tc of those zeros.
  bool causal = true;
  Tensor cache;
};

// Statistics of one weight upload (the bf16 -> fp16 conversion can overflow).
struct WeightUploadStats {
  int64_t values = 0;
  int64_t overflowed = 0;  // finite values that became ±inf in the storage format (reported, never silent)
};

struct MemoryStats {
  uint64_t in_use = 0;   // bytes held by live tensors
  uint64_t peak = 0;     // high-water mark of in_use since the last reset_peak()
  uint64_t reserved = 0; // bytes obtained from the system / driver
};

// Per-op device time from timestamps (only when profiling is on).
struct OpTiming {
  std::string op;
  uint64_t count = 0;
  double total_ms = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // ---- memory -----------------------------------------------------------------------------------------
  virtual Tensor empty(const Shape& shape, DType dtype) = 0;
  // Uploads host data (src_dtype elements) as a tensor of dtype (conversion F32/F16/BF16 -> F32, or exact copy).
  virtual Tensor from_host(const void* data, DType src_dtype, const Shape& shape, DType dtype) = 0;
  // Uploads a weight, stored in the backend's preferred format for src_dtype. Adds to stats if given.
  virtual Tensor upload_weight(const void* data, DType src_dtype, const Shape& shape,
                               WeightUploadStats* stats = nullptr) = 0;
  // Weight streaming (model/weight_stream.h): a weight kept in host memory, in the same storage format
  // upload_weight would choose, that ops do not read directly: copy_into() brings it into a device tensor of
  // the same dtype and size. On the Vulkan backend it lives in host-visible memory that the GPU copies from
  // (not counted in memory_stats); on the CPU backend it is an ordinary tensor. to_host() reads it.
  virtual Tensor upload_host_weight(const void* data, DType src_dtype, const Shape& shape,
                                    WeightUploadStats* stats = nullptr) = 0;
  // Copies src's bytes into dst (same dtype and element count; src a tensor or a host weight of this
  // backend, dst a tensor). Ordered like an op: dst's earlier readers see the old contents, later ops the new.
  virtual void copy_into(const Tensor& dst, const Tensor& src) = 0;
  // Copies the tensor's raw elements to host memory (dst holds t.bytes()); waits for pending work.
  virtual void to_host(const Tensor& t, void* dst) = 0;
  // Fills every newly allocated tensor with NaN (F32/F16/BF16) or 0xFF bytes, so an op that fails to write
  // an element is caught. Used by the parity tests.
  virtual void set_poison_allocations(bool on) = 0;
  virtual MemoryStats memory_stats() const = 0;
  virtual void reset_peak_memory() = 0;

  // ---- execution control ------------------------------------------------------------------------------
  // Submits recorded work and waits for it.
  virtual void flush() = 0;
  // Names the stage the following ops belong to (text encoder, denoise, decode): Vulkan submits per stage.
  virtual void begin_stage(std::string_view name) = 0;
  virtual void end_stage() = 0;
  virtual void set_profiling(bool on) = 0;
  // Per-op device times accumulated since profiling was switched on.
  virtual std::vector<OpTiming> op_timings() = 0;

  // Shader variants (e.g. "matmul": {"scalar", "coopmat_nv"}). select_variant("", ...) restores automatic
  // choice. The CPU backend has a single "reference" variant for each op.
  virtual std::vector<std::string> variants(std::string_view op) const = 0;
  virtual void select_variant(std::string_view op, std::string_view variant) = 0;

  // Synthetic kernels that measure a ceiling of the device rather than compute an op (e.g. the tensor cores'
  // multiply-add rate with every operand in registers); `bench kernels` times them like ops. Each with the
  // FLOPs of one run; run_ceiling_kernel records one run of a named one. None on backends without any.
  struct CeilingKernel {
    std::string name;
    double flops = 0;
  };
  virtual std::vector<CeilingKernel> ceiling_kernels() const { return {}; }
  virtual void run_ceiling_kernel(std::string_view name);

  // ---- ops --------------------------------------------------------------------------------------------
  // y[..., N] = epilogue(x[..., K] · w[N, K]ᵀ).
  virtual Tensor matmul(const Tensor& x, const Tensor& w, const MatmulArgs& args = {}) = 0;
  // Several products of one input (the Q, K and V projections): y[i] = matmul(x, w[i], args[i]). A backend
  // may prepare x once for all of them (the Vulkan tensor-core kernels pack it to scaled fp16 once); the
  // default calls matmul for each.
  virtual std::vector<Tensor> matmul_many(const Tensor& x, std::span<const Tensor> w,
                                          std::span<const MatmulArgs> args);
  // Products of one modulated input (the MMDiT's Q/K/V and MLP-in projections, spec §3.5):
  //   y[i] = matmul(layer_norm_modulate(x, shift, scale, eps), w[i], args[i]).
  // A backend may never materialise the normalised input (the Vulkan tensor-core kernels normalise, modulate
  // and pack it to scaled fp16 in one pass); the default composes the two ops (the reference).
  virtual std::vector<Tensor> modulated_matmul_many(const Tensor& x, const Tensor& shift, const Tensor& scale,
                                                    float eps, std::span<const Tensor> w,
                                                    std::span<const MatmulArgs> args);
  // The MMDiT's gated feed-forward sub-block of one stream (spec §3.5):
  //   y = x + gate ⊙ (act(layer_norm_modulate(x, shift, scale, eps)·upᵀ + up_bias)·downᵀ + down_bias)
  // (gate as matmul's; undefined: y = x + ...). A backend may keep the hidden activations in its own format
  // (the Vulkan tensor-core kernels write them as the down projection's scaled fp16 input); the default
  // composes modulated_matmul_many and matmul (the reference).
  virtual Tensor modulated_mlp(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps,
                               const MlpWeights& w, const Tensor& gate);
  // q [B, Sq, Hq, D], k/v [B, Sk, Hkv, D] (Hq % Hkv == 0; query head j uses kv head j / (Hq/Hkv))
  // -> [B, Sq, Hq, D]. softmax(scale·Q·Kᵀ + mask)·V with fp32 statistics, never the full score matrix.
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) = 0;
  // Joint attention (the MMDiT's text and image tokens, spec §3.4): attention over the two operand sets
  // concatenated along the sequence axis, first's tokens first, with the output split the same way:
  //   o = attention(concat(first.q, second.q, 1), concat(first.k, second.k, 1), concat(first.v, second.v, 1))
  //   -> {o[:, :first.q.dim(1)], o[:, first.q.dim(1):]}.
  // key_mask covers the joint keys. An operand set with `norm` has its q and k normalised and rotated first
  // (rms_norm_rope, each set with its own weights and table). Backends may avoid materialising the
  // normalised operands, the concatenations and the split; the default composes the ops (the reference).
  virtual AttentionSplit joint_attention(const AttentionOperands& first, const AttentionOperands& second,
                                         const AttentionArgs& args);

  // y = x · rsqrt(mean(x², last axis) + eps) · weight (weight [C] optional). Per-head norms reshape first.
  virtual Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) = 0;
  // y = LN(x)·(1 + scale) + shift; x [B, M, C] (or [M, C] with B = 1), shift/scale [B, C]; LN has no affine.
  virtual Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, float eps) = 0;
  // VAE norm over the channel axis 0 of x [C, ...]: y = x / max(‖x[:, p]‖₂, 1e-12) · √C · gamma[c].
  virtual Tensor channel_rms_norm(const Tensor& x, const Tensor& gamma) = 0;

  // x [B, S, H, D]; table [S, D/2, 2] F32 holding (cos θ, sin θ) of each rotation pair for each position.
  virtual Tensor rope(const Tensor& x, const Tensor& table, RopeStyle style) = 0;
  // rope(rms_norm(x, weight, eps), table, style) in one pass: the per-head Q/K norm then RoPE (x [B, S, H, D]).
  virtual Tensor rms_norm_rope(const Tensor& x, const Tensor& weight, float eps, const Tensor& table,
                               RopeStyle style) = 0;

  // x [Cin, T, H, W], w [Cout, Cin, kT, kH, kW], bias [Cout] optional -> [Cout, T', H', W'].
  virtual Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dArgs& args) = 0;
  // Nearest-neighbour 2× upsampling of the two last axes: [C, T, H, W] -> [C, T, 2H, 2W].
  virtual Tensor upsample_nearest2x(const Tensor& x) = 0;

  virtual Tensor unary(const Tensor& x, UnaryOp op) = 0;
  // b has a's shape, or is 1-D with a.dim(-1) elements (broadcast over rows).
  virtual Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) = 0;
  // y = alpha·x + beta.
  virtual Tensor scale(const Tensor& x, float alpha, float beta = 0.0f) = 0;

  virtual Tensor concat(const Tensor& a, const Tensor& b, int axis) = 0;
  virtual Tensor slice(const Tensor& x, int axis, int64_t start, int64_t length) = 0;
  // x cut into `parts` equal slices along axis (its length a multiple of parts): slice(x, axis, i·L, L) for
  // i < parts, L = length / parts (the six modulation vectors of a block, spec §3.5). A backend may write
  // them in one pass; the default slices.
  virtual std::vector<Tensor> chunk(const Tensor& x, int axis, int parts);
  // Swaps the last two axes: [..., R, C] -> [..., C, R].
  virtual Tensor transpose(const Tensor& x) = 0;
  // 2×2 patchify of latents [C, H, W] -> [(H/2)·(W/2), 4C] with feature order (c, dy, dx) (spec §2.4).
  virtual Tensor pack_patches(const Tensor& latents) = 0;
  // Inverse of pack_patches: [N, 4C] -> [C, H, W].
  virtual Tensor unpack_patches(const Tensor& packed, int64_t channels, int64_t height, int64_t width) = 0;

  // Sinusoidal features of t [B]: [B, dim] = [cos(a_0..a_{dim/2-1}), sin(...)],
  // a_k = scale · (t · exp(−ln(max_period)·k/(dim/2))) (diffusers Timesteps, flip_sin_to_cos=True, shift 0).
  virtual Tensor timestep_embedding(const Tensor& t, int dim, float scale, float max_period) = 0;

  // x [3, H, W] in [-1, 1] -> U8 [H, W, 3]: round_half_even(clamp(clamp(x,-1,1)·0.5 + 0.5, 0, 1)·255).
  virtual Tensor to_rgb8(const Tensor& x) = 0;

  // One guided Euler step on packed latents x [N, C] (spec §2.7):
  //   v = v_uncond + g·(v_cond − v_uncond);  v ← v · ‖v_cond‖_row / ‖v‖_row;  x' = x + dt·v.
  // With v_uncond undefined: x' = x + dt·v_cond.
  virtual Tensor guided_euler_step(const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond,
                                   float guidance, float dt) = 0;

  // ---- helpers built on the above (not virtual) -------------------------------------------------------
  std::vector<float> to_host_f32(const Tensor& t);
  Tensor from_host_f32(const std::vector<float>& v, const Shape& shape) {
    return from_host(v.data(), DType::F32, shape, DType::F32);
  }
};

// Names of every op in the interface, for the parity harness and the microbenchmarks.
const std::vector<std::string>& all_op_names();

}  // namespace qi

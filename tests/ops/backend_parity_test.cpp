// Backend parity harness (in the style of ggml's test-backend-ops): every op of the Backend interface runs a
// table of cases on each backend under test and on the CPU reference backend, for every variant the backend
// offers, and the outputs are compared by relative L2 and max abs error.
//
// Each case draws fresh random non-zero inputs from a seeded RNG: odd sizes, sizes that are not multiples of
// 16/32/64 tiles, the model's shapes scaled down, at least one real-size shape per op (kept cheap: short
// sequences, small images) and, for matmul, attention, joint_attention, conv3d and rms_norm_rope, activations
// of magnitude 1e7 (fp16 overflows there). The backends under test poison their allocations, so an element
// an op fails to write shows up as NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/op_test_util.h"

// 1: the Vulkan backend is among the backends under test, and every one of its cases must leave the
// validation layers silent.
#define QI_PARITY_WITH_VULKAN 1
#if QI_PARITY_WITH_VULKAN
#include "backend/vulkan/vulkan_backend.h"
#endif

namespace qi::test {
namespace {

constexpr float kHuge = 1e7f;  // activation magnitude that overflows fp16
constexpr uint64_t kSeed = 0x9e3779b97f4a7c15ull;

// Per-dtype tolerances (relative L2, max abs relative to the largest |expected|).
constexpr Tolerance kF32{1e-5, 1e-4};        // fp32 operands
constexpr Tolerance kHalfWeights{3e-3, 3e-2}; // F16 / BF16 weights (a backend may compute with fp16 operands)
// Angles up to 1000 rad in fp32 (spec §3.2): half an ulp of the angle is 3e-5 before sin/cos.
constexpr Tolerance kLargeAngles{1e-4, 1e-3};

// Tensor-core variants ("coopmat_*") convert fp32 activations to fp16 operands (scaled so they cannot
// overflow): they get the fp16-operand tolerance whatever the inputs' dtype.
Tolerance variant_tolerance(const Tolerance& t, const std::string& variant) {
  if (variant.find("coopmat") == std::string::npos) return t;
  return {std::max(t.rel_l2, kHalfWeights.rel_l2), std::max(t.max_abs_rel, kHalfWeights.max_abs_rel)};
}

struct BackendUnderTest {
  std::string label;
  std::unique_ptr<Backend> backend;
  bool vulkan = false;
};

// The backends compared with the CPU reference. A second CPU backend with another thread count checks the
// harness itself and that results do not depend on threading.
std::vector<BackendUnderTest> backends_under_test() {
  std::vector<BackendUnderTest> list;
  list.push_back({"cpu-1-thread", make_cpu_backend(1), false});
#if QI_PARITY_WITH_VULKAN
  list.push_back({"vulkan", make_vulkan_backend({.validation = true, .verbose = false}), true});
#endif
  return list;
}

uint64_t validation_messages(const BackendUnderTest& b) {
#if QI_PARITY_WITH_VULKAN
  if (b.vulkan) return vulkan_validation_message_count();
#endif
  (void)b;
  return 0;
}

// A case: its label, tolerance, and a maker that draws the inputs and returns the computation to run on any
// backend (the same host data for all of them).
using CaseRun = std::function<Tensor(Backend&)>;
struct ParityCase {
  std::string name;
  Tolerance tol;
  std::function<CaseRun(Rng&)> make;
};

std::shared_ptr<const HostTensor> shared(HostTensor t) { return std::make_shared<const HostTensor>(std::move(t)); }

Tolerance weight_tolerance(DType d) { return d == DType::F32 ? kF32 : kHalfWeights; }
// prefix followed by the dims joined with 'x', e.g. dims("x", {2, 3}) = "x2x3".
std::string dims(const char* prefix, const Shape& s) {
  std::string out = prefix;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

// ---- matmul -------------------------------------------------------------------------------------------------

enum class Gate { None, Flat, PerItem };
struct MatmulSpec {
  Shape x;
  int64_t n;
  DType wdtype = DType::F32;
  bool bias = false;
  Activation act = Activation::None;
  bool residual = false;
  Gate gate = Gate::None;
  float magnitude = 1.0f;
};

ParityCase matmul_case(const MatmulSpec& s) {
  std::string name = dims("x", s.x) + "_N" + std::to_string(s.n) + "_" + std::string(dtype_name(s.wdtype));
  if (s.bias) name += "_bias";
  if (s.act == Activation::GeluTanh) name += "_gelu";
  if (s.act == Activation::Silu) name += "_silu";
  if (s.residual) name += s.gate == Gate::None ? "_residual" : s.gate == Gate::Flat ? "_gate[N]" : "_gate[B,N]";
  if (s.magnitude != 1.0f) name += "_x1e7";
  return {name, weight_tolerance(s.wdtype), [s](Rng& rng) -> CaseRun {
            // Shared, not copied: the real-size weights are tens of MB and the run closure is copied around.
            auto x = shared(random_tensor(rng, s.x, s.magnitude));
            auto w = shared(random_weight(rng, {s.n, s.x.back()}, s.wdtype));
            auto b = shared(random_weight(rng, {s.n}, s.wdtype));
            Shape y = s.x;
            y.back() = s.n;
            auto res = shared(random_tensor(rng, y, s.magnitude));
            const int64_t items = s.x.size() >= 3 ? s.x[0] : 1;
            auto gate = shared(random_tensor(rng, s.gate == Gate::PerItem ? Shape{items, s.n} : Shape{s.n}));
            return [=](Backend& be) {
              MatmulArgs args;
              if (s.bias) args.bias = upload_as_weight(be, *b);
              args.act = s.act;
              if (s.residual) args.residual = upload(be, *res);
              if (s.gate != Gate::None) args.gate = upload(be, *gate);
              return be.matmul(upload(be, *x), upload_as_weight(be, *w), args);
            };
          }};
}

// modulated_matmul: products of layer_norm_modulate(x, shift, scale) with several weights, compared joined
// along the last axis. magnitude scales x (around a mean far from zero) and shift: 1e7 makes the modulated
// input itself huge.
struct ModulatedMatmulSpec {
  Shape x, mod;
  std::vector<int64_t> n;
  DType wdtype;
  bool bias = false;
  Activation act = Activation::None;
  float magnitude = 1.0f;
};

ParityCase modulated_matmul_case(const ModulatedMatmulSpec& s) {
  std::string name = dims("x", s.x) + dims("_mod", s.mod) + "_N";
  for (size_t i = 0; i < s.n.size(); ++i) name += (i ? "+" : "") + std::to_string(s.n[i]);
  name += "_" + std::string(dtype_name(s.wdtype));
  if (s.bias) name += "_bias";
  if (s.act == Activation::GeluTanh) name += "_gelu";
  if (s.magnitude != 1.0f) name += "_x1e7";
  return {name, weight_tolerance(s.wdtype), [s](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, s.x, s.magnitude);
            for (float& v : xs.values) v += 3.0f * s.magnitude;  // a mean far from zero
            auto x = shared(std::move(xs));
            auto shift = shared(random_tensor(rng, s.mod, s.magnitude)), scale = shared(random_tensor(rng, s.mod));
            std::vector<std::shared_ptr<const HostTensor>> w, b;
            for (int64_t n : s.n) {
              w.push_back(shared(random_weight(rng, {n, s.x.back()}, s.wdtype)));
              b.push_back(shared(random_weight(rng, {n}, s.wdtype)));
            }
            return [=](Backend& be) {
              std::vector<Tensor> weights;
              std::vector<MatmulArgs> args;
              for (size_t i = 0; i < w.size(); ++i) {
                weights.push_back(upload_as_weight(be, *w[i]));
                args.push_back({.bias = s.bias ? upload_as_weight(be, *b[i]) : Tensor(), .act = s.act});
              }
              const std::vector<Tensor> y =
                  be.modulated_matmul_many(upload(be, *x), upload(be, *shift), upload(be, *scale), 1e-6f, weights, args);
              Tensor joined = y.front();
              for (size_t i = 1; i < y.size(); ++i) joined = be.concat(joined, y[i], -1);
              return joined;
            };
          }};
}

std::vector<ParityCase> modulated_matmul_cases() {
  return {
      modulated_matmul_case({{2, 17, 96}, {2, 96}, {96, 96, 96}, DType::F16, true}),  // Q/K/V, per-item modulation
      modulated_matmul_case({{33, 200}, {200}, {130}, DType::BF16, true, Activation::GeluTanh, kHuge}),
      modulated_matmul_case({{20, 3072}, {1, 3072}, {256, 64}, DType::BF16, true}),  // real width
      // Rows longer than the fused pass holds in registers (read four times), and few rows (the gemv path).
      modulated_matmul_case({{10, 16400}, {16400}, {24}, DType::F16, false, Activation::None, kHuge}),
      modulated_matmul_case({{1, 4, 64}, {1, 64}, {40}, DType::BF16, true}),
  };
}

// modulated_mlp: x + gate ⊙ (act(LN-modulate(x)·upᵀ + b)·downᵀ + b). magnitude scales x and shift as above.
struct ModulatedMlpSpec {
  Shape x, mod;
  int64_t hidden;
  DType wdtype;
  bool bias = true;
  Gate gate = Gate::None;
  float magnitude = 1.0f;
  Activation act = Activation::GeluTanh;
};

ParityCase modulated_mlp_case(const ModulatedMlpSpec& s) {
  std::string name = dims("x", s.x) + dims("_mod", s.mod) + "_F" + std::to_string(s.hidden) + "_" +
                     std::string(dtype_name(s.wdtype));
  if (!s.bias) name += "_nobias";
  if (s.act == Activation::Silu) name += "_silu";
  if (s.gate != Gate::None) name += s.gate == Gate::Flat ? "_gate[N]" : "_gate[B,N]";
  if (s.magnitude != 1.0f) name += "_x1e7";
  return {name, weight_tolerance(s.wdtype), [s](Rng& rng) -> CaseRun {
            const int64_t c = s.x.back(), items = s.x.size() >= 3 ? s.x[0] : 1;
            HostTensor xs = random_tensor(rng, s.x, s.magnitude);
            for (float& v : xs.values) v += 3.0f * s.magnitude;  // a mean far from zero
            auto x = shared(std::move(xs));
            auto shift = shared(random_tensor(rng, s.mod, s.magnitude)), scale = shared(random_tensor(rng, s.mod));
            auto up = shared(random_weight(rng, {s.hidden, c}, s.wdtype)), up_b = shared(random_weight(rng, {s.hidden}, s.wdtype));
            auto down = shared(random_weight(rng, {c, s.hidden}, s.wdtype)), down_b = shared(random_weight(rng, {c}, s.wdtype));
            auto gate = shared(random_tensor(rng, s.gate == Gate::PerItem ? Shape{items, c} : Shape{c}));
            return [=](Backend& be) {
              MlpWeights w{upload_as_weight(be, *up), s.bias ? upload_as_weight(be, *up_b) : Tensor(),
                           upload_as_weight(be, *down), s.bias ? upload_as_weight(be, *down_b) : Tensor(), s.act};
              return be.modulated_mlp(upload(be, *x), upload(be, *shift), upload(be, *scale), 1e-6f, w,
                                      s.gate == Gate::None ? Tensor() : upload(be, *gate));
            };
          }};
}

std::vector<ParityCase> modulated_mlp_cases() {
  return {
      modulated_mlp_case({{2, 17, 96}, {2, 96}, 256, DType::F16, true, Gate::PerItem}),
      modulated_mlp_case({{40, 200}, {200}, 136, DType::BF16, true, Gate::Flat, kHuge}),  // hidden not a tile multiple
      modulated_mlp_case({{33, 64}, {1, 64}, 100, DType::BF16, false, Gate::None, 1.0f, Activation::Silu}),  // F % 8 ≠ 0
      modulated_mlp_case({{64, 512}, {1, 512}, 2048, DType::F16, true, Gate::Flat, kHuge}),  // deep K (split-K down)
      modulated_mlp_case({{1, 3, 64}, {1, 64}, 128, DType::BF16}),                         // few rows (gemv)
  };
}

std::vector<ParityCase> matmul_cases() {
  using A = Activation;
  return {
      matmul_case({{1, 1}, 1}),
      matmul_case({{7, 13}, 5}),
      matmul_case({{37, 300}, 129, DType::F32, true}),
      matmul_case({{65, 257}, 97, DType::BF16, true, A::GeluTanh}),
      matmul_case({{33, 64}, 80, DType::F16, false, A::Silu}),
      matmul_case({{2, 17, 96}, 130, DType::F32, true, A::None, true, Gate::PerItem}),
      matmul_case({{3, 5, 48}, 33, DType::BF16, true, A::GeluTanh, true, Gate::Flat}),
      matmul_case({{20, 40}, 24, DType::F32, true, A::None, true, Gate::None}),
      matmul_case({{64, 3072}, 3072, DType::F32, true}),                               // real: attention projection
      matmul_case({{1, 8, 3072}, 3072, DType::BF16, true, A::None, true, Gate::PerItem}),  // real: to_out + gate
      matmul_case({{8, 3072}, 12288, DType::BF16, true, A::GeluTanh}),                 // real: FFN up
      matmul_case({{13, 257}, 31, DType::F32, true, A::None, false, Gate::None, kHuge}),
      matmul_case({{1, 16, 3072}, 64, DType::BF16, true, A::None, true, Gate::Flat, kHuge}),  // real: proj_out
      // The tensor-core variants' activation packing: K = 12288 (FFN down) read once into registers, and K past
      // what the registers hold (16384 at 256 threads per row) read twice.
      matmul_case({{24, 12288}, 40, DType::F16, false, A::None, false, Gate::None, kHuge}),
      matmul_case({{16, 16400}, 24, DType::BF16, true, A::None, false, Gate::None, kHuge}),
      // Split-K on the workgroup-scope tile (few output tiles, deep K: the text stream's shape class): partial
      // products summed by a second pass that applies the whole epilogue; N not a multiple of 4, and one that is.
      matmul_case({{2, 40, 2048}, 130, DType::BF16, true, A::GeluTanh, true, Gate::PerItem, kHuge}),
      matmul_case({{64, 4096}, 256, DType::F16, true, A::None, true, Gate::Flat}),
  };
}

// ---- attention ----------------------------------------------------------------------------------------------

struct AttentionSpec {
  int64_t batch, sq, sk, hq, hkv, d;
  bool causal = false;
  bool mask = false;
  float qk_magnitude = 1.0f, v_magnitude = 1.0f;
  bool mask_last_item_fully = false;  // every key of the last batch item masked: its rows must be zeros
  float k_factor = 1.0f;  // k's magnitude is qk_magnitude · k_factor (q large and k small: moderate scores)
};

ParityCase attention_case(const AttentionSpec& s) {
  std::string name = std::string("B") + std::to_string(s.batch) + "_Sq" + std::to_string(s.sq) + "_Sk" + std::to_string(s.sk) +
                     "_H" + std::to_string(s.hq) + "/" + std::to_string(s.hkv) + "_D" + std::to_string(s.d);
  if (s.causal) name += "_causal";
  if (s.mask) name += s.mask_last_item_fully ? "_mask_all" : "_mask";
  if (s.qk_magnitude != 1.0f) name += "_qk" + std::to_string(int(s.qk_magnitude));
  if (s.v_magnitude != 1.0f) name += "_v1e7";
  if (s.k_factor != 1.0f) name += "_ksmall";
  return {name, kF32, [s](Rng& rng) -> CaseRun {
            HostTensor q = random_tensor(rng, {s.batch, s.sq, s.hq, s.d}, s.qk_magnitude);
            HostTensor k = random_tensor(rng, {s.batch, s.sk, s.hkv, s.d}, s.qk_magnitude * s.k_factor);
            HostTensor v = random_tensor(rng, {s.batch, s.sk, s.hkv, s.d}, s.v_magnitude);
            std::vector<float> mask(size_t(s.batch * s.sk), 1.0f);
            std::bernoulli_distribution keep(0.7);
            for (float& m : mask) m = keep(rng) ? 1.0f : 0.0f;
            if (s.mask_last_item_fully) std::fill(mask.end() - s.sk, mask.end(), 0.0f);
            return [=](Backend& be) {
              AttentionArgs args;
              args.scale = float(1.0 / std::sqrt(double(s.d)));
              args.causal = s.causal;
              if (s.mask) args.key_mask = be.from_host_f32(mask, {s.batch, s.sk});
              return be.attention(upload(be, q), upload(be, k), upload(be, v), args);
            };
          }};
}

std::vector<ParityCase> attention_cases() {
  return {
      attention_case({1, 1, 1, 1, 1, 8}),
      attention_case({2, 5, 9, 6, 2, 8}),
      attention_case({1, 70, 77, 4, 4, 24}),
      attention_case({1, 100, 100, 2, 1, 64, true}),
      attention_case({1, 5, 12, 2, 1, 16, true}),
      attention_case({1, 12, 5, 2, 2, 16, true}),  // Sq > Sk: the first rows see no key -> zeros
      attention_case({2, 11, 17, 3, 3, 40, false, true}),
      attention_case({2, 6, 6, 2, 1, 8, false, true, 1, 1, true}),
      attention_case({1, 80, 80, 24, 24, 128, false, true}),   // real: joint DiT attention, text mask
      attention_case({1, 40, 40, 28, 4, 128, true, true}),     // real: text encoder, GQA 7:1
      attention_case({1, 64, 64, 1, 1, 384}),                  // real: VAE mid-block, head dim 384
      attention_case({1, 33, 33, 4, 2, 64, false, false, 1, kHuge}),
      attention_case({1, 9, 21, 4, 1, 128, true, false, 30, kHuge}),
      // Head dim 128 without causal masking (the tensor-core kernels): several query blocks with whole and
      // partial ones, key counts off every tile size, GQA, a fully masked batch item; q and v of 1e7 with k of
      // 1e-7 (every operand needs its fp16 scale; the scores stay moderate, as after Qwen-Image's QK norm).
      attention_case({2, 300, 281, 4, 2, 128, false, true, 1, 1, true}),
      attention_case({1, 130, 77, 3, 3, 128, false, false, kHuge, kHuge, false, 1.0f / (kHuge * kHuge)}),
      // Head dim 128 with causal masking (the register-softmax tensor-core kernel): tiles across the diagonal
      // and query blocks that stop early; Sk > Sq (rows see up to i + Sk − Sq) with operands of 1e7 and 1e-7;
      // Sq > Sk, where whole query blocks see no key and must produce zeros.
      attention_case({1, 300, 300, 4, 2, 128, true, true}),
      attention_case({2, 150, 260, 3, 1, 128, true, false, kHuge, kHuge, false, 1.0f / (kHuge * kHuge)}),
      attention_case({1, 200, 90, 2, 2, 128, true}),
      // Head dim 384 without causal masking (the wide-head tensor-core kernel): the same kinds of cases, with
      // query blocks of 32 and 64 rows, whole and partial, and key counts off the 16-key tile.
      attention_case({2, 100, 83, 2, 1, 384, false, true, 1, 1, true}),
      attention_case({1, 70, 45, 1, 1, 384, false, false, kHuge, kHuge, false, 1.0f / (kHuge * kHuge)}),
  };
}

// Joint attention: two operand sets (text then image tokens in the MMDiT) attended as one sequence; the two
// output parts are compared joined.
// The operand sets' Q/K norm and RoPE (QkNormRope): none, both sets (interleaved or half-split pairs), or the
// first set only.
enum class QkNorm { None, Both, BothHalfSplit, FirstOnly };
struct JointAttentionSpec {
  int64_t batch, first, second, hq, hkv, d;
  bool mask = false;
  float qk_magnitude = 1.0f, v_magnitude = 1.0f, k_factor = 1.0f;
  QkNorm norm = QkNorm::None;
};

ParityCase joint_attention_case(const JointAttentionSpec& s) {
  std::string name = std::string("B") + std::to_string(s.batch) + "_S" + std::to_string(s.first) + "+" +
                     std::to_string(s.second) + "_H" + std::to_string(s.hq) + "/" + std::to_string(s.hkv) + "_D" +
                     std::to_string(s.d);
  if (s.mask) name += "_mask";
  if (s.qk_magnitude != 1.0f || s.v_magnitude != 1.0f) name += s.k_factor == 1.0f ? "_qkv1e7" : "_q_v1e7_ksmall";
  if (s.norm != QkNorm::None)
    name += s.norm == QkNorm::Both ? "_qknorm" : s.norm == QkNorm::BothHalfSplit ? "_qknorm_halfsplit" : "_qknorm_first";
  return {name, kF32, [s](Rng& rng) -> CaseRun {
            auto operands = [&](int64_t len) {
              return std::array<HostTensor, 3>{random_tensor(rng, {s.batch, len, s.hq, s.d}, s.qk_magnitude),
                                               random_tensor(rng, {s.batch, len, s.hkv, s.d}, s.qk_magnitude * s.k_factor),
                                               random_tensor(rng, {s.batch, len, s.hkv, s.d}, s.v_magnitude)};
            };
            const std::array<HostTensor, 3> a = operands(s.first), b = operands(s.second);
            // Per set: q and k norm weights (BF16) and a table of random rotations for its positions.
            auto norm_parts = [&](int64_t len) {
              std::vector<float> table(size_t(len * s.d));
              std::uniform_real_distribution<float> angle(-3.14159f, 3.14159f);
              for (size_t i = 0; i < table.size(); i += 2) {
                const float t = angle(rng);
                table[i] = std::cos(t);
                table[i + 1] = std::sin(t);
              }
              return std::array<HostTensor, 3>{random_weight(rng, {s.d}, DType::BF16), random_weight(rng, {s.d}, DType::BF16),
                                               HostTensor{{len, s.d / 2, 2}, DType::F32, table}};
            };
            const std::array<HostTensor, 3> na = norm_parts(s.first), nb = norm_parts(s.second);
            const int64_t sk = s.first + s.second;
            std::vector<float> mask(size_t(s.batch * sk), 1.0f);
            std::bernoulli_distribution keep(0.7);
            for (float& m : mask) m = keep(rng) ? 1.0f : 0.0f;
            return [=](Backend& be) {
              AttentionArgs args;
              args.scale = float(1.0 / std::sqrt(double(s.d)));
              if (s.mask) args.key_mask = be.from_host_f32(mask, {s.batch, sk});
              const RopeStyle style = s.norm == QkNorm::BothHalfSplit ? RopeStyle::HalfSplit : RopeStyle::Interleaved;
              auto norm = [&](const std::array<HostTensor, 3>& n, bool on) {
                return on ? QkNormRope{upload_as_weight(be, n[0]), upload_as_weight(be, n[1]), upload(be, n[2]), 1e-6f, style}
                          : QkNormRope{};
              };
              const bool first_norm = s.norm != QkNorm::None, second_norm = first_norm && s.norm != QkNorm::FirstOnly;
              const AttentionSplit o =
                  be.joint_attention({upload(be, a[0]), upload(be, a[1]), upload(be, a[2]), norm(na, first_norm)},
                                     {upload(be, b[0]), upload(be, b[1]), upload(be, b[2]), norm(nb, second_norm)}, args);
              return be.concat(o.first, o.second, 1);
            };
          }};
}

std::vector<ParityCase> joint_attention_cases() {
  return {
      joint_attention_case({1, 5, 11, 2, 2, 8}),
      joint_attention_case({2, 3, 9, 4, 2, 24, true}),
      // Head dim 128 (the tensor-core kernels): a query block across the split, whole blocks on both sides
      // (130 first tokens), partial last blocks, a text mask, GQA; q and v of 1e7 with k of 1e-7.
      joint_attention_case({2, 7, 300, 4, 4, 128, true}),
      joint_attention_case({1, 130, 129, 2, 1, 128}),
      joint_attention_case({1, 64, 80, 24, 24, 128, true}),  // real: text and image tokens of the DiT
      joint_attention_case({1, 20, 150, 3, 3, 128, false, kHuge, kHuge, 1.0f / (kHuge * kHuge)}),
      // The MMDiT's per-head Q/K norm and RoPE applied by the attention (folded into the tensor-core kernels'
      // packing where both sets have one, interleaved): q, k and v of 1e7; GQA with a mask; the first set only,
      // half-split pairs and a head dim the tensor cores do not take (composed).
      joint_attention_case({1, 64, 80, 24, 24, 128, false, kHuge, kHuge, 1.0f, QkNorm::Both}),
      joint_attention_case({2, 7, 300, 4, 2, 128, true, 1.0f, 1.0f, 1.0f, QkNorm::Both}),
      joint_attention_case({1, 30, 70, 2, 2, 128, false, 1.0f, 1.0f, 1.0f, QkNorm::FirstOnly}),
      joint_attention_case({1, 30, 70, 2, 2, 128, false, 1.0f, 1.0f, 1.0f, QkNorm::BothHalfSplit}),
      joint_attention_case({1, 5, 11, 2, 2, 8, false, 1.0f, 1.0f, 1.0f, QkNorm::Both}),
  };
}

// ---- norms, rope ------------------------------------------------------------------------------------------------

ParityCase rms_norm_case(const Shape& x, bool weight, DType wdtype, float magnitude = 1.0f) {
  std::string name = dims("x", x) + (weight ? "_w" + std::string(dtype_name(wdtype)) : "_noweight");
  return {name, kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x, magnitude);
            HostTensor w = random_weight(rng, {x.back()}, wdtype);
            return [=](Backend& be) {
              return be.rms_norm(upload(be, xs), weight ? upload_as_weight(be, w) : Tensor(), 1e-6f);
            };
          }};
}

ParityCase layer_norm_case(const Shape& x, const Shape& mod) {
  return {dims("x", x) + dims("_mod", mod), kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x, 2.0f);
            for (float& v : xs.values) v += 3.0f;  // a mean far from zero
            HostTensor shift = random_tensor(rng, mod), scale = random_tensor(rng, mod);
            return [=](Backend& be) {
              return be.layer_norm_modulate(upload(be, xs), upload(be, shift), upload(be, scale), 1e-6f);
            };
          }};
}

ParityCase channel_norm_case(const Shape& x, const Shape& gamma, DType gdtype) {
  return {dims("x", x) + dims("_gamma", gamma) + "_" + std::string(dtype_name(gdtype)), kF32,
          [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x, 3.0f);
            HostTensor g = random_weight(rng, gamma, gdtype);
            return [=](Backend& be) { return be.channel_rms_norm(upload(be, xs), upload_as_weight(be, g)); };
          }};
}

std::string style_name(RopeStyle style) { return style == RopeStyle::Interleaved ? "_interleaved" : "_halfsplit"; }

// A (cos θ, sin θ) table [S, D/2, 2] of random angles for x [B, S, H, D].
std::vector<float> random_rope_table(Rng& rng, const Shape& x) {
  std::uniform_real_distribution<double> angle(-50, 50);
  std::vector<float> table;
  for (int64_t i = 0; i < x[1] * x[3] / 2; ++i) {
    double a = angle(rng);
    table.push_back(float(std::cos(a)));
    table.push_back(float(std::sin(a)));
  }
  return table;
}

ParityCase rope_case(const Shape& x, RopeStyle style) {
  return {dims("x", x) + style_name(style), kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x);
            std::vector<float> table = random_rope_table(rng, x);
            return [=](Backend& be) {
              return be.rope(upload(be, xs), be.from_host_f32(table, {x[1], x[3] / 2, 2}), style);
            };
          }};
}

ParityCase rms_norm_rope_case(const Shape& x, RopeStyle style, bool weight, DType wdtype, float magnitude = 1.0f) {
  std::string name = dims("x", x) + style_name(style) + (weight ? "_w" + std::string(dtype_name(wdtype)) : "_noweight");
  if (magnitude != 1.0f) name += "_x1e7";
  return {name, kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x, magnitude);
            HostTensor w = random_weight(rng, {x.back()}, wdtype);
            std::vector<float> table = random_rope_table(rng, x);
            return [=](Backend& be) {
              return be.rms_norm_rope(upload(be, xs), weight ? upload_as_weight(be, w) : Tensor(), 1e-6f,
                                      be.from_host_f32(table, {x[1], x[3] / 2, 2}), style);
            };
          }};
}

std::vector<ParityCase> rms_norm_rope_cases() {
  using R = RopeStyle;
  const DType F32 = DType::F32, F16 = DType::F16, BF16 = DType::BF16;
  return {
      rms_norm_rope_case({1, 7, 3, 8}, R::Interleaved, false, F32),
      rms_norm_rope_case({2, 9, 5, 18}, R::HalfSplit, true, F32),
      rms_norm_rope_case({2, 3, 1, 2}, R::Interleaved, true, BF16),
      rms_norm_rope_case({3, 5, 2, 130}, R::HalfSplit, true, F16),     // pairs past a whole share per thread
      rms_norm_rope_case({1, 80, 24, 128}, R::Interleaved, true, BF16),  // real: DiT Q/K
      rms_norm_rope_case({1, 80, 24, 128}, R::Interleaved, false, F32),
      rms_norm_rope_case({1, 40, 28, 128}, R::HalfSplit, true, BF16),
      rms_norm_rope_case({1, 33, 24, 128}, R::Interleaved, true, BF16, kHuge),
      rms_norm_rope_case({2, 5, 3, 66}, R::HalfSplit, false, F32, kHuge),
      // Head vectors longer than the Vulkan kernel holds in registers (x read twice).
      rms_norm_rope_case({1, 2, 1, 8200}, R::Interleaved, true, F32),
      rms_norm_rope_case({1, 1, 2, 8200}, R::HalfSplit, false, F32, kHuge),
  };
}

// ---- conv3d ---------------------------------------------------------------------------------------------------

struct ConvSpec {
  Shape x;                     // [Cin, T, H, W]
  int64_t cout, kt, kh, kw;
  int stride[3], pad[3];
  bool causal = true;
  int64_t cache_frames = 0;
  DType wdtype = DType::F32;
  bool bias = true;
  float magnitude = 1.0f, cache_magnitude = 1.0f;  // of x and of the frame cache
};

ParityCase conv_case(const ConvSpec& s) {
  std::string name = dims("x", s.x) + "_Cout" + std::to_string(s.cout) + "_k" + std::to_string(s.kt) +
                     std::to_string(s.kh) + std::to_string(s.kw) + "_s" + std::to_string(s.stride[0]) +
                     std::to_string(s.stride[1]) + std::to_string(s.stride[2]) + "_p" + std::to_string(s.pad[0]) +
                     std::to_string(s.pad[1]) + std::to_string(s.pad[2]) + (s.causal ? "_causal" : "_symmetric") +
                     (s.cache_frames ? "_cache" + std::to_string(s.cache_frames) : "") + "_" +
                     std::string(dtype_name(s.wdtype)) + (s.bias ? "_bias" : "") +
                     (s.magnitude != 1.0f ? "_x1e7" : "") + (s.cache_magnitude != 1.0f ? "_cache1e7" : "");
  return {name, weight_tolerance(s.wdtype), [s](Rng& rng) -> CaseRun {
            auto x = shared(random_tensor(rng, s.x, s.magnitude));
            auto w = shared(random_weight(rng, {s.cout, s.x[0], s.kt, s.kh, s.kw}, s.wdtype));
            auto b = shared(random_weight(rng, {s.cout}, s.wdtype));
            auto cache = shared(
                random_tensor(rng, {s.x[0], std::max<int64_t>(s.cache_frames, 1), s.x[2], s.x[3]}, s.cache_magnitude));
            return [=](Backend& be) {
              Conv3dArgs args;
              for (int i = 0; i < 3; ++i) {
                args.stride[i] = s.stride[i];
                args.pad[i] = s.pad[i];
              }
              args.causal = s.causal;
              if (s.cache_frames) args.cache = upload(be, *cache);
              return be.conv3d(upload(be, *x), upload_as_weight(be, *w), s.bias ? upload_as_weight(be, *b) : Tensor(),
                               args);
            };
          }};
}

// Cases with Cin % 8 == 0 run the tensor-core variants (coopmat_nv*) where the device has them; the others
// run the scalar kernel under every variant (the coopmat_nv fallback).
std::vector<ParityCase> conv3d_cases() {
  const DType F32 = DType::F32, F16 = DType::F16, BF16 = DType::BF16;
  return {
      conv_case({{3, 1, 5, 7}, 4, 3, 3, 3, {1, 1, 1}, {1, 1, 1}}),
      conv_case({{5, 3, 6, 5}, 7, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, BF16}),
      conv_case({{6, 2, 4, 4}, 5, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, true, 0, F32, false}),
      conv_case({{4, 3, 3, 5}, 8, 3, 1, 1, {1, 1, 1}, {1, 0, 0}, true, 1, F16}),  // time_conv with cache
      conv_case({{3, 4, 9, 8}, 2, 3, 3, 3, {2, 2, 2}, {1, 1, 1}}),
      conv_case({{3, 1, 9, 7}, 2, 1, 3, 3, {1, 2, 2}, {0, 0, 0}}),
      conv_case({{2, 3, 5, 5}, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, false}),
      conv_case({{2, 2, 4, 3}, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 2}),
      conv_case({{33, 1, 17, 19}, 35, 3, 3, 3, {1, 1, 1}, {1, 1, 1}}),
      // Cin % 8 == 0 (tensor-core variants): every temporal tap, strides, symmetric padding, caches, several
      // row and column tiles with edges, packing tiles with partial channel and position runs.
      conv_case({{8, 3, 5, 6}, 24, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, F16}),
      conv_case({{16, 2, 5, 6}, 16, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 2, BF16}),
      conv_case({{24, 3, 4, 5}, 48, 3, 1, 1, {1, 1, 1}, {1, 0, 0}, true, 1}),  // time_conv with cache
      conv_case({{8, 5, 9, 10}, 5, 3, 3, 3, {2, 2, 2}, {1, 1, 1}}),
      conv_case({{16, 4, 7, 9}, 6, 2, 3, 2, {1, 2, 1}, {1, 1, 0}, true, 1}),
      conv_case({{16, 3, 6, 6}, 130, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, false, 0, BF16}),
      conv_case({{32, 1, 40, 37}, 40, 1, 3, 3, {1, 1, 1}, {0, 1, 1}}),
      conv_case({{80, 1, 6, 70}, 136, 1, 3, 3, {1, 1, 1}, {0, 1, 1}, true, 0, F16, false}),
      conv_case({{16, 2, 7, 5}, 8, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, true, 0, F32, false}),
      conv_case({{24, 2, 7, 9}, 33, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 1, F32, true, kHuge, kHuge}),
      conv_case({{16, 1, 5, 6}, 20, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 2, BF16, true, 1.0f, kHuge}),
      conv_case({{384, 1, 8, 8}, 384, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, BF16}),  // real: VAE mid block
      conv_case({{16, 1, 6, 10}, 384, 3, 3, 3, {1, 1, 1}, {1, 1, 1}}),                // real: conv_in
      conv_case({{96, 1, 16, 16}, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}}),                 // real: conv_out
      conv_case({{384, 1, 8, 8}, 192, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, true, 0, BF16}),  // real: shortcut
  };
}

// ---- element-wise and layout ------------------------------------------------------------------------------------

ParityCase unary_case(const Shape& x, UnaryOp op, float magnitude) {
  return {dims("x", x) + (op == UnaryOp::Silu ? "_silu" : "_gelu"), kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x, magnitude);
            return [=](Backend& be) { return be.unary(upload(be, xs), op); };
          }};
}

ParityCase binary_case(const Shape& a, const Shape& b, BinaryOp op) {
  return {dims("a", a) + dims("_b", b) + (op == BinaryOp::Add ? "_add" : "_mul"), kF32, [=](Rng& rng) -> CaseRun {
            HostTensor as = random_tensor(rng, a), bs = random_tensor(rng, b);
            return [=](Backend& be) { return be.binary(upload(be, as), upload(be, bs), op); };
          }};
}

ParityCase scale_case(const Shape& x, float alpha, float beta) {
  return {dims("x", x) + "_a" + std::to_string(alpha) + "_b" + std::to_string(beta), kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x, 5.0f);
            return [=](Backend& be) { return be.scale(upload(be, xs), alpha, beta); };
          }};
}

ParityCase upsample_case(const Shape& x) {
  return {dims("x", x), kExact, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x);
            return [=](Backend& be) { return be.upsample_nearest2x(upload(be, xs)); };
          }};
}

// An I32 tensor of distinct values (exercises the raw-element path of the layout ops).
Tensor int_tensor(Backend& be, const Shape& shape, int32_t offset) {
  std::vector<int32_t> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t(i) * 3 - offset;
  return be.from_host(v.data(), DType::I32, shape, DType::I32);
}

ParityCase concat_case(const Shape& a, const Shape& b, int axis, bool ints = false) {
  return {dims("a", a) + dims("_b", b) + "_axis" + std::to_string(axis) + (ints ? "_I32" : ""), kExact,
          [=](Rng& rng) -> CaseRun {
            HostTensor as = random_tensor(rng, a), bs = random_tensor(rng, b);
            return [=](Backend& be) {
              if (ints) return be.concat(int_tensor(be, a, 5), int_tensor(be, b, 1000), axis);
              return be.concat(upload(be, as), upload(be, bs), axis);
            };
          }};
}

ParityCase slice_case(const Shape& x, int axis, int64_t start, int64_t length, bool ints = false) {
  return {dims("x", x) + "_axis" + std::to_string(axis) + "_" + std::to_string(start) + "+" + std::to_string(length) +
              (ints ? "_I32" : ""),
          kExact, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x);
            return [=](Backend& be) {
              return be.slice(ints ? int_tensor(be, x, 7) : upload(be, xs), axis, start, length);
            };
          }};
}

// chunk: the parts compared joined along the axis (which gives x back).
ParityCase chunk_case(const Shape& x, int axis, int parts, bool ints = false) {
  return {dims("x", x) + "_axis" + std::to_string(axis) + "_parts" + std::to_string(parts) + (ints ? "_I32" : ""),
          kExact, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x);
            return [=](Backend& be) {
              const std::vector<Tensor> y = be.chunk(ints ? int_tensor(be, x, 5) : upload(be, xs), axis, parts);
              if (y.size() != size_t(parts)) throw std::logic_error("chunk returned the wrong number of parts");
              Tensor joined = y.front();
              for (size_t i = 1; i < y.size(); ++i) joined = be.concat(joined, y[i], axis);
              return joined;
            };
          }};
}

ParityCase transpose_case(const Shape& x, bool ints = false) {
  return {dims("x", x) + (ints ? "_I32" : ""), kExact, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x);
            return [=](Backend& be) { return be.transpose(ints ? int_tensor(be, x, 11) : upload(be, xs)); };
          }};
}

ParityCase pack_case(int64_t c, int64_t h, int64_t w) {
  return {dims("latents", {c, h, w}), kExact, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, {c, h, w});
            return [=](Backend& be) { return be.pack_patches(upload(be, xs)); };
          }};
}

ParityCase unpack_case(int64_t c, int64_t h, int64_t w) {
  return {dims("to", {c, h, w}), kExact, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, {(h / 2) * (w / 2), 4 * c});
            return [=](Backend& be) { return be.unpack_patches(upload(be, xs), c, h, w); };
          }};
}

// ---- embedding, image, guidance ---------------------------------------------------------------------------------

ParityCase timestep_case(std::vector<float> t, int dim, float scale, float max_period) {
  return {std::string("B") + std::to_string(t.size()) + "_dim" + std::to_string(dim) + "_scale" + std::to_string(int(scale)),
          kLargeAngles, [=](Rng&) -> CaseRun {
            return [=](Backend& be) {
              return be.timestep_embedding(be.from_host_f32(t, {int64_t(t.size())}), dim, scale, max_period);
            };
          }};
}

ParityCase rgb8_case(int64_t h, int64_t w, bool ties) {
  return {"x3x" + std::to_string(h) + "x" + std::to_string(w) + (ties ? "_ties" : ""), kExact,
          [=](Rng& rng) -> CaseRun {
            HostTensor x = random_tensor(rng, {3, h, w}, 1.2f);  // some values outside [-1, 1]
            if (ties) {
              std::vector<float> t = rgb8_tie_inputs();
              std::copy_n(t.begin(), std::min(t.size(), x.values.size()), x.values.begin());
            }
            return [=](Backend& be) { return be.to_rgb8(upload(be, x)); };
          }};
}

ParityCase euler_case(const Shape& x, bool guided, float guidance, float dt) {
  return {dims("x", x) + (guided ? "_g" + std::to_string(guidance) : "_unguided"), kF32, [=](Rng& rng) -> CaseRun {
            HostTensor xs = random_tensor(rng, x), vc = random_tensor(rng, x), vu = random_tensor(rng, x);
            return [=](Backend& be) {
              return be.guided_euler_step(upload(be, xs), upload(be, vc), guided ? upload(be, vu) : Tensor(), guidance,
                                          dt);
            };
          }};
}

// ---- the table --------------------------------------------------------------------------------------------------

const std::map<std::string, std::vector<ParityCase>>& parity_cases() {
  using R = RopeStyle;
  static const std::map<std::string, std::vector<ParityCase>> table = {
      {"matmul", matmul_cases()},
      {"modulated_matmul", modulated_matmul_cases()},
      {"modulated_mlp", modulated_mlp_cases()},
      {"attention", attention_cases()},
      {"joint_attention", joint_attention_cases()},
      {"rms_norm",
       {rms_norm_case({3, 5, 7}, false, DType::F32), rms_norm_case({2, 9, 4, 128}, true, DType::BF16),
        rms_norm_case({2, 1, 130}, true, DType::F32, 1000.0f),
        rms_norm_case({1, 80, 24, 128}, true, DType::BF16),  // real: per-head QK norm
        rms_norm_case({7, 3584}, true, DType::F32)}},        // real: txt_norm
      {"layer_norm_modulate",
       {layer_norm_case({2, 9, 33}, {2, 33}), layer_norm_case({5, 40}, {40}), layer_norm_case({3, 1, 7}, {3, 7}),
        layer_norm_case({37, 3072}, {1, 3072}),  // real: block norm
        layer_norm_case({3, 8200}, {8200})}},     // rows longer than the Vulkan kernel holds in registers
      {"channel_rms_norm",
       {channel_norm_case({4, 1, 5, 3}, {4}, DType::F32), channel_norm_case({96, 2, 7, 9}, {96, 1, 1, 1}, DType::BF16),
        channel_norm_case({384, 1, 8, 8}, {384, 1, 1, 1}, DType::BF16)}},  // real: VAE mid block
      {"rope",
       {rope_case({1, 7, 3, 8}, R::Interleaved), rope_case({2, 9, 5, 18}, R::HalfSplit),
        rope_case({2, 3, 1, 2}, R::Interleaved), rope_case({1, 80, 24, 128}, R::Interleaved),  // real: DiT
        rope_case({1, 40, 28, 128}, R::HalfSplit)}},                                             // real: text encoder
      {"rms_norm_rope", rms_norm_rope_cases()},
      {"conv3d", conv3d_cases()},
      {"upsample_nearest2x",
       {upsample_case({3, 1, 5, 7}), upsample_case({2, 3, 4}), upsample_case({384, 1, 8, 8})}},  // last: real
      {"unary",
       {unary_case({7, 131}, UnaryOp::Silu, 6.0f), unary_case({3, 33}, UnaryOp::GeluTanh, 6.0f),
        unary_case({5, 12288}, UnaryOp::GeluTanh, 4.0f),  // real: FFN width
        unary_case({384, 1, 8, 8}, UnaryOp::Silu, 3.0f)}},
      {"binary",
       {binary_case({3, 4, 7}, {3, 4, 7}, BinaryOp::Add), binary_case({3, 4, 7}, {7}, BinaryOp::Mul),
        binary_case({5, 13}, {5, 13}, BinaryOp::Mul), binary_case({64, 3072}, {3072}, BinaryOp::Add)}},
      {"scale",
       {scale_case({1000}, 2.5f, -0.75f), scale_case({16, 4, 6, 6}, -1.0f, 0.0f), scale_case({3, 7}, 0.18215f, 1.0f)}},
      {"concat",
       {concat_case({2, 3, 4}, {2, 5, 4}, 1), concat_case({2, 3, 4}, {2, 3, 9}, -1), concat_case({3, 5}, {4, 5}, 0),
        concat_case({7, 3}, {7, 6}, 1, true), concat_case({1, 16, 24, 128}, {1, 64, 24, 128}, 1)}},  // last: real
      {"slice",
       {slice_case({5, 7}, 0, 1, 3), slice_case({2, 9, 4}, -2, 4, 5), slice_case({3, 11}, 1, 10, 1),
        slice_case({6, 10}, 1, 3, 5, true), slice_case({1, 18432}, 1, 3072, 3072)}},  // last: real modulation chunk
      {"chunk",
       {chunk_case({2, 6, 7}, 1, 3), chunk_case({4, 10}, 0, 2, true), chunk_case({3, 12}, -1, 12),  // > 8 parts: slices
        chunk_case({2, 40}, 1, 8), chunk_case({1, 18432}, -1, 6)}},  // last: real modulation vectors
      {"transpose",
       {transpose_case({5, 7}), transpose_case({2, 33, 65}), transpose_case({1, 1}), transpose_case({9, 17}, true),
        transpose_case({384, 64})}},  // real: VAE attention tokens
      {"pack_patches", {pack_case(5, 6, 10), pack_case(1, 2, 2), pack_case(16, 32, 32)}},        // last: real
      {"unpack_patches", {unpack_case(5, 6, 10), unpack_case(3, 2, 4), unpack_case(16, 32, 32)}},
      {"timestep_embedding",
       {timestep_case({0.0f, 0.5f, 1.0f}, 8, 1.0f, 10000.0f), timestep_case({0.02001953125f, 0.98828125f}, 256, 1000.0f, 10000.0f),
        timestep_case({3.0f, 250.0f, 999.0f}, 32, 1.0f, 100.0f)}},
      {"to_rgb8", {rgb8_case(1, 1, false), rgb8_case(17, 23, false), rgb8_case(16, 16, true), rgb8_case(64, 48, false)}},
      {"guided_euler_step",
       {euler_case({37, 64}, true, 4.0f, -0.0213f), euler_case({37, 64}, false, 1.0f, -0.05f),
        euler_case({2, 11, 64}, true, 2.5f, -0.1f), euler_case({256, 64}, true, 4.0f, -0.0198f)}},  // last: real
  };
  return table;
}

// ---- the harness ------------------------------------------------------------------------------------------------

uint64_t case_seed(const std::string& op, size_t index) {
  return kSeed ^ (std::hash<std::string>{}(op) + 0x632be59bd9b4e019ull * (index + 1));
}

class BackendParity : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    reference_ = make_cpu_backend(2).release();
    reference_->set_poison_allocations(true);
    under_test_ = new std::vector<BackendUnderTest>(backends_under_test());
    for (BackendUnderTest& b : *under_test_) b.backend->set_poison_allocations(true);
  }
  static void TearDownTestSuite() {
    delete under_test_;
    delete reference_;
    under_test_ = nullptr;
    reference_ = nullptr;
  }

  static Backend* reference_;
  static std::vector<BackendUnderTest>* under_test_;
};
Backend* BackendParity::reference_ = nullptr;
std::vector<BackendUnderTest>* BackendParity::under_test_ = nullptr;

TEST_P(BackendParity, MatchesCpuReference) {
  const std::string& op = GetParam();
  auto it = parity_cases().find(op);
  ASSERT_NE(it, parity_cases().end()) << "no parity cases for op " << op;
  const std::vector<ParityCase>& cases = it->second;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ParityCase& c = cases[i];
    Rng rng(case_seed(op, i));
    const CaseRun run = c.make(rng);
    const std::vector<float> expected = reference_->to_host_f32(run(*reference_));
    for (BackendUnderTest& b : *under_test_) {
      std::vector<std::string> variants = b.backend->variants(op);
      if (variants.empty()) variants.push_back("");  // automatic choice only
      for (const std::string& variant : variants) {
        const std::string what = b.label + " " + op + "/" + (variant.empty() ? "auto" : variant) + " " + c.name;
        b.backend->select_variant(op, variant);
        const uint64_t messages_before = validation_messages(b);
        std::vector<float> actual;
        try {
          actual = b.backend->to_host_f32(run(*b.backend));
        } catch (const std::exception& e) {
          ADD_FAILURE() << what << ": threw " << e.what();
          continue;
        }
        Diff d = expect_close(actual, expected, variant_tolerance(c.tol, variant), what);
        EXPECT_EQ(validation_messages(b), messages_before) << what << ": Vulkan validation messages";
        std::printf("[parity] %-52s rel_l2 %.2e  max_abs %.2e\n", what.c_str(), d.rel_l2, d.max_abs);
      }
      b.backend->select_variant(op, "");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, BackendParity, ::testing::ValuesIn(all_op_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(BackendParityTable, CoversEveryOpWithSeveralCasesAndHugeActivations) {
  for (const std::string& op : all_op_names()) {
    auto it = parity_cases().find(op);
    ASSERT_NE(it, parity_cases().end()) << op;
    EXPECT_GE(it->second.size(), 3u) << op;
  }
  EXPECT_EQ(parity_cases().size(), all_op_names().size()) << "cases for an op the interface does not have";
  for (const char* op : {"matmul", "modulated_matmul", "modulated_mlp", "attention", "joint_attention", "conv3d", "rms_norm_rope"}) {
    bool huge = false;
    for (const ParityCase& c : parity_cases().at(op)) huge |= c.name.find("1e7") != std::string::npos;
    EXPECT_TRUE(huge) << op << " needs a 1e7-magnitude activation case";
  }
}

}  // namespace
}  // namespace qi::test

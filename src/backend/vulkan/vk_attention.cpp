// attention: softmax(scale·Q·Kᵀ + mask)·V, flash-style (never the full score matrix). Variants:
//  "scalar": fp32 online softmax, compiled per head-dimension class (attention_scalar_d64/d128/d384); the
//            smallest class that holds the head dim runs.
//  "coopmat_nv": head dim 128 on NVIDIA tensor cores (attention_pack converts Q, K, V to scaled fp16, then
//            the flash loop runs); other shapes fall back to scalar. The loop is
//            attention_coopmat_nv_register_softmax (softmax on the score accumulators in registers, causal
//            masking included) where the probed accumulator layout is one it handles (vk_coopmat_layout.h),
//            else attention_coopmat_nv (scores through shared memory, no assumption; causal attention runs
//            scalar). "coopmat_nv_shared_softmax" and "coopmat_nv_register_softmax_<config>" force one kernel
//            and configuration.
//  "coopmat_nv_workgroup_<config>": attention_coopmat_workgroup on workgroup-scope matrices
//            (VK_NV_cooperative_matrix2 with conversions) where the probed workgroup-scope accumulator layout
//            is the one it was compiled for (vk_coopmat_workgroup_layout.h).
//  "coopmat_nv_wide_head_<config>": attention_coopmat_nv_wide_head for the head dim it was compiled for (384,
//            the VAE's single head), the head split over several subgroups; the automatic "coopmat_nv" runs the
//            first usable one for that head dim (same layout condition as the register-softmax kernel).
#include <algorithm>
#include <array>
#include <optional>

#include "backend/vulkan/vk_coopmat_layout.h"
#include "backend/vulkan/vk_coopmat_workgroup_layout.h"
#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr std::string_view kOp = "attention";
// joint_attention runs the same kernels; its variant is selected apart (the same list), so that the parity
// harness and benchmarks can run it with each.
constexpr std::string_view kJointOp = "joint_attention";
constexpr const char* kScalar = "scalar";
constexpr std::string_view kCoopmatNv = "coopmat_nv";
constexpr const char* kSharedSoftmax = "coopmat_nv_shared_softmax";
constexpr std::string_view kRegisterSoftmaxPrefix = "coopmat_nv_register_softmax_";
// The register-softmax shaders compiled with causal masking: attention_<variant><kCausalSuffix>.
constexpr const char* kCausalSuffix = "_causal";
// attention_coopmat_nv.comp: head dim D, BR query rows per workgroup of 8 subgroups of 32, 46 KiB shared.
constexpr int64_t kCoopmatHeadDim = 128;
constexpr uint32_t kCoopmatQueryRows = 128;
constexpr uint32_t kCoopmatSubgroup = 32;
constexpr uint32_t kCoopmatMma = 16;  // 16×16×16 fp16 cooperative matrices (MMA in the shaders)
constexpr uint32_t kCoopmatShared = 47 * 1024;

// Configurations of attention_coopmat_nv_register_softmax.comp (mirror QI_ATTENTION_REGISTER_SOFTMAX_CONFIGS
// in shaders/shaders.cmake): 16 query rows per subgroup, bc keys per tile.
struct RegisterSoftmaxConfig {
  const char* name;
  uint32_t subgroups, bc;
  uint32_t query_rows() const { return subgroups * kRowsPerSubgroup; }
  // Shared memory: the staged K and V tiles (fp16 rows of D padded by one 16-byte chunk), the tile's key
  // scales and biases, and a 16-row fp32 output patch per subgroup (rows padded by 4 floats).
  uint32_t shared_bytes() const {
    constexpr uint32_t kChunkBytes = 16, kHalvesPerChunk = 8, kFloatBytes = 4, kPatchPad = 4;
    const uint32_t row_chunks = uint32_t(kCoopmatHeadDim) / kHalvesPerChunk + 1;
    return 2 * bc * row_chunks * kChunkBytes + 2 * bc * kFloatBytes +
           subgroups * kRowsPerSubgroup * (kRowsPerSubgroup + kPatchPad) * kFloatBytes;
  }
  static constexpr uint32_t kRowsPerSubgroup = 16;
};
// Measured on an H100 (docs/performance.md, 2026-11-22, three runs), TFLOP/s at S4352 / S7145: br64_bc32
// (4 subgroups, 225 registers, two workgroups per SM) 96-98 / 104-106, br128_bc64 (8 subgroups, 245
// registers) 93-95 / 107-109; dropped: 8 subgroups with 32-key tiles 90 / 103, 4 with 64-key tiles 76 / 92,
// no prefetch 94 / 105, the score sum split in two chains 96 / 104. The shared-softmax kernel: 76 / 85.
constexpr RegisterSoftmaxConfig kRegisterSoftmaxConfigs[] = {
    {"br64_bc32", 4, 32},
    {"br128_bc64", 8, 64},
};
// The automatic choice where the accumulator layout allows it: br128_bc64 for grids of at least
// kLargeGridWorkgroups of its workgroups (S7145 × 24 heads: 1344, about ten waves of one per SM on an
// H100), br64_bc32 below (S4352: 816).
constexpr const RegisterSoftmaxConfig& kRegisterSoftmaxSmallGrid = kRegisterSoftmaxConfigs[0];
constexpr const RegisterSoftmaxConfig& kRegisterSoftmaxLargeGrid = kRegisterSoftmaxConfigs[1];
constexpr uint64_t kLargeGridWorkgroups = 1024;

std::string register_softmax_variant(const RegisterSoftmaxConfig& c) {
  return std::string(kRegisterSoftmaxPrefix) + c.name;
}
// attention_coopmat_workgroup.comp's configuration (mirrors QI_ATTENTION_WORKGROUP_CONFIGS in
// shaders/shaders.cmake): br query rows per workgroup of `threads`, bc keys per tile, compiled for a
// grid_cols-wide subgroup grid of its accumulators Sᵀ (bc × br) and Oᵀ (head dim × br).
struct WorkgroupAttentionConfig {
  const char* name;
  uint32_t br, bc, threads, grid_cols;
  // Shared memory: the K and V tiles (fp16 rows padded by one 16-byte chunk), the keys' scales and biases, a
  // column value per query and grid row.
  uint32_t shared_bytes() const {
    constexpr uint32_t kChunkBytes = 16, kHalvesPerChunk = 8, kFloatBytes = 4, kSubgroup = 32;
    const uint32_t row_chunks = uint32_t(kCoopmatHeadDim) / kHalvesPerChunk + 1;
    const uint32_t grid_rows = threads / kSubgroup / grid_cols;
    return 2 * bc * row_chunks * kChunkBytes + 2 * bc * kFloatBytes + grid_rows * br * kFloatBytes;
  }
};
// Measured on an H100 (docs/performance.md, 2026-11-22), TFLOP/s at S4352 / S7145: br128_bc64 (256 threads,
// 255 registers, 45 KiB of shared memory with the driver's) 150 / 179; br64_bc32 (128 threads, 251 registers)
// 124-126 / 146-147; the register-softmax kernels 115-116 / 133-135. Dropped: br64_bc32 with 256 threads (168
// registers) 108 / 117, br32_bc64 (128 threads) 89 / 97. The automatic choice is the first usable one.
constexpr WorkgroupAttentionConfig kWorkgroupAttentionConfigs[] = {
    {"br128_bc64", 128, 64, 256, 4},
    {"br64_bc32", 64, 32, 128, 2},
};

std::string workgroup_variant(const WorkgroupAttentionConfig& c) {
  return std::string(kCoopmatNv) + "_workgroup_" + c.name;
}

// attention_coopmat_nv_wide_head.comp's configuration (mirrors QI_ATTENTION_WIDE_HEAD_CONFIGS in
// shaders/shaders.cmake): row_groups × 16 query rows per workgroup, the head dim split d_split ways, bc keys per
// tile.
struct WideHeadConfig {
  const char* name;
  uint32_t head_dim, row_groups, d_split, bc;
  static constexpr uint32_t kRowsPerGroup = 16;
  uint32_t query_rows() const { return row_groups * kRowsPerGroup; }
  // Shared memory: the K and V tiles (fp16 rows padded by one 16-byte chunk), the keys' scales and biases, a
  // 16-row block of partial scores per subgroup (rows padded by 4 floats).
  uint32_t shared_bytes() const {
    constexpr uint32_t kChunkBytes = 16, kHalvesPerChunk = 8, kFloatBytes = 4, kRowPad = 4;
    const uint32_t row_chunks = head_dim / kHalvesPerChunk + 1;
    return 2 * bc * row_chunks * kChunkBytes + 2 * bc * kFloatBytes +
           row_groups * d_split * kRowsPerGroup * (bc + kRowPad) * kFloatBytes;
  }
};
// Measured on an H200 (docs/performance.md, 2026-11-23), TFLOP/s on the VAE's attention over 128² latents
// (S16384, one head of 384): d384_r4_s2 (256 threads, 244 registers) 111.5, d384_r2_s4 (256 threads, 180
// registers) 67.5; dropped: d384_r2_s2 (128 threads, 255 registers) 28.8. The scalar kernel: 2.1. The
// automatic choice is the first usable configuration for the head dim.
constexpr WideHeadConfig kWideHeadConfigs[] = {
    {"d384_r4_s2", 384, 4, 2, 16},
    {"d384_r2_s4", 384, 2, 4, 16},
};

std::string wide_head_variant(const WideHeadConfig& c) { return std::string(kCoopmatNv) + "_wide_head_" + c.name; }

// attention_pack.comp modes (mirror MODE_* there).
constexpr uint32_t kPackHeadMax = 0, kPackRow = 1, kPackHead = 2;
// attention_pack.comp's norm flags (mirror NORM_* there) and the pairs a thread holds there (NORM_HELD_PAIRS).
constexpr uint32_t kNormWeightHead = 1, kNormWeightTail = 2, kNormOn = 4;
constexpr int64_t kNormHeldPairs = 2;

struct HeadDimClass {
  uint32_t max_d;      // D_MAX of the shader
  uint32_t query_rows; // BR: query rows per workgroup
  const char* shader;
};
// Mirrors the DEFINES of the attention_scalar_* variants in shaders/shaders.cmake.
constexpr std::array<HeadDimClass, 3> kScalarClasses{{
    {64, 32, "attention_scalar_d64"},
    {128, 16, "attention_scalar_d128"},
    {384, 8, "attention_scalar_d384"},
}};

bool coopmat_nv_usable(const Context& ctx) {
  const DeviceCaps& c = ctx.caps();
  if (!c.nv_coopmat || !c.fp16 || !c.memory_model || c.subgroup_size != kCoopmatSubgroup ||
      c.max_shared_memory < kCoopmatShared)
    return false;
  for (const RegisterSoftmaxConfig& r : kRegisterSoftmaxConfigs)
    if (r.shared_bytes() > c.max_shared_memory) return false;
  if (!PipelineRegistry::has_shader("attention_coopmat_nv") || !PipelineRegistry::has_shader("attention_pack"))
    return false;
  return c.has_nv_coopmat_shape(kCoopmatMma, kCoopmatMma, kCoopmatMma, "f16", "f32");
}

// An attention operand: one tensor [B, S, H, D], or two taken as one sequence along S (joint attention:
// head's positions first, then tail's).
struct Sequence {
  Tensor head, tail;
  int64_t len() const { return head.dim(1) + (tail.defined() ? tail.dim(1) : 0); }
  Shape shape() const { return {head.dim(0), len(), head.dim(2), head.dim(3)}; }
  // The sequence as one tensor (a concatenation where it has two parts).
  Tensor joined(Context& ctx) const { return tail.defined() ? concat(ctx, head, tail, 1) : head; }
};

// x [B, S, H, D] as fp16 [B, H, S, D] times a power of two per row (or per head), with the inverses.
struct Packed {
  Tensor values, inverse;
};
// The per-head norm and rotation attention_pack applies to a (two-part) q or k sequence: each part's weight
// and table (QkNormRope of its operand set).
struct PackNorm {
  Tensor weight_head, weight_tail, table_head, table_tail;
  float eps = 0;
};

Packed pack_f16(Context& ctx, const Sequence& x, bool per_head, const PackNorm* norm = nullptr) {
  const Shape shape = x.shape();
  const int64_t b = shape[0], s = shape[1], h = shape[2], d = shape[3];
  Packed r{ctx.alloc({b, h, s, d}, DType::F16), ctx.alloc({b, h, s}, DType::F32)};
  Tensor head_max = ctx.alloc({b, h}, DType::F32);
  const uint32_t seg = threads_per_row(d);
  const std::string shader = row_reduce_shader(ctx, "attention_pack");
  const Grid grid = linear_grid(ceil_div(uint64_t(b * s * h), kRowReduceWorkgroup / seg));
  const PackNorm none;
  const PackNorm& n = norm ? *norm : none;
  auto dtype_of = [](const Tensor& w) { return w.defined() ? shader_dtype(w.dtype()) : 0u; };
  struct {
    uint32_t b, s, h, d, seg, mode, split, norm;
    float eps;
    uint32_t w_dtype_head, w_dtype_tail;
  } push{uint32_t(b), uint32_t(s), uint32_t(h), uint32_t(d), seg, kPackRow,
         x.tail.defined() ? uint32_t(x.head.dim(1)) : 0u,
         norm ? kNormOn | (n.weight_head.defined() ? kNormWeightHead : 0u) | (n.weight_tail.defined() ? kNormWeightTail : 0u)
              : 0u,
         n.eps, dtype_of(n.weight_head), dtype_of(n.weight_tail)};
  if (per_head) {
    ctx.fill(head_max, 0u, kOp);
    push.mode = kPackHeadMax;
    ctx.dispatch(kOp, shader,
                 {in(x.head), out(r.values), out(r.inverse), inout(head_max), in(x.tail), in(n.weight_head),
                  in(n.weight_tail), in(n.table_head), in(n.table_tail)},
                 push, grid);
    push.mode = kPackHead;
  }
  ctx.dispatch(kOp, shader,
               {in(x.head), out(r.values), out(r.inverse), inout(head_max), in(x.tail), in(n.weight_head),
                in(n.weight_tail), in(n.table_head), in(n.table_tail)},
               push, grid);
  return r;
}

// Whether the device runs attention_coopmat_workgroup: workgroup-scope matrices of its shapes with
// accumulator-to-operand conversions, and the accumulator layout it was compiled for (probed).
bool workgroup_attention_usable(Context& ctx, const WorkgroupAttentionConfig& w) {
  const DeviceCaps& c = ctx.caps();
  const uint32_t d = uint32_t(kCoopmatHeadDim);
  if (!c.coopmat_conversions || !PipelineRegistry::has_shader("attention_" + workgroup_variant(w)) ||
      !c.has_workgroup_coopmat(w.bc, w.br, d, w.threads, w.shared_bytes(), "f16", "f32") ||
      !c.has_workgroup_coopmat(d, w.br, w.bc, w.threads, w.shared_bytes(), "f16", "f32"))
    return false;
  return probe_workgroup_layout(ctx, w.bc, w.br, w.threads) == w.grid_cols &&
         probe_workgroup_layout(ctx, d, w.br, w.threads) == w.grid_cols;
}

// The workgroup-scope configuration that `variant` runs (the automatic "coopmat_nv" takes the first usable
// one), or nullptr.
const WorkgroupAttentionConfig* workgroup_attention_config(const Context& ctx, const std::string& variant) {
  for (const WorkgroupAttentionConfig& w : kWorkgroupAttentionConfigs) {
    const std::string name = workgroup_variant(w);
    if (variant == name || (variant == kCoopmatNv && ctx.variants().has(kOp, name))) return &w;
  }
  return nullptr;
}

// Whether the device runs attention_coopmat_nv_wide_head in configuration `w`: the register-softmax
// kernel's conditions (NV cooperative matrices, a probed accumulator layout it handles) and its shared memory.
bool wide_head_usable(const Context& ctx, const WideHeadConfig& w) {
  return ctx.accumulator_layout() && PipelineRegistry::has_shader("attention_" + wide_head_variant(w)) &&
         w.shared_bytes() <= ctx.caps().max_shared_memory;
}

// The wide-head configuration that `variant` runs for head dim d (the automatic "coopmat_nv" takes the first
// usable one for d), or nullptr.
const WideHeadConfig* wide_head_config(const Context& ctx, const std::string& variant, int64_t d) {
  for (const WideHeadConfig& w : kWideHeadConfigs) {
    if (int64_t(w.head_dim) != d) continue;
    const std::string name = wide_head_variant(w);
    if (variant == name || (variant == kCoopmatNv && ctx.variants().has(kOp, name))) return &w;
  }
  return nullptr;
}

// The register-softmax configuration that `variant` runs for `heads` (batch × query heads) of sq query rows
// (the automatic "coopmat_nv" picks one by grid size where the device has those kernels), or nullptr for
// attention_coopmat_nv.
const RegisterSoftmaxConfig* register_softmax_config(const Context& ctx, const std::string& variant, int64_t sq,
                                                     int64_t heads) {
  if (variant == kCoopmatNv) {
    if (!ctx.variants().has(kOp, register_softmax_variant(kRegisterSoftmaxSmallGrid))) return nullptr;
    const uint64_t large_grid = ceil_div(sq, kRegisterSoftmaxLargeGrid.query_rows()) * uint64_t(heads);
    return large_grid >= kLargeGridWorkgroups ? &kRegisterSoftmaxLargeGrid : &kRegisterSoftmaxSmallGrid;
  }
  for (const RegisterSoftmaxConfig& r : kRegisterSoftmaxConfigs)
    if (variant == register_softmax_variant(r)) return &r;
  return nullptr;
}

}  // namespace

void register_attention_variants(Context& ctx) {
  std::vector<std::string> usable;
  if (coopmat_nv_usable(ctx)) {
    usable.emplace_back(kCoopmatNv);
    const bool all_compiled = std::all_of(std::begin(kRegisterSoftmaxConfigs), std::end(kRegisterSoftmaxConfigs),
                                          [](const RegisterSoftmaxConfig& r) {
                                            const std::string shader = "attention_" + register_softmax_variant(r);
                                            return PipelineRegistry::has_shader(shader) &&
                                                   PipelineRegistry::has_shader(shader + kCausalSuffix);
                                          });
    if (all_compiled && ctx.accumulator_layout())
      for (const RegisterSoftmaxConfig& r : kRegisterSoftmaxConfigs) usable.push_back(register_softmax_variant(r));
    for (const WorkgroupAttentionConfig& w : kWorkgroupAttentionConfigs)
      if (workgroup_attention_usable(ctx, w)) usable.push_back(workgroup_variant(w));
    for (const WideHeadConfig& w : kWideHeadConfigs)
      if (wide_head_usable(ctx, w)) usable.push_back(wide_head_variant(w));
    usable.emplace_back(kSharedSoftmax);
  }
  usable.push_back(kScalar);
  ctx.variants().add(std::string(kJointOp), usable);
  ctx.variants().add(std::string(kOp), usable);
}

namespace {

void check_operand(std::string_view what, const Tensor& t, Context& ctx) {
  check_f32(ctx, kOp, what, t);
  check_rank(kOp, what, t, 4);
  check_index_range(kOp, t);
}

// The output: one tensor [B, Sq, Hq, D], or (joint attention) two split where the queries' sequence is.
struct Output {
  Tensor head, tail;
};

// Joint attention's Q/K norms of its two operand sets (QkNormRope; either may be undefined).
struct SequenceNorms {
  const QkNormRope* head = nullptr;
  const QkNormRope* tail = nullptr;
  bool any() const { return (head && head->defined()) || (tail && tail->defined()); }
};

// A part's norm for q or k: its weight and table, checked against the part's shape [B, S, H, D].
void check_norm(const Context& ctx, const QkNormRope& n, const Tensor& weight, const Tensor& part) {
  check_row_weight(ctx, kOp, weight, part.dim(3));
  check_f32(ctx, kOp, "rope table", n.table);
  if (n.table.shape() != Shape{part.dim(1), part.dim(3) / 2, 2})
    fail(kOp, "rope table " + n.table.describe() + " must be [" + std::to_string(part.dim(1)) + ", " +
                  std::to_string(part.dim(3) / 2) + ", 2] for " + part.describe());
}

// The kernels run the variant selected for `op` (attention or joint_attention).
Output attention_sequences(Context& ctx, std::string_view op, const Sequence& q_given, const Sequence& k_given,
                           const Sequence& v, const AttentionArgs& args, const SequenceNorms& norms = {}) {
  Sequence q = q_given, k = k_given;
  const Sequence* const operands[] = {&q, &k, &v};
  for (const Sequence* x : operands) {
    check_operand(x == &q ? "q" : x == &k ? "k" : "v", x->head, ctx);
    if (x->tail.defined()) {
      check_operand(x == &q ? "q (second part)" : x == &k ? "k (second part)" : "v (second part)", x->tail, ctx);
      const Tensor &h = x->head, &t = x->tail;
      if (h.dim(0) != t.dim(0) || h.dim(2) != t.dim(2) || h.dim(3) != t.dim(3))
        fail(kOp, "the two parts differ in batch, heads or head dim: " + h.describe() + ", " + t.describe());
    }
  }
  const Shape qs = q.shape(), ks = k.shape(), vs = v.shape();
  const std::string shapes = "q " + shape_str(qs) + ", k " + shape_str(ks) + ", v " + shape_str(vs);
  const int64_t batch = qs[0], sq = qs[1], hq = qs[2], d = qs[3];
  const int64_t sk = ks[1], hkv = ks[2];
  if (ks != vs) fail(kOp, "k and v shapes differ: " + shapes);
  if (k.head.dim(1) != v.head.dim(1)) fail(kOp, "k and v are split at different positions: " + shapes);
  if (ks[0] != batch || ks[3] != d) fail(kOp, "batch or head dim differ: " + shapes);
  if (hkv <= 0 || hq % hkv != 0) fail(kOp, "query heads must be a multiple of kv heads: " + shapes);
  if (args.key_mask.defined()) {
    check_f32(ctx, kOp, "key_mask", args.key_mask);
    if (args.key_mask.shape() != Shape{batch, sk})
      fail(kOp, "key_mask must be [" + std::to_string(batch) + ", " + std::to_string(sk) + "], got " +
                    args.key_mask.describe() + " for " + shapes);
  }
  const HeadDimClass* cls = nullptr;
  for (const auto& c : kScalarClasses)
    if (d <= int64_t(c.max_d)) {
      cls = &c;
      break;
    }
  if (!cls) fail(kOp, "head dim " + std::to_string(d) + " exceeds the largest supported (384): " + shapes);

  const std::string& variant = ctx.variants().selected(op);
  // The tensor-core kernels: the wide-head one (no causal masking) for its head dim; for head dim 128 the
  // workgroup-scope, register-softmax or shared-softmax one, of which only the register-softmax kernel masks
  // causally (the others leave causal attention to the scalar kernel).
  const bool head_dim_128 = variant.starts_with(kCoopmatNv) && d == kCoopmatHeadDim && sk > 0;
  const WideHeadConfig* wide = !args.causal && sk > 0 ? wide_head_config(ctx, variant, d) : nullptr;
  const WorkgroupAttentionConfig* workgroup =
      head_dim_128 && !wide && !args.causal ? workgroup_attention_config(ctx, variant) : nullptr;
  const RegisterSoftmaxConfig* config =
      head_dim_128 && !wide && !workgroup ? register_softmax_config(ctx, variant, sq, batch * hq) : nullptr;
  const bool tensor_cores = wide || (head_dim_128 && (!args.causal || config));
  // The Q/K norms: folded into the fp16 packing where both parts have one in the interleaved style and a
  // thread's share of a row fits attention_pack's registers; otherwise applied by rms_norm_rope first.
  std::optional<PackNorm> q_norm, k_norm;
  if (norms.any()) {
    const QkNormRope* parts[2] = {norms.head, norms.tail};
    for (int i = 0; i < 2; ++i)
      if (parts[i] && parts[i]->defined()) {
        const Tensor& qp = i ? q.tail : q.head;
        const Tensor& kp = i ? k.tail : k.head;
        if (!qp.defined()) fail(kOp, "a norm for an operand set that is not there");
        check_norm(ctx, *parts[i], parts[i]->q_weight, qp);
        check_norm(ctx, *parts[i], parts[i]->k_weight, kp);
      }
    const bool fold = tensor_cores && q.tail.defined() && norms.head && norms.head->defined() && norms.tail &&
                      norms.tail->defined() && norms.head->style == RopeStyle::Interleaved &&
                      norms.tail->style == RopeStyle::Interleaved && norms.head->eps == norms.tail->eps &&
                      d % 2 == 0 && d <= 2 * kNormHeldPairs * int64_t(threads_per_row(d));
    if (fold) {
      q_norm = PackNorm{norms.head->q_weight, norms.tail->q_weight, norms.head->table, norms.tail->table, norms.head->eps};
      k_norm = PackNorm{norms.head->k_weight, norms.tail->k_weight, norms.head->table, norms.tail->table, norms.head->eps};
    } else {
      auto apply = [&](const Tensor& x, const QkNormRope* n, bool is_q) {
        if (!x.defined() || !n || !n->defined()) return x;
        return rms_norm_rope(ctx, x, is_q ? n->q_weight : n->k_weight, n->eps, n->table, n->style);
      };
      q = Sequence{apply(q.head, norms.head, true), apply(q.tail, norms.tail, true)};
      k = Sequence{apply(k.head, norms.head, false), apply(k.tail, norms.tail, false)};
    }
  }

  // The output, split like q; a kernel that writes one tensor has it sliced afterwards.
  const int64_t q_first = q.head.dim(1);
  auto split_output = [&](const Tensor& joint) {
    if (!q.tail.defined()) return Output{joint, {}};
    return Output{slice(ctx, joint, 1, 0, q_first), slice(ctx, joint, 1, q_first, sq - q_first)};
  };
  if (batch * sq * hq * d == 0) {
    Output r{ctx.alloc(q.head.shape(), DType::F32), {}};
    if (q.tail.defined()) r.tail = ctx.alloc(q.tail.shape(), DType::F32);
    return r;
  }
  if (tensor_cores) {
    const std::string shader = wide        ? "attention_" + wide_head_variant(*wide)
                               : workgroup ? "attention_" + workgroup_variant(*workgroup)
                               : config    ? "attention_" + register_softmax_variant(*config) +
                                                     (args.causal ? kCausalSuffix : "")
                                           : "attention_coopmat_nv";
    const uint32_t query_rows = wide        ? wide->query_rows()
                                : workgroup ? workgroup->br
                                : config    ? config->query_rows()
                                            : kCoopmatQueryRows;
    const std::array<uint32_t, 2> layout = accumulator_layout_constants(ctx);
    const uint64_t blocks = ceil_div(sq, query_rows);
    if (blocks > kMaxGridDim || hq > kMaxGridDim || batch > kMaxGridDim)
      fail(kOp, "too many query blocks for one dispatch: " + shapes);
    const Packed qp = pack_f16(ctx, q, false, q_norm ? &*q_norm : nullptr),
                 kp = pack_f16(ctx, k, false, k_norm ? &*k_norm : nullptr), vp = pack_f16(ctx, v, true);
    struct Push {
      uint32_t sq, sk, hq, hkv;
      float scale;
      uint32_t has_mask;
    } push{uint32_t(sq), uint32_t(sk), uint32_t(hq), uint32_t(hkv), args.scale, args.key_mask.defined() ? 1u : 0u};
    const Grid grid{uint32_t(blocks), uint32_t(hq), uint32_t(batch)};
    if (workgroup) {
      // attention_coopmat_workgroup writes the two parts of a joint output itself.
      Output r{ctx.alloc(q.head.shape(), DType::F32), {}};
      if (q.tail.defined()) r.tail = ctx.alloc(q.tail.shape(), DType::F32);
      struct {
        Push common;
        uint32_t split;
      } split_push{push, q.tail.defined() ? uint32_t(q_first) : 0u};
      ctx.dispatch(kOp, shader,
                   {in(qp.values), in(kp.values), in(vp.values), in(qp.inverse), in(kp.inverse), in(vp.inverse),
                    in(args.key_mask), out(r.head), out(r.tail)},
                   split_push, grid);
      return r;
    }
    Tensor result = ctx.alloc(qs, DType::F32);
    ctx.dispatch(kOp, shader,
                 {in(qp.values), in(kp.values), in(vp.values), in(qp.inverse), in(kp.inverse), in(vp.inverse),
                  in(args.key_mask), out(result)},
                 push, grid, config || wide ? std::span<const uint32_t>(layout) : std::span<const uint32_t>());
    return split_output(result);
  }
  const uint64_t row_blocks = ceil_div(sq, cls->query_rows);
  if (row_blocks > kMaxGridDim || hq > kMaxGridDim || batch > kMaxGridDim)
    fail(kOp, "too many query blocks for one dispatch: " + shapes);
  const Tensor qj = q.joined(ctx), kj = k.joined(ctx), vj = v.joined(ctx);
  Tensor result = ctx.alloc(qs, DType::F32);
  struct {
    uint32_t sq, sk, hq, hkv, d;
    float scale;
    uint32_t causal, has_mask;
  } push{uint32_t(sq), uint32_t(sk), uint32_t(hq), uint32_t(hkv), uint32_t(d), args.scale, args.causal ? 1u : 0u,
         args.key_mask.defined() ? 1u : 0u};
  ctx.dispatch(kOp, cls->shader, {in(qj), in(kj), in(vj), in(args.key_mask), out(result)}, push,
               Grid{uint32_t(row_blocks), uint32_t(hq), uint32_t(batch)});
  return split_output(result);
}

}  // namespace

Tensor attention(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) {
  return attention_sequences(ctx, kOp, Sequence{q, {}}, Sequence{k, {}}, Sequence{v, {}}, args).head;
}

AttentionSplit joint_attention(Context& ctx, const AttentionOperands& first, const AttentionOperands& second,
                               const AttentionArgs& args) {
  const Output o = attention_sequences(ctx, kJointOp, Sequence{first.q, second.q}, Sequence{first.k, second.k},
                                       Sequence{first.v, second.v}, args, SequenceNorms{&first.norm, &second.norm});
  return {o.head, o.tail};
}

}  // namespace qi::vk

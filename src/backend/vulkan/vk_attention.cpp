// attention: softmax(scale·Q·Kᵀ + mask)·V, flash-style (never the full score matrix). Variant "scalar":
// fp32 online softmax, compiled per head-dimension class (attention_scalar_d64/d128/d384); the smallest
// class that holds the head dim runs.
#include <array>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {
namespace {

constexpr std::string_view kOp = "attention";
constexpr const char* kScalar = "scalar";

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

std::string shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  return "q " + q.describe() + ", k " + k.describe() + ", v " + v.describe();
}

}  // namespace

void register_attention_variants(Context& ctx) { ctx.variants().add(std::string(kOp), {kScalar}); }

Tensor attention(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) {
  check_f32(ctx, kOp, "q", q);
  check_f32(ctx, kOp, "k", k);
  check_f32(ctx, kOp, "v", v);
  check_rank(kOp, "q", q, 4);
  check_rank(kOp, "k", k, 4);
  check_rank(kOp, "v", v, 4);
  check_index_range(kOp, q);
  check_index_range(kOp, k);
  const int64_t batch = q.dim(0), sq = q.dim(1), hq = q.dim(2), d = q.dim(3);
  const int64_t sk = k.dim(1), hkv = k.dim(2);
  if (k.shape() != v.shape()) fail(kOp, "k and v shapes differ: " + shapes(q, k, v));
  if (k.dim(0) != batch || k.dim(3) != d) fail(kOp, "batch or head dim differ: " + shapes(q, k, v));
  if (hkv <= 0 || hq % hkv != 0) fail(kOp, "query heads must be a multiple of kv heads: " + shapes(q, k, v));
  if (args.key_mask.defined()) {
    check_f32(ctx, kOp, "key_mask", args.key_mask);
    if (args.key_mask.shape() != Shape{batch, sk})
      fail(kOp, "key_mask must be [" + std::to_string(batch) + ", " + std::to_string(sk) + "], got " +
                    args.key_mask.describe() + " for " + shapes(q, k, v));
  }
  const HeadDimClass* cls = nullptr;
  for (const auto& c : kScalarClasses)
    if (d <= int64_t(c.max_d)) {
      cls = &c;
      break;
    }
  if (!cls) fail(kOp, "head dim " + std::to_string(d) + " exceeds the largest supported (384): " + shapes(q, k, v));

  Tensor result = ctx.alloc(q.shape(), DType::F32);
  if (result.numel() == 0) return result;
  const uint64_t row_blocks = ceil_div(sq, cls->query_rows);
  if (row_blocks > kMaxGridDim || hq > kMaxGridDim || batch > kMaxGridDim)
    fail(kOp, "too many query blocks for one dispatch: " + shapes(q, k, v));
  struct {
    uint32_t sq, sk, hq, hkv, d;
    float scale;
    uint32_t causal, has_mask;
  } push{uint32_t(sq), uint32_t(sk), uint32_t(hq), uint32_t(hkv), uint32_t(d), args.scale, args.causal ? 1u : 0u,
         args.key_mask.defined() ? 1u : 0u};
  ctx.dispatch(kOp, cls->shader, {in(q), in(k), in(v), in(args.key_mask), out(result)}, push,
               Grid{uint32_t(row_blocks), uint32_t(hq), uint32_t(batch)});
  return result;
}

}  // namespace qi::vk

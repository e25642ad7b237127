// attention: softmax(scale·Q·Kᵀ + mask)·V per (batch, query head, block of query rows). Only one block's
// scores [rows, Sk] exist at a time; both products run on the blocked GEMM reading K and V in place.
//
// Masking: a key whose key_mask value is 0 gets zero weight (any other value attends); with causal, query i
// sees keys j <= i + (Sk − Sq). A query row that sees no key at all (every key masked, or Sq > Sk with
// causal) produces zeros instead of the NaN a plain softmax would give.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/cpu_gemm.h"
#include "backend/cpu/cpu_ops.h"

namespace qi::cpu {
namespace {

constexpr std::string_view kOp = "attention";
// Query rows per task: the K and V packing inside the GEMM is amortised over this many rows.
constexpr int64_t kQueryBlock = 64;

std::string shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  return "q " + q.describe() + ", k " + k.describe() + ", v " + v.describe();
}

// Turns one row of raw scores into softmax weights in place (masked keys get 0). A row that sees no key
// becomes all zeros.
void softmax_row(float* row, int64_t visible, float scale, const float* mask) {
  float max_score = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (int64_t j = 0; j < visible; ++j) {
    if (mask && mask[j] == 0.0f) continue;
    row[j] *= scale;
    max_score = std::max(max_score, row[j]);
    any = true;
  }
  if (!any) {
    std::fill(row, row + visible, 0.0f);
    return;
  }
  double sum = 0;
  for (int64_t j = 0; j < visible; ++j) {
    float p = (mask && mask[j] == 0.0f) ? 0.0f : std::exp(row[j] - max_score);
    row[j] = p;
    sum += p;
  }
  const float inv = float(1.0 / sum);
  for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
}

}  // namespace

Tensor attention(const CpuContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& args) {
  check_f32(ctx, kOp, "q", q);
  check_f32(ctx, kOp, "k", k);
  check_f32(ctx, kOp, "v", v);
  check_rank(kOp, "q", q, 4);
  check_rank(kOp, "k", k, 4);
  check_rank(kOp, "v", v, 4);
  const int64_t batch = q.dim(0), sq = q.dim(1), hq = q.dim(2), d = q.dim(3);
  const int64_t sk = k.dim(1), hkv = k.dim(2);
  if (k.shape() != v.shape()) fail(kOp, "k and v shapes differ: " + shapes(q, k, v));
  if (k.dim(0) != batch || k.dim(3) != d) fail(kOp, "batch or head dim differ: " + shapes(q, k, v));
  if (hkv <= 0 || hq % hkv != 0) fail(kOp, "query heads must be a multiple of kv heads: " + shapes(q, k, v));
  const float* mask = nullptr;
  if (args.key_mask.defined()) {
    check_f32(ctx, kOp, "key_mask", args.key_mask);
    if (args.key_mask.shape() != Shape{batch, sk})
      fail(kOp, "key_mask must be [" + std::to_string(batch) + ", " + std::to_string(sk) + "], got " +
                    args.key_mask.describe() + " for " + shapes(q, k, v));
    mask = f32_data(args.key_mask);
  }

  Tensor out = ctx.alloc(q.shape(), DType::F32);
  const float* qd = f32_data(q);
  const float* kd = f32_data(k);
  const float* vd = f32_data(v);
  float* od = f32_data(out);
  const int64_t group = hq / hkv;
  const int64_t blocks = (sq + kQueryBlock - 1) / kQueryBlock;
  const int64_t q_row = hq * d, kv_row = hkv * d;  // distance between consecutive tokens

  ctx.pool.parallel_for(batch * hq * blocks, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / (hq * blocks);
      const int64_t h = (task / blocks) % hq;
      const int64_t i0 = (task % blocks) * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, sq - i0);
      const int64_t kv_head = h / group;
      // With causal masking no row of this block sees a key past the last row's limit.
      const int64_t keys = args.causal ? std::clamp<int64_t>(i0 + rows + (sk - sq), 0, sk) : sk;
      const float* q_block = qd + ((b * sq + i0) * hq + h) * d;
      float* o_block = od + ((b * sq + i0) * hq + h) * d;
      if (keys == 0) {
        for (int64_t i = 0; i < rows; ++i) std::fill(o_block + i * q_row, o_block + i * q_row + d, 0.0f);
        continue;
      }
      const float* k_head = kd + b * sk * kv_row + kv_head * d;
      const float* v_head = vd + b * sk * kv_row + kv_head * d;
      scores.resize(size_t(rows * keys));
      gemm(rows, keys, d, q_block, q_row, RhsMatrix{k_head, DType::F32, kv_row, RhsLayout::NK}, scores.data(), keys,
           nullptr);
      for (int64_t i = 0; i < rows; ++i) {
        int64_t visible = args.causal ? std::clamp<int64_t>(i0 + i + 1 + (sk - sq), 0, keys) : keys;
        float* row = scores.data() + i * keys;
        softmax_row(row, visible, args.scale, mask ? mask + b * sk : nullptr);
        std::fill(row + visible, row + keys, 0.0f);
      }
      gemm(rows, d, keys, scores.data(), keys, RhsMatrix{v_head, DType::F32, kv_row, RhsLayout::KN}, o_block, q_row,
           nullptr);
    }
  });
  return out;
}

}  // namespace qi::cpu

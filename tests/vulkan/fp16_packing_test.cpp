// The packing passes of the fp16 tensor-core kernels (matmul_pack_rows, attention_pack) run on any device, so
// they are checked here on lavapipe too: every row, of any magnitude, lands in fp16 without overflow and
// comes back exactly through the power-of-two scale (shaders/fp16_scaling.glsl).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"
#include "core/dtype.h"
#include "vulkan/vulkan_test_util.h"

namespace qi::test {
namespace {

constexpr int64_t kRows = 5, kCols = 16;
// fp16 keeps 11 significant bits: a scaled value comes back within 2^-11 of itself.
constexpr double kHalfRelError = 1.0 / 2048;

// Row magnitudes: Qwen-Image's largest activations, ordinary ones, values so small that an unclamped
// scale 2^(15 − e) would be infinite (below 2^-111), all zeros, and a row with one non-zero value.
std::vector<float> rows_of_every_magnitude() {
  const float magnitude[kRows] = {2e7f, 0.3f, 3e-37f, 0.0f, 0.0f};
  std::mt19937_64 rng(7);
  std::vector<float> x;
  for (int64_t r = 0; r < kRows; ++r) {
    std::vector<float> row = random_floats(rng, kCols, magnitude[r]);
    if (magnitude[r] == 0.0f) row.assign(kCols, 0.0f);
    x.insert(x.end(), row.begin(), row.end());
  }
  x[4 * kCols + 5] = -1.5f;
  return x;
}

bool is_power_of_two(float s) {
  int e;
  return std::isfinite(s) && s > 0 && std::frexp(s, &e) == 0.5f;
}

void expect_round_trip(const std::vector<float>& x, const std::vector<uint16_t>& packed,
                       const std::vector<float>& inverse) {
  for (int64_t r = 0; r < kRows; ++r) {
    ASSERT_TRUE(is_power_of_two(inverse[r])) << "row " << r << ": " << inverse[r];
    for (int64_t c = 0; c < kCols; ++c) {
      const float h = f16_to_f32(packed[r * kCols + c]);
      ASSERT_TRUE(std::isfinite(h)) << "row " << r << " col " << c;
      EXPECT_LE(std::abs(h), 32768.0f);
      const double back = double(h) * inverse[r], want = x[r * kCols + c];
      EXPECT_LE(std::abs(back - want), std::abs(want) * kHalfRelError) << "row " << r << " col " << c;
    }
  }
  EXPECT_EQ(inverse[3], 1.0f);  // all zeros: scale 1
}

class Fp16Packing : public VulkanTest {};

TEST_F(Fp16Packing, MatmulPackRowsScalesEveryRowIntoHalfRange) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  const std::vector<float> x = rows_of_every_magnitude();
  Tensor xt = ctx->alloc({kRows, kCols}, DType::F32);
  ctx->upload(xt, x.data(), x.size() * sizeof(float));
  Tensor packed = ctx->alloc({kRows, kCols}, DType::F16), scale = ctx->alloc({kRows}, DType::F32);
  const uint32_t seg = vk::threads_per_row(kCols);
  struct {
    uint32_t rows, k, seg;
  } push{uint32_t(kRows), uint32_t(kCols), seg};
  ctx->dispatch("test", "matmul_pack_rows", {vk::in(xt), vk::out(packed), vk::out(scale)}, push,
                vk::linear_grid(vk::ceil_div(kRows, vk::kRowReduceWorkgroup / seg)));
  std::vector<uint16_t> halves(size_t(kRows * kCols));
  std::vector<float> scales(kRows), inverse(kRows);
  ctx->download(packed, halves.data());
  ctx->download(scale, scales.data());
  for (int64_t r = 0; r < kRows; ++r) inverse[r] = 1.0f / scales[r];  // exact for a power of two
  expect_round_trip(x, halves, inverse);
}

// Packs x [1, kRows, 1, kCols] with attention_pack (MODE_ROW), as one tensor (split 0) or as two parts of the
// sequence (joint attention: the first `split` rows, then the rest); returns the fp16 values and inverses.
void attention_pack(vk::Context& ctx, const std::vector<float>& x, uint32_t split, std::vector<uint16_t>& halves,
                    std::vector<float>& inverse) {
  const int64_t head_rows = split ? split : kRows, tail_rows = kRows - head_rows;
  Tensor head = ctx.alloc({1, head_rows, 1, kCols}, DType::F32), tail;
  ctx.upload(head, x.data(), size_t(head_rows * kCols) * sizeof(float));
  if (split) {
    tail = ctx.alloc({1, tail_rows, 1, kCols}, DType::F32);
    ctx.upload(tail, x.data() + head_rows * kCols, size_t(tail_rows * kCols) * sizeof(float));
  }
  Tensor packed = ctx.alloc({1, 1, kRows, kCols}, DType::F16), inv = ctx.alloc({1, 1, kRows}, DType::F32);
  Tensor head_max = ctx.alloc({1, 1}, DType::F32);
  const uint32_t seg = vk::threads_per_row(kCols);
  constexpr uint32_t kModeRow = 1;  // MODE_ROW in attention_pack.comp
  struct {
    uint32_t b, s, h, d, seg, mode, split, norm;  // norm 0: no Q/K norm (its bindings 5-8 unused)
    float eps;
    uint32_t w_dtype_head, w_dtype_tail;
  } push{1, uint32_t(kRows), 1, uint32_t(kCols), seg, kModeRow, split, 0, 0.0f, 0, 0};
  const Tensor none;
  ctx.dispatch("test", "attention_pack",
               {vk::in(head), vk::out(packed), vk::out(inv), vk::in(head_max), vk::in(tail), vk::in(none), vk::in(none),
                vk::in(none), vk::in(none)},
               push,
               vk::linear_grid(vk::ceil_div(kRows, vk::kRowReduceWorkgroup / seg)));
  halves.assign(size_t(kRows * kCols), 0);
  inverse.assign(kRows, 0.0f);
  ctx.download(packed, halves.data());
  ctx.download(inv, inverse.data());
}

TEST_F(Fp16Packing, AttentionPackScalesEveryRowIntoHalfRange) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  const std::vector<float> x = rows_of_every_magnitude();  // [B 1, S kRows, H 1, D kCols]
  std::vector<uint16_t> halves;
  std::vector<float> inverse;
  attention_pack(*ctx, x, 0, halves, inverse);
  expect_round_trip(x, halves, inverse);
}

TEST_F(Fp16Packing, AttentionPackOfATwoPartSequenceEqualsTheJoinedOne) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  const std::vector<float> x = rows_of_every_magnitude();
  std::vector<uint16_t> joined, split;
  std::vector<float> joined_inverse, split_inverse;
  attention_pack(*ctx, x, 0, joined, joined_inverse);
  attention_pack(*ctx, x, uint32_t(kRows / 3), split, split_inverse);
  EXPECT_EQ(split, joined);
  EXPECT_EQ(split_inverse, joined_inverse);
}

// matmul_pack_rows_modulate (modulated_matmul's fused pass) packs what layer_norm_modulate writes: rows of
// every magnitude, two batch items whose shifts differ by seven orders of magnitude (the packed rows reach
// 2e7), and rows of K held in registers or read four times; with each packed row's L2 norm (WRITE_ROW_NORM,
// modulated_mlp's bound).
TEST_F(Fp16Packing, ModulatedPackEqualsLayerNormModulateThenPack) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  constexpr int64_t kItems = 2, kRowsPerItem = 3, kPackAlign = 8, kHeldPairsMax = 32;  // as vk_matmul.cpp
  const float row_magnitude[kItems * kRowsPerItem] = {2e7f, 0.3f, 3e-37f, 0.0f, 1e3f, 5.0f};
  const float shift_magnitude[kItems] = {1.0f, 2e7f};
  for (const int64_t k : {int64_t(200), int64_t(16400)}) {
    SCOPED_TRACE("K = " + std::to_string(k));
    std::mt19937_64 rng(11);
    std::vector<float> x, shift, scale = random_floats(rng, size_t(kItems * k), 1.0f);
    for (float m : row_magnitude) {
      std::vector<float> row = random_floats(rng, size_t(k), m);
      for (float& v : row) v += 2.0f * m;  // a mean far from zero
      x.insert(x.end(), row.begin(), row.end());
    }
    for (float m : shift_magnitude) {
      std::vector<float> s = random_floats(rng, size_t(k), m);
      shift.insert(shift.end(), s.begin(), s.end());
    }
    const int64_t rows = kItems * kRowsPerItem, kp = (k + kPackAlign - 1) / kPackAlign * kPackAlign;
    Tensor xt = ctx->alloc({kItems, kRowsPerItem, k}, DType::F32), st = ctx->alloc({kItems, k}, DType::F32),
           ct = ctx->alloc({kItems, k}, DType::F32);
    ctx->upload(xt, x.data(), x.size() * sizeof(float));
    ctx->upload(st, shift.data(), shift.size() * sizeof(float));
    ctx->upload(ct, scale.data(), scale.size() * sizeof(float));
    std::vector<float> want(x.size());
    ctx->download(vk::layer_norm_modulate(*ctx, xt, st, ct, 1e-6f), want.data());

    Tensor packed = ctx->alloc({rows, kp}, DType::F16), row_scale = ctx->alloc({rows}, DType::F32),
           row_norm = ctx->alloc({rows}, DType::F32);
    const uint32_t seg = vk::threads_per_row(k);
    struct {
      uint32_t rows, k, seg;
      float eps;
      uint32_t rows_per_item;
    } push{uint32_t(rows), uint32_t(k), seg, 1e-6f, uint32_t(kRowsPerItem)};
    const std::array<uint32_t, 2> spec{vk::held_per_thread((kp + 1) / 2, seg, kHeldPairsMax), 1u};
    EXPECT_EQ(spec[0] == 0, k > 2 * kHeldPairsMax * seg);
    ctx->dispatch("test", vk::row_reduce_shader(*ctx, "matmul_pack_rows_modulate"),
                  {vk::in(xt), vk::out(packed), vk::out(row_scale), vk::in(st), vk::in(ct), vk::out(row_norm)}, push,
                  vk::linear_grid(vk::ceil_div(rows, vk::kRowReduceWorkgroup / seg)), spec);
    std::vector<uint16_t> halves(size_t(rows * kp));
    std::vector<float> scales(rows), norms(rows);
    ctx->download(packed, halves.data());
    ctx->download(row_scale, scales.data());
    ctx->download(row_norm, norms.data());
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(is_power_of_two(scales[r])) << "row " << r << ": " << scales[r];
      float row_max = 0;
      double norm_sq = 0;
      for (int64_t c = 0; c < k; ++c) {
        row_max = std::max(row_max, std::abs(want[r * k + c]));
        norm_sq += double(want[r * k + c]) * want[r * k + c];
      }
      EXPECT_NEAR(norms[r], std::sqrt(norm_sq), 1e-5 * std::sqrt(norm_sq) + 1e-30) << "row " << r;
      for (int64_t c = 0; c < kp; ++c) {
        const float h = f16_to_f32(halves[r * kp + c]);
        ASSERT_TRUE(std::isfinite(h)) << "row " << r << " col " << c;
        EXPECT_LE(std::abs(h), 32768.0f);
        if (c >= k) {
          EXPECT_EQ(h, 0.0f) << "row " << r << " col " << c << " past K";
          continue;
        }
        // fp16 rounding, and the two fp32 kernels' different summation orders (relative to the row).
        const double back = double(h) / scales[r], expected = want[r * k + c];
        EXPECT_LE(std::abs(back - expected), std::abs(expected) * kHalfRelError + 1e-5 * row_max)
            << "row " << r << " col " << c;
      }
    }
  }
}

// matmul_weight_bound (modulated_mlp's weight statistics): the largest row L2 norm and the largest |bias| of
// weights in each format, with K a multiple of the 16-byte load and not.
TEST_F(Fp16Packing, WeightBoundIsTheLargestRowNormAndBias) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  constexpr int64_t kWeightRows = 37;
  for (const DType dt : {DType::F32, DType::F16, DType::BF16})
    for (const int64_t k : {int64_t(64), int64_t(100)}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " K = " + std::to_string(k));
      std::mt19937_64 rng(5);
      std::vector<float> w = random_floats(rng, kWeightRows * k, 0.5f), bias = random_floats(rng, kWeightRows, 3.0f);
      w[7 * k + 3] = 40.0f;  // one row clearly the largest
      Tensor wt = ctx->alloc({kWeightRows, k}, dt), bt = ctx->alloc({kWeightRows}, DType::F32);
      std::vector<uint16_t> halves(w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        halves[i] = dt == DType::F16 ? f32_to_f16(w[i]) : f32_to_bf16(w[i]);
        w[i] = dt == DType::F16 ? f16_to_f32(halves[i]) : dt == DType::BF16 ? bf16_to_f32(halves[i]) : w[i];
      }
      if (dt == DType::F32)
        ctx->upload(wt, w.data(), w.size() * sizeof(float));
      else
        ctx->upload(wt, halves.data(), halves.size() * sizeof(uint16_t));
      ctx->upload(bt, bias.data(), bias.size() * sizeof(float));
      Tensor bound = ctx->alloc({2}, DType::F32);
      ctx->fill(bound, 0u, "test");
      struct {
        uint32_t n, k, has_bias, bias_dtype;
      } push{uint32_t(kWeightRows), uint32_t(k), 1u, vk::shader_dtype(DType::F32)};
      ctx->dispatch("test", std::string("matmul_weight_bound_") + vk::weight_suffix(dt),
                    {vk::in(wt), vk::in(bt), vk::inout(bound)}, push, vk::linear_grid(vk::ceil_div(kWeightRows, 8)));
      float got[2];
      ctx->download(bound, got);
      double want_norm = 0, want_bias = 0;
      for (int64_t r = 0; r < kWeightRows; ++r) {
        double sq = 0;
        for (int64_t c = 0; c < k; ++c) sq += double(w[r * k + c]) * w[r * k + c];
        want_norm = std::max(want_norm, std::sqrt(sq));
        want_bias = std::max(want_bias, double(std::abs(bias[r])));
      }
      EXPECT_NEAR(got[0], want_norm, 1e-5 * want_norm);
      EXPECT_EQ(got[1], float(want_bias));
    }
}

}  // namespace
}  // namespace qi::test

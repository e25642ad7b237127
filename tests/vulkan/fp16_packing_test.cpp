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
    uint32_t b, s, h, d, seg, mode, split;
  } push{1, uint32_t(kRows), 1, uint32_t(kCols), seg, kModeRow, split};
  ctx.dispatch("test", "attention_pack",
               {vk::in(head), vk::out(packed), vk::out(inv), vk::in(head_max), vk::in(tail)}, push,
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
// 2e7), and rows of K held in registers or read four times.
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

    Tensor packed = ctx->alloc({rows, kp}, DType::F16), row_scale = ctx->alloc({rows}, DType::F32);
    const uint32_t seg = vk::threads_per_row(k);
    struct {
      uint32_t rows, k, seg;
      float eps;
      uint32_t rows_per_item;
    } push{uint32_t(rows), uint32_t(k), seg, 1e-6f, uint32_t(kRowsPerItem)};
    const std::array<uint32_t, 1> spec{vk::held_per_thread((kp + 1) / 2, seg, kHeldPairsMax)};
    EXPECT_EQ(spec[0] == 0, k > 2 * kHeldPairsMax * seg);
    ctx->dispatch("test", vk::row_reduce_shader(*ctx, "matmul_pack_rows_modulate"),
                  {vk::in(xt), vk::out(packed), vk::out(row_scale), vk::in(st), vk::in(ct)}, push,
                  vk::linear_grid(vk::ceil_div(rows, vk::kRowReduceWorkgroup / seg)), spec);
    std::vector<uint16_t> halves(size_t(rows * kp));
    std::vector<float> scales(rows);
    ctx->download(packed, halves.data());
    ctx->download(row_scale, scales.data());
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(is_power_of_two(scales[r])) << "row " << r << ": " << scales[r];
      float row_max = 0;
      for (int64_t c = 0; c < k; ++c) row_max = std::max(row_max, std::abs(want[r * k + c]));
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

}  // namespace
}  // namespace qi::test

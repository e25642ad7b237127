#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/dtype.h"
#include "core/tensor.h"

namespace qi {

TEST(DType, Bf16RoundTripIsExactForEveryBf16Value) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_bf16(f), uint16_t(h)) << h;
  }
}

TEST(DType, F16RoundTripIsExactForEveryF16Value) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), uint16_t(h)) << h;
  }
}

TEST(DType, F16RoundsToNearestEvenAndOverflows) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));  // halfway to the next step rounds to inf
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_TRUE(f16_overflows(1e5f));
  EXPECT_FALSE(f16_overflows(65504.0f));
  EXPECT_FALSE(f16_overflows(std::numeric_limits<float>::infinity()));
  EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3c00);       // tie -> even (1.0)
  EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048.0f), 0x3c02);       // tie -> even (up)
  EXPECT_EQ(f16_to_f32(f32_to_f16(5.9604644775390625e-8f)), 5.9604644775390625e-8f);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(2.9e-8f), 0);  // below half the smallest subnormal
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);  // tie -> even (up)
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(Tensor, ShapeHelpers) {
  EXPECT_EQ(shape_numel({2, 3, 4}), 24);
  EXPECT_EQ(shape_str({2, 3}), "[2, 3]");
}

}  // namespace qi

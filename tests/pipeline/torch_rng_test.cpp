#include "pipeline/torch_rng.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/error.h"

namespace qi {
namespace {

TEST(TorchRng, EngineIsTheStandardMersenneTwister) {
  // The C++ standard fixes mt19937's 10000th output for the default seed 5489 ([rand.predef]).
  TorchCpuGenerator generator(5489);
  uint32_t value = 0;
  for (int i = 0; i < 10000; ++i) value = generator.next_u32();
  EXPECT_EQ(value, 4123659995u);
}

// Values torch prints for torch.manual_seed(s); torch.randn(...) (shown to 4 decimals in countless
// tutorials), so each is checked to half a unit in the 4th decimal.
constexpr double kPrintedTolerance = 5e-5;

TEST(TorchRng, SmallTensorsUseTheScalarPathWithItsCachedSecondValue) {
  // torch.manual_seed(0); torch.randn(2, 3)
  const std::vector<float> seed0 = torch_randn({2, 3}, 0);
  const double expected0[] = {1.5410, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986};
  for (size_t i = 0; i < seed0.size(); ++i) EXPECT_NEAR(seed0[i], expected0[i], kPrintedTolerance) << i;
  // torch.manual_seed(42); torch.randn(2, 3)
  const std::vector<float> seed42 = torch_randn({2, 3}, 42);
  const double expected42[] = {0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863};
  for (size_t i = 0; i < seed42.size(); ++i) EXPECT_NEAR(seed42[i], expected42[i], kPrintedTolerance) << i;
}

TEST(TorchRng, SixteenOrMoreUseTheBlockPath) {
  // torch.manual_seed(0); torch.randn(4, 4)
  const std::vector<float> values = torch_randn({4, 4}, 0);
  const double expected[] = {-1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.6920, -0.3160, -2.1152,
                             0.3223,  -1.2633, 0.3500,  0.3081,  0.1198, 1.2377, 1.1168,  -0.2473};
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(values[i], expected[i], kPrintedTolerance) << i;
}

TEST(TorchRng, ScalarSamplesCarryTheCachedValueAcrossCalls) {
  // The cached sin-branch value lives in the generator, so three 1-element draws equal one 3-element draw.
  TorchCpuGenerator generator(7);
  std::vector<float> one_by_one;
  for (int i = 0; i < 3; ++i) one_by_one.push_back(generator.randn(1).at(0));
  const std::vector<float> at_once = torch_randn({3}, 7);
  for (size_t i = 0; i < at_once.size(); ++i) EXPECT_EQ(f32_bits(one_by_one[i]), f32_bits(at_once[i])) << i;
}

TEST(TorchRng, TailBlockIsRedrawnFromFreshUniforms) {
  // 20 values: one block from uniforms 0..15 (values 0..3 survive), then values 4..19 from uniforms 20..35.
  const std::vector<float> values = torch_randn({20}, 99);
  const std::vector<float> first_block = torch_randn({16}, 99);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(f32_bits(values[i]), f32_bits(first_block[i])) << i;
  TorchCpuGenerator generator(99);
  for (int i = 0; i < 20; ++i) generator.next_u32();
  const std::vector<float> tail = generator.randn(16);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(f32_bits(values[4 + i]), f32_bits(tail[i])) << i;
}

TEST(TorchRng, OnlyTheLow32BitsOfTheSeedMatter) {
  const std::vector<float> low = torch_randn({32}, 1234);
  const std::vector<float> high = torch_randn({32}, 1234 + (uint64_t(1) << 32));
  const std::vector<float> other = torch_randn({32}, 1235);
  EXPECT_EQ(low, high);
  EXPECT_NE(low, other);
}

TEST(TorchRng, BlockPathGivesStandardNormalStatistics) {
  const std::vector<float> values = torch_randn({1 << 16}, 3);
  double sum = 0, sum_sq = 0;
  for (float v : values) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum_sq += double(v) * v;
  }
  const double n = double(values.size());
  const double mean = sum / n;
  // Standard errors for 65536 samples: mean 0.004, variance 0.0055; allow about four of them.
  EXPECT_NEAR(mean, 0.0, 0.016);
  EXPECT_NEAR(sum_sq / n - mean * mean, 1.0, 0.022);
}

TEST(TorchRng, NegativeDimensionIsRefused) {
  EXPECT_THROW(torch_randn({2, -1}, 0), InputError);
  TorchCpuGenerator generator(0);
  EXPECT_THROW(generator.randn(-3), InputError);
  EXPECT_TRUE(torch_randn({0, 4}, 0).empty());
}

}  // namespace
}  // namespace qi

// Tensor health statistics against values computed by hand, for every dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "io/tensor_health.h"
#include "temp_files.h"

namespace qi {
namespace {

TensorToWrite f32_tensor(const std::string& name, const std::vector<float>& values) {
  TensorToWrite t{name, DType::F32, {int64_t(values.size())}, std::vector<uint8_t>(values.size() * 4)};
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());  // no null pointers to memcpy
  return t;
}

TensorToWrite bf16_tensor(const std::string& name, const std::vector<float>& values) {
  TensorToWrite t{name, DType::BF16, {int64_t(values.size())}, std::vector<uint8_t>(values.size() * 2)};
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t h = f32_to_bf16(values[i]);
    std::memcpy(t.data.data() + 2 * i, &h, 2);
  }
  return t;
}

TensorToWrite f16_tensor(const std::string& name, const std::vector<float>& values) {
  TensorToWrite t{name, DType::F16, {int64_t(values.size())}, std::vector<uint8_t>(values.size() * 2)};
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t h = f32_to_f16(values[i]);
    std::memcpy(t.data.data() + 2 * i, &h, 2);
  }
  return t;
}

std::vector<TensorHealth> health_of(const std::vector<TensorToWrite>& tensors, unsigned threads = 2) {
  test::ScratchDir dir;
  write_safetensors(dir / "h.safetensors", tensors);
  auto file = SafetensorsFile::open(dir / "h.safetensors");
  std::vector<const TensorView*> views;
  for (const auto& t : tensors) views.push_back(&file->get(t.name));
  return compute_tensor_health(views, threads);
}

TEST(TensorHealth, MeanStdAndCountsOfKnownValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto h = health_of({f32_tensor("a", {1, 2, 3, 4, 0, 0}), bf16_tensor("b", {-2, 2, nan, inf, -inf}),
                      f16_tensor("c", {0.5f, 0.5f, 0.5f}), f32_tensor("z", {0, 0, 0, 0}), f32_tensor("e", {})});
  EXPECT_EQ(h[0].count, 6);
  EXPECT_EQ(h[0].zeros, 2);
  EXPECT_DOUBLE_EQ(h[0].mean, 10.0 / 6);
  EXPECT_NEAR(h[0].stddev, std::sqrt(30.0 / 6 - (10.0 / 6) * (10.0 / 6)), 1e-12);
  EXPECT_DOUBLE_EQ(h[0].max_abs, 4);
  EXPECT_EQ(h[0].problem(), "");

  EXPECT_EQ(h[1].nans, 1);
  EXPECT_EQ(h[1].infs, 2);
  EXPECT_DOUBLE_EQ(h[1].mean, 0);
  EXPECT_DOUBLE_EQ(h[1].stddev, 2);
  EXPECT_EQ(h[1].problem(), "1 NaN, 2 Inf");

  EXPECT_DOUBLE_EQ(h[2].mean, 0.5);
  EXPECT_DOUBLE_EQ(h[2].stddev, 0);
  EXPECT_EQ(h[2].problem(), "");

  EXPECT_TRUE(h[3].all_zero());
  EXPECT_EQ(h[3].problem(), "all zero");
  EXPECT_EQ(h[4].count, 0);
  EXPECT_EQ(h[4].problem(), "");
}

TEST(TensorHealth, IntegerTensors) {
  const int32_t id_values[] = {-3, 5, 151643};
  TensorToWrite ids{"ids", DType::I32, {3}, std::vector<uint8_t>(sizeof id_values)};
  std::memcpy(ids.data.data(), id_values, sizeof id_values);
  auto mask = test::patterned_tensor("mask", DType::U8, {4});  // 0, 1, 2, 3
  auto h = health_of({ids, mask});
  EXPECT_DOUBLE_EQ(h[0].mean, (-3.0 + 5.0 + 151643.0) / 3);
  EXPECT_DOUBLE_EQ(h[0].max_abs, 151643.0);
  EXPECT_DOUBLE_EQ(h[1].mean, 1.5);
  EXPECT_EQ(h[1].zeros, 1);
}

TEST(TensorHealth, LargeTensorSplitAcrossChunksAgreesWithOneThread) {
  std::vector<float> values(9'000'001);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(int(i % 17) - 8) * 0.25f;
  values[8'500'000] = std::numeric_limits<float>::quiet_NaN();
  auto many = health_of({bf16_tensor("w", values)}, 4)[0];
  auto one = health_of({bf16_tensor("w", values)}, 1)[0];
  EXPECT_EQ(many.count, int64_t(values.size()));
  EXPECT_EQ(many.nans, 1);
  EXPECT_EQ(many.zeros, one.zeros);
  EXPECT_NEAR(many.mean, one.mean, 1e-12);
  EXPECT_NEAR(many.stddev, one.stddev, 1e-9);
  EXPECT_DOUBLE_EQ(many.max_abs, 2.0);
}

}  // namespace
}  // namespace qi

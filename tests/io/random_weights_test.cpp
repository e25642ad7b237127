#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/random_weights.h"

namespace qi {
namespace {

std::vector<float> values(const TensorView& v) {
  std::vector<float> out(size_t(v.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, v.data + 2 * i, 2);
    out[i] = bf16_to_f32(h);
  }
  return out;
}

void mean_std(const std::vector<float>& v, double& mean, double& std) {
  double s = 0, s2 = 0;
  for (float x : v) s += x, s2 += double(x) * x;
  mean = s / double(v.size());
  std = std::sqrt(s2 / double(v.size()) - mean * mean);
}

TEST(RandomWeights, ScalesFollowTheTensorRole) {
  const std::vector<ExpectedTensor> expected = {{"blocks.0.attn.to_q.weight", {256, 1024}},
                                                {"blocks.0.attn.to_q.bias", {4096}},
                                                {"blocks.0.attn.norm_q.weight", {4096}},
                                                {"model.embed_tokens.weight", {64, 64}}};
  TensorStore store = random_weights_store("test", expected, 7);
  double mean, std;
  mean_std(values(store.get("blocks.0.attn.to_q.weight")), mean, std);
  EXPECT_NEAR(mean, 0.0, 2e-3);
  EXPECT_NEAR(std, 1.0 / 32.0, 1e-3);  // 1/sqrt(fan_in)
  mean_std(values(store.get("blocks.0.attn.to_q.bias")), mean, std);
  EXPECT_NEAR(std, 0.02, 2e-3);
  mean_std(values(store.get("blocks.0.attn.norm_q.weight")), mean, std);
  EXPECT_NEAR(mean, 1.0, 1e-2);
  EXPECT_NEAR(std, 0.1, 1e-2);
  mean_std(values(store.get("model.embed_tokens.weight")), mean, std);
  EXPECT_NEAR(std, 1.0, 0.05);
  EXPECT_EQ(store.get("blocks.0.attn.to_q.weight").dtype, DType::BF16);
}

// make-model writes a sharded component a shard at a time: the parts must hold the whole list's values.
TEST(RandomWeights, PartsGeneratedApartMatchTheWholeList) {
  const std::vector<ExpectedTensor> expected = {
      {"a.weight", {33, 17}}, {"b.bias", {9}}, {"c.norm.weight", {12}}, {"d.weight", {5, 40}}};
  const std::vector<TensorToWrite> whole = random_weights(expected, 11);
  const std::vector<TensorToWrite> head = random_weights({expected[0], expected[1]}, 11, 0);
  const std::vector<TensorToWrite> tail = random_weights({expected[2], expected[3]}, 11, 2);
  ASSERT_EQ(whole.size(), 4u);
  EXPECT_EQ(head[0].data, whole[0].data);
  EXPECT_EQ(head[1].data, whole[1].data);
  EXPECT_EQ(tail[0].data, whole[2].data);
  EXPECT_EQ(tail[1].data, whole[3].data);
  // Without the offset the tail would repeat the head's streams: different values.
  EXPECT_NE(random_weights({expected[3]}, 11, 0)[0].data, whole[3].data);
}

TEST(RandomWeights, DeterministicPerSeedAndDistinctAcrossTensorsAndSeeds) {
  const std::vector<ExpectedTensor> expected = {{"a.weight", {33, 17}}, {"b.weight", {33, 17}}};
  auto a = random_weights(expected, 1), b = random_weights(expected, 1), c = random_weights(expected, 2);
  EXPECT_EQ(a[0].data, b[0].data);
  EXPECT_NE(a[0].data, a[1].data);
  EXPECT_NE(a[0].data, c[0].data);
}

TEST(RandomWeights, MemoryStoreRejectsWrongSizesAndDuplicates) {
  std::vector<TensorToWrite> bad = {{"x", DType::BF16, {4}, std::vector<uint8_t>(6)}};
  EXPECT_THROW(TensorStore::from_memory("m", bad), InputError);
  std::vector<TensorToWrite> dup = {{"x", DType::F32, {1}, std::vector<uint8_t>(4)}, {"x", DType::F32, {1}, std::vector<uint8_t>(4)}};
  EXPECT_THROW(TensorStore::from_memory("m", dup), InputError);
}

}  // namespace
}  // namespace qi

// The self-made random-weight model (make-model) in the published layout: it loads through every check and
// generates an image that is not degenerate.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <unistd.h>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "model/random_model.h"
#include "pipeline/generation.h"
#include "support/test_support.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

class RandomModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "fixture tokenizer not found under " << test::shared_dir();
    dir_ = fs::temp_directory_path() / ("qi-random-model-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    write_random_model(tiny_random_model_spec(3), dir_, test::tiny_a_dir() / "model" / "tokenizer");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RandomModel, LoadsAndGeneratesANonDegenerateImage) {
  ModelDir model = ModelDir::open(dir_);
  EXPECT_EQ(model.transformer.num_layers, 2);
  auto cpu = make_cpu_backend();
  Generator gen(model, *cpu);
  GenerationOptions o;
  o.prompt = "a lighthouse on a cliff at dusk";
  o.negative_prompt = " ";
  o.width = 64;
  o.height = 48;
  o.steps = 3;
  o.seed = 11;
  GenerationResult r = gen.generate(o);
  ASSERT_EQ(r.rgb.size(), size_t(64 * 48 * 3));
  std::set<uint8_t> distinct(r.rgb.begin(), r.rgb.end());
  EXPECT_GT(distinct.size(), 32u) << "the image is (nearly) flat";
  // Same seed, same image; another seed, another image.
  EXPECT_EQ(gen.generate(o).rgb, r.rgb);
  o.seed = 12;
  EXPECT_NE(gen.generate(o).rgb, r.rgb);
}

TEST_F(RandomModel, RefusesToOverwriteAModel) {
  EXPECT_THROW(write_random_model(tiny_random_model_spec(3), dir_, test::tiny_a_dir() / "model" / "tokenizer"), UsageError);
}

// Shards of a sharded component: about equal parts of the bytes, cut at tensor boundaries, never empty.
TEST(RandomModelShards, SplitByBytesIntoNonEmptyShards) {
  // The tiny model's case: far under the shard size, still the minimum number of shards.
  EXPECT_EQ(shard_ends({10, 10, 10, 10}, 1000, 2), (std::vector<size_t>{2, 4}));
  // 9 GB in 1 GB tensors with 5 GB shards: two shards, cut at the half.
  const std::vector<uint64_t> gb(9, 1'000'000'000);
  EXPECT_EQ(shard_ends(gb, 5'000'000'000, 2), (std::vector<size_t>{5, 9}));
  // 23 GB: five shards of 4-5 tensors, none over 5 GB.
  const std::vector<uint64_t> many(23, 1'000'000'000);
  const std::vector<size_t> ends = shard_ends(many, 5'000'000'000, 2);
  ASSERT_EQ(ends.size(), 5u);
  size_t begin = 0;
  for (size_t e : ends) {
    EXPECT_GT(e, begin);
    EXPECT_LE(e - begin, 5u);
    begin = e;
  }
  EXPECT_EQ(ends.back(), many.size());
  // A huge first tensor cannot leave later shards empty; fewer tensors than shards, one tensor each.
  EXPECT_EQ(shard_ends({100, 1, 1}, 40, 2), (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(shard_ends({7}, 1, 2), (std::vector<size_t>{1}));
  EXPECT_TRUE(shard_ends({}, 1, 2).empty());
}

// The full-size spec is the published architecture (the values the loader's defaults and the manifest hold).
TEST(RandomModelShards, FullSizeSpecIsThePublishedArchitecture) {
  const RandomModelSpec s = full_size_random_model_spec(1);
  EXPECT_EQ(s.transformer.num_layers, 60);
  EXPECT_EQ(s.transformer.num_attention_heads * s.transformer.attention_head_dim, 3072);
  EXPECT_EQ(s.text_encoder.num_hidden_layers, 28);
  EXPECT_EQ(s.text_encoder.hidden_size, 3584);
  EXPECT_EQ(s.vae.base_dim, 96);
  EXPECT_EQ(s.vae.latents_mean.size(), size_t(s.vae.z_dim));
}

}  // namespace
}  // namespace qi

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

}  // namespace
}  // namespace qi

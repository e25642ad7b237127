// ModelDir::open: model_index.json classes, component directories, cross-component consistency.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/model_dir.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// tiny-a's JSON files (no weights) copied into a scratch directory, to be broken one at a time.
class ModelDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
    const fs::path src = test::tiny_a_dir() / "model";
    for (const char* file : {"model_index.json", "transformer/config.json", "vae/config.json",
                             "text_encoder/config.json", "scheduler/scheduler_config.json",
                             "tokenizer/tokenizer_config.json"}) {
      fs::create_directories((dir_ / file).parent_path());
      fs::copy_file(src / file, dir_ / file);
    }
  }
  json load(const std::string& file) { return json::parse(test::read_file_bytes(dir_ / file)); }
  void edit(const std::string& file, const json::json_pointer& field, const json& value) {
    json j = load(file);
    j[field] = value;
    test::write_file(dir_ / file, j.dump());
  }
  std::string error_opening() {
    try {
      ModelDir::open(dir_.path());
    } catch (const InputError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no InputError";
    return "";
  }
  test::ScratchDir dir_;
};

TEST_F(ModelDirTest, OpensTinyA) {
  ModelDir m = ModelDir::open(test::tiny_a_dir() / "model");
  EXPECT_EQ(m.transformer.num_layers, 2);
  EXPECT_EQ(m.vae.base_dim, 16);
  EXPECT_EQ(m.text_encoder.hidden_size, 32);
  EXPECT_EQ(m.scheduler.max_image_seq_len, 8192);
  EXPECT_EQ(m.index.pipeline_class, "QwenImagePipeline");
  EXPECT_EQ(m.index.components.at("text_encoder").second, "Qwen2_5_VLForConditionalGeneration");
  EXPECT_EQ(m.tokenizer_dir(), test::tiny_a_dir() / "model" / "tokenizer");
}

TEST_F(ModelDirTest, OpensACopyOfTheConfigsWithoutTouchingWeights) {
  EXPECT_EQ(ModelDir::open(dir_.path()).transformer.hidden(), 128);
}

TEST_F(ModelDirTest, MissingDirectory) {
  try {
    ModelDir::open(dir_ / "nowhere");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "model directory " + (dir_ / "nowhere").string() + " does not exist");
  }
}

TEST_F(ModelDirTest, MissingModelIndex) {
  fs::remove(dir_ / "model_index.json");
  EXPECT_CONTAINS(error_opening(), "model index " + (dir_ / "model_index.json").string() + " does not exist");
}

TEST_F(ModelDirTest, MissingComponentDirectory) {
  fs::remove_all(dir_ / "vae");
  EXPECT_CONTAINS(error_opening(), "has no vae/ directory");
  fs::create_directories(dir_ / "vae");
  EXPECT_CONTAINS(error_opening(), "VAE config " + (dir_ / "vae" / "config.json").string() + " does not exist");
}

TEST_F(ModelDirTest, MissingSchedulerConfig) {
  fs::remove(dir_ / "scheduler" / "scheduler_config.json");
  EXPECT_CONTAINS(error_opening(), "scheduler_config.json does not exist");
}

TEST_F(ModelDirTest, WrongClassesAreNamed) {
  edit("model_index.json", "/_class_name"_json_pointer, "FluxPipeline");
  EXPECT_CONTAINS(error_opening(), "model_index.json: field '_class_name' is 'FluxPipeline', expected QwenImagePipeline");
  edit("model_index.json", "/_class_name"_json_pointer, "QwenImagePipeline");
  edit("model_index.json", "/vae"_json_pointer, {"diffusers", "AutoencoderKL"});
  EXPECT_CONTAINS(error_opening(), "field 'vae' names class 'AutoencoderKL', expected AutoencoderKLQwenImage");
  edit("model_index.json", "/vae"_json_pointer, "AutoencoderKLQwenImage");
  EXPECT_CONTAINS(error_opening(), "field 'vae' must be a list of strings");
  edit("model_index.json", "/vae"_json_pointer, {"AutoencoderKLQwenImage"});
  EXPECT_CONTAINS(error_opening(), "field 'vae' must be [library, class]");
}

TEST_F(ModelDirTest, MissingComponentInIndex) {
  json j = load("model_index.json");
  j.erase("scheduler");
  test::write_file(dir_ / "model_index.json", j.dump());
  EXPECT_CONTAINS(error_opening(), "model_index.json: field 'scheduler' is missing");
}

TEST_F(ModelDirTest, CrossComponentMismatches) {
  edit("transformer/config.json", "/joint_attention_dim"_json_pointer, 64);
  EXPECT_CONTAINS(error_opening(), "transformer joint_attention_dim 64 differs from the text encoder's hidden_size 32");
  edit("transformer/config.json", "/joint_attention_dim"_json_pointer, 32);
  edit("vae/config.json", "/z_dim"_json_pointer, 8);
  edit("vae/config.json", "/latents_mean"_json_pointer, std::vector<double>(8, 0.0));
  edit("vae/config.json", "/latents_std"_json_pointer, std::vector<double>(8, 1.0));
  EXPECT_CONTAINS(error_opening(), "transformer out_channels 16 differs from the VAE's z_dim 8");
}

TEST_F(ModelDirTest, BadComponentConfigNamesItsFile) {
  test::write_file(dir_ / "text_encoder" / "config.json", "{\"text_config\": ");
  EXPECT_CONTAINS(error_opening(), (dir_ / "text_encoder" / "config.json").string() + ": config is not valid JSON");
}

}  // namespace
}  // namespace qi

// inspect_component (what `qwen-image-vk inspect` reports): tiny-a is healthy; zeroed or NaN weights,
// a missing tensor and an unreadable store each mark the component broken with a message that says why.
#include <gtest/gtest.h>

#include <functional>

#include "io/component_inspection.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

class ComponentInspectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  }

  // tiny-a copied to a scratch directory, with the VAE rewritten through `edit`.
  ModelDir copy_with_vae(const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    fs::copy(test::tiny_a_dir() / "model", scratch_ / "model", fs::copy_options::recursive);
    fs::path vae_file = scratch_ / "model" / "vae" / "diffusion_pytorch_model.safetensors";
    fs::permissions(vae_file.parent_path(), fs::perms::owner_all, fs::perm_options::add);
    std::vector<TensorToWrite> tensors;
    {
      auto file = SafetensorsFile::open(vae_file);
      for (const auto& [name, v] : file->tensors())
        tensors.push_back({name, v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.bytes)});
    }
    edit(tensors);
    fs::remove(vae_file);
    write_safetensors(vae_file, tensors);
    return ModelDir::open(scratch_ / "model");
  }

  test::ScratchDir scratch_;
};

TEST_F(ComponentInspectionTest, TinyAIsHealthy) {
  ModelDir model = ModelDir::open(test::tiny_a_dir() / "model");
  for (const char* component : {"transformer", "vae", "text_encoder"}) {
    ComponentInspection r = inspect_component(model, component, true, 2);
    EXPECT_FALSE(r.broken()) << component << r.open_error << r.check_error;
    EXPECT_EQ(r.tensors.size(), r.store.size());
    ASSERT_TRUE(r.read.has_value());
    for (const auto& t : r.tensors) EXPECT_EQ(t.health.has_value(), t.used) << t.view->name;
  }
  ComponentInspection text = inspect_component(model, "text_encoder", true);
  EXPECT_EQ(text.expected_tensors, 26u);  // 1 embedding + 2 layers x 12 + final norm
  EXPECT_LT(text.used_parameters, text.all_parameters);  // lm_head and the vision tower are not used
  EXPECT_EQ(text.read->bytes, uint64_t(text.used_parameters) * 2);  // bf16, only used tensors are read
}

TEST_F(ComponentInspectionTest, WithoutStatsNothingIsRead) {
  ComponentInspection r = inspect_component(ModelDir::open(test::tiny_a_dir() / "model"), "vae", false);
  EXPECT_FALSE(r.broken());
  EXPECT_FALSE(r.read.has_value());
  for (const auto& t : r.tensors) EXPECT_FALSE(t.health.has_value());
}

TEST_F(ComponentInspectionTest, ZeroedAndNonFiniteTensorsAreUnhealthy) {
  ModelDir model = copy_with_vae([](std::vector<TensorToWrite>& tensors) {
    for (auto& t : tensors) {
      if (t.name == "decoder.conv_in.weight") std::fill(t.data.begin(), t.data.end(), 0);
      if (t.name == "decoder.conv_out.bias") t.data[0] = 0xc0, t.data[1] = 0x7f;  // element 0 = bf16 NaN
    }
  });
  ComponentInspection r = inspect_component(model, "vae", true);
  EXPECT_TRUE(r.broken());
  EXPECT_TRUE(r.check_error.empty()) << r.check_error;
  EXPECT_EQ(r.unhealthy, (std::vector<std::string>{"decoder.conv_in.weight is all zero",
                                                   "decoder.conv_out.bias is 1 NaN, 0 Inf"}));
}

TEST_F(ComponentInspectionTest, MissingTensorIsReportedEvenWithoutStats) {
  ModelDir model = copy_with_vae([](std::vector<TensorToWrite>& tensors) {
    std::erase_if(tensors, [](const TensorToWrite& t) { return t.name == "decoder.norm_out.gamma"; });
  });
  ComponentInspection r = inspect_component(model, "vae", false);
  EXPECT_TRUE(r.broken());
  EXPECT_NE(r.check_error.find("missing decoder.norm_out.gamma (expected [16, 1, 1, 1])"), std::string::npos)
      << r.check_error;
}

TEST_F(ComponentInspectionTest, UnreadableStoreIsReportedNotThrown) {
  ModelDir model = copy_with_vae([](std::vector<TensorToWrite>&) {});
  fs::path vae_file = scratch_ / "model" / "vae" / "diffusion_pytorch_model.safetensors";
  fs::resize_file(vae_file, fs::file_size(vae_file) / 2);
  ComponentInspection r = inspect_component(model, "vae", true);
  EXPECT_TRUE(r.broken());
  EXPECT_NE(r.open_error.find("past the end"), std::string::npos) << r.open_error;
  EXPECT_TRUE(r.tensors.empty());
}

}  // namespace
}  // namespace qi

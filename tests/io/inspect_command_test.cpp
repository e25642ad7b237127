// `qwen-image-vk inspect` end to end ($QI_BINARY, set by ctest): exit 0 on tiny-a, 1 when a component is
// broken (zeroed or NaN weights, a missing tensor), 2 on bad flags.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "io/safetensors.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

class InspectCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* binary = std::getenv("QI_BINARY");
    if (!binary || !fs::exists(binary)) GTEST_SKIP() << "QI_BINARY not set (run through ctest)";
    if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
    binary_ = binary;
  }

  CommandResult inspect(const std::string& flags) {
    std::string command = "'" + binary_ + "' inspect " + flags + " 2>&1";
    CommandResult run;
    FILE* pipe = ::popen(command.c_str(), "r");
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) run.output.append(buf, n);
    int status = ::pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }

  // tiny-a copied to a scratch directory, with the VAE rewritten through `edit`.
  fs::path copy_with_vae(const std::function<void(std::vector<TensorToWrite>&)>& edit) {
    fs::copy(test::tiny_a_dir() / "model", scratch_.path() / "model", fs::copy_options::recursive);
    fs::path vae_file = scratch_.path() / "model" / "vae" / "diffusion_pytorch_model.safetensors";
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
    return scratch_.path() / "model";
  }

  std::string binary_;
  test::TempDir scratch_;
};

TEST_F(InspectCommand, TinyAIsHealthy) {
  CommandResult run = inspect("--model '" + (test::tiny_a_dir() / "model").string() + "'");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("transformer_blocks.1.txt_mlp.net.2.weight"), std::string::npos);
  EXPECT_NE(run.output.find("lm_head.weight"), std::string::npos);
  EXPECT_NE(run.output.find("(unused)"), std::string::npos);
  EXPECT_NE(run.output.find("\nhealthy\n"), std::string::npos) << run.output;
}

TEST_F(InspectCommand, ZeroedAndNonFiniteTensorsBreakTheComponent) {
  fs::path model = copy_with_vae([](std::vector<TensorToWrite>& tensors) {
    for (auto& t : tensors) {
      if (t.name == "decoder.conv_in.weight") std::fill(t.data.begin(), t.data.end(), 0);
      if (t.name == "decoder.conv_out.bias") t.data[1] = 0x7f, t.data[0] = 0xc0;  // bf16 NaN in element 0
    }
  });
  CommandResult run = inspect("--model '" + model.string() + "' --component vae");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("vae: decoder.conv_in.weight is all zero"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("vae: decoder.conv_out.bias is 1 NaN, 0 Inf"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("BROKEN: vae"), std::string::npos) << run.output;
}

TEST_F(InspectCommand, MissingTensorBreaksTheComponentEvenWithoutStats) {
  fs::path model = copy_with_vae([](std::vector<TensorToWrite>& tensors) {
    std::erase_if(tensors, [](const TensorToWrite& t) { return t.name == "decoder.norm_out.gamma"; });
  });
  CommandResult run = inspect("--model '" + model.string() + "' --component vae --no-stats");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("missing decoder.norm_out.gamma (expected [16, 1, 1, 1])"), std::string::npos)
      << run.output;
}

TEST_F(InspectCommand, BadFlagsAreUsageErrors) {
  EXPECT_EQ(inspect("--model x --component unet").exit_code, 2);
  EXPECT_EQ(inspect("--bogus").exit_code, 2);
  EXPECT_EQ(inspect("--component vae").exit_code, 2);  // --model is required
  CommandResult help = inspect("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("usage: qwen-image-vk inspect"), std::string::npos);
}

TEST_F(InspectCommand, MissingModelDirectoryIsAnInputError) {
  CommandResult run = inspect("--model '" + (scratch_.path() / "none").string() + "'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("does not exist"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace qi

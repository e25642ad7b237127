// Every bad input to `generate` gets one clear error: exit code 2 for usage, 1 for runtime failures, never
// a signal, and nothing left in the output directory (docs/reliability.md lists these cases).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>

#include "cli/cli_support.h"
#include "io/safetensors.h"
#include "support/test_support.h"

namespace qi::test {
namespace {

namespace fs = std::filesystem;

// The tiny-a generation parameters, small enough for a test run on the CPU backend.
std::vector<std::string> tiny_generate(const fs::path& model, const fs::path& output) {
  return {"generate", "--model", model.string(), "--prompt", "a fox", "--width", "80", "--height", "112",
          "--steps", "2", "--seed", "1", "--backend", "cpu", "--output", output.string(), "--quiet"};
}

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

// Replaces the value after `flag` in an argument list.
std::vector<std::string> set_flag(std::vector<std::string> args, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag) {
      args[i + 1] = value;
      return args;
    }
  args.push_back(flag);
  args.push_back(value);
  return args;
}

// Runs and expects exit `code`, `message` on stderr, no signal and an empty output directory.
void expect_failure(const std::vector<std::string>& args, int code, const std::string& message, const ScratchDir& out_dir,
                    const std::vector<std::string>& env = {}) {
  RunResult r = run_cli(args, env);
  EXPECT_EQ(r.signal, 0) << r.err;
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << "stderr: " << r.err;
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_EQ(out_dir.entries(), std::vector<std::string>{}) << "left behind after: " << r.err;
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_shared()) GTEST_SKIP() << "needs ../shared/fixtures";
  }
  fs::path model() const { return tiny_a_dir() / "model"; }
  ScratchDir out;
  fs::path png() const { return out / "out.png"; }
};

// ---- flags ------------------------------------------------------------------------------------------------

TEST_F(BadInput, UnknownFlag) {
  expect_failure(with(tiny_generate(model(), png()), {"--bogus", "1"}), 2, "unknown flag --bogus", out);
}

TEST_F(BadInput, MissingValue) {
  expect_failure(with(tiny_generate(model(), png()), {"--steps"}), 2, "--steps needs a value", out);
}

TEST_F(BadInput, MissingPrompt) {
  expect_failure({"generate", "--model", model().string(), "--output", png().string()}, 2, "--prompt is required", out);
}

TEST_F(BadInput, WidthHeightOutOfRange) {
  const auto base = tiny_generate(model(), png());
  expect_failure(set_flag(base, "--width", "0"), 2, "--width: 0 is out of range", out);
  expect_failure(set_flag(base, "--height", "-16"), 2, "--height: -16 is out of range", out);
  expect_failure(set_flag(base, "--width", "8"), 2, "--width must be at least 16 (got 8)", out);
  expect_failure(set_flag(base, "--width", "100000"), 2, "--width: 100000 is out of range", out);
  expect_failure(set_flag(base, "--width", "12abc"), 2, "--width: '12abc' is not a whole number", out);
}

// A size within the flag's range but beyond this machine: refused before any weight is read, with the
// estimate and the options. The full-size architecture (random weights, never generated because the
// check comes first) at 8192x8192 needs about 121 GiB (transformer weights and activations).
constexpr uint64_t kFullSize8kNeedsGiB = 121;

TEST_F(BadInput, SizeNeedsMoreMemoryThanTheMachineHas) {
  const uint64_t ram_gib = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE)) >> 30;
  if (ram_gib >= kFullSize8kNeedsGiB) GTEST_SKIP() << "this machine has " << ram_gib << " GiB";
  const std::vector<std::string> args = {"generate", "--random-weights", "1", "--tokenizer",
                                         (model() / "tokenizer").string(), "--prompt", "x", "--width", "8192",
                                         "--height", "8192", "--backend", "cpu", "--output", png().string()};
  expect_failure(args, 1, "a 8192x8192 generation needs about", out);
  RunResult r = run_cli(args);
  EXPECT_NE(r.err.find("Options: a smaller --width/--height"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the cpu backend has"), std::string::npos) << r.err;
}

// At 16384x16384 (1M image tokens, 128x the scheduler's max_image_seq_len) the dynamic shift rounds every
// sigma to 1: refused as a usage error before anything is loaded.
TEST_F(BadInput, SizeBeyondTheSchedulersRange) {
  expect_failure({"generate", "--model", model().string(), "--prompt", "x", "--width", "16384", "--height", "16384",
                  "--backend", "cpu", "--output", png().string()},
                 2, "--width 16384 --height 16384: at this size the scheduler's resolution-dependent shift", out);
}

TEST_F(BadInput, StepsNotPositive) {
  const auto base = tiny_generate(model(), png());
  expect_failure(set_flag(base, "--steps", "0"), 2, "--steps: 0 is out of range", out);
  expect_failure(set_flag(base, "--steps", "-3"), 2, "--steps: -3 is out of range", out);
  // One step cannot be stretched to the scheduler's shift_terminal: refused before any weight is loaded.
  RunResult r = run_cli(set_flag(base, "--steps", "1"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("error: --steps 1: the last sigma is 1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("weights loaded"), std::string::npos) << "refused only after loading: " << r.err;
  EXPECT_EQ(out.entries(), std::vector<std::string>{});
}

TEST_F(BadInput, CfgNotFiniteOrNegative) {
  const auto base = tiny_generate(model(), png());
  expect_failure(set_flag(base, "--cfg", "nan"), 2, "--cfg: nan is not finite", out);
  expect_failure(set_flag(base, "--cfg", "inf"), 2, "--cfg: inf is not finite", out);
  expect_failure(set_flag(base, "--cfg", "-1"), 2, "--cfg must be >= 0", out);
  expect_failure(set_flag(base, "--cfg", "four"), 2, "--cfg: 'four' is not a number", out);
}

TEST_F(BadInput, SeedOutOfRange) {
  const auto base = tiny_generate(model(), png());
  expect_failure(set_flag(base, "--seed", "-1"), 2, "--seed: '-1' is not a non-negative whole number", out);
  expect_failure(set_flag(base, "--seed", "18446744073709551616"), 2, "is not a whole number in [0, 2^64)", out);
}

TEST_F(BadInput, SeedWithNoise) {
  expect_failure(with(tiny_generate(model(), png()), {"--noise", (out / "n.safetensors").string()}), 2,
                 "--seed and --noise exclude each other", out);
}

// The noise file holds one F32 tensor [16, H/8, W/8] (or [1, 16, 1, H/8, W/8]) for the requested size.
TEST_F(BadInput, NoiseWrongShapeOrDtype) {
  ScratchDir noise_dir;
  auto noise_args = [&](const fs::path& file) {
    auto a = tiny_generate(model(), png());
    a.erase(a.begin() + 11, a.begin() + 13);  // drop --seed 1
    return with(a, {"--noise", file.string()});
  };
  ASSERT_EQ(tiny_generate(model(), png())[11], "--seed");
  const fs::path wrong_shape = noise_dir / "shape.safetensors";
  write_safetensors(wrong_shape, {{"noise", DType::F32, {16, 3, 3}, std::vector<uint8_t>(16 * 3 * 3 * 4)}});
  expect_failure(noise_args(wrong_shape), 1, "has shape [16, 3, 3]; expected", out);
  const fs::path wrong_dtype = noise_dir / "dtype.safetensors";
  write_safetensors(wrong_dtype, {{"noise", DType::BF16, {16, 14, 10}, std::vector<uint8_t>(16 * 14 * 10 * 2)}});
  expect_failure(noise_args(wrong_dtype), 1, "is BF16", out);
  expect_failure(noise_args(noise_dir / "absent.safetensors"), 1, "absent.safetensors", out);
}

TEST_F(BadInput, OutputDirectoryMissing) {
  expect_failure(tiny_generate(model(), out / "no-such-dir" / "x.png"), 1, "no-such-dir", out);
}

TEST_F(BadInput, OutputParentIsAFile) {
  write_text(out / "file", "x");
  RunResult r = run_cli(tiny_generate(model(), out / "file" / "x.png"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("file"), std::string::npos) << r.err;
  EXPECT_EQ(out.entries(), std::vector<std::string>{"file"});
}

TEST_F(BadInput, OutputIsADirectory) {
  std::filesystem::create_directory(out / "d.png");
  RunResult r = run_cli(tiny_generate(model(), out / "d.png"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("d.png: it is a directory"), std::string::npos) << r.err;
  EXPECT_EQ(out.entries(), std::vector<std::string>{"d.png"});
}

// --dump DIR is checked before any work too: its parent must exist.
TEST_F(BadInput, DumpDirectoryParentMissing) {
  expect_failure(with(tiny_generate(model(), png()), {"--dump", (out / "no" / "dump").string()}), 1,
                 "directory " + (out / "no").string() + " does not exist", out);
}

// A directory whose permission bits forbid writing (root writes there anyway, so only for other users), and
// one nobody may write into, root included (/proc/sys): refused before any work, nothing created.
TEST_F(BadInput, OutputDirectoryNotWritable) {
  if (geteuid() != 0) {
    fs::create_directory(out / "ro");
    fs::permissions(out / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    RunResult r = run_cli(tiny_generate(model(), out / "ro" / "x.png"));
    fs::permissions(out / "ro", fs::perms::owner_all);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("directory " + (out / "ro").string() + " is not writable"), std::string::npos) << r.err;
    EXPECT_EQ(out.entries(), std::vector<std::string>{"ro"});
    fs::remove(out / "ro");
  }
  const auto locked = unwritable_directory();
  if (!locked) GTEST_SKIP() << "no directory here that even root cannot write (/proc/sys)";
  expect_failure(tiny_generate(model(), *locked / "x.png"), 1,
                 "cannot write " + (*locked / "x.png").string() + ": directory " + locked->string() + " is not writable",
                 out);
  EXPECT_FALSE(fs::exists(*locked / "x.png"));
}

// ---- prompts ----------------------------------------------------------------------------------------------

TEST_F(BadInput, InvalidUtf8Prompt) {
  expect_failure(set_flag(tiny_generate(model(), png()), "--prompt", "caf\xc3"), 2,
                 "--prompt is not valid UTF-8: truncated multi-byte sequence at byte 3", out);
  expect_failure(with(tiny_generate(model(), png()), {"--negative-prompt", "\xff"}), 2,
                 "--negative-prompt is not valid UTF-8", out);
}

TEST_F(BadInput, EmptyPromptIsAllowed) {
  RunResult r = run_cli(set_flag(tiny_generate(model(), png()), "--prompt", ""));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(png()));
  EXPECT_EQ(out.entries(), std::vector<std::string>{"out.png"});
}

TEST_F(BadInput, OverlongPromptIsTruncatedWithAWarning) {
  auto args = set_flag(tiny_generate(model(), png()), "--prompt", "one two three four five six seven eight nine ten");
  RunResult r = run_cli(with(args, {"--max-sequence-length", "4"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("truncated to 4 (--max-sequence-length)"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(png()));
}

// ---- model directory --------------------------------------------------------------------------------------

class BadModel : public BadInput {
 protected:
  void SetUp() override {
    BadInput::SetUp();
    if (IsSkipped()) return;
    copy_tiny_model(dir.path() / "m");
  }
  fs::path m() const { return dir / "m"; }
  void expect_model_failure(const std::string& message) { expect_failure(tiny_generate(m(), png()), 1, message, out); }
  ScratchDir dir;
};

TEST_F(BadModel, DirectoryMissing) {
  expect_failure(tiny_generate(dir / "absent", png()), 1, (dir / "absent").string(), out);
}

TEST_F(BadModel, ComponentMissing) {
  fs::remove_all(m() / "vae");
  expect_model_failure("vae");
}

TEST_F(BadModel, BadJson) {
  write_text(m() / "transformer" / "config.json", "{\"num_layers\": 2,");
  expect_model_failure("transformer/config.json");
}

TEST_F(BadModel, ModelIndexBadJson) {
  write_text(m() / "model_index.json", "not json");
  expect_model_failure("model_index.json");
}

// The config says 3 layers; the weights hold 2: the missing tensor is named.
TEST_F(BadModel, ConfigInconsistentWithWeights) {
  std::string cfg = read_text(m() / "transformer" / "config.json");
  cfg.replace(cfg.find("\"num_layers\": 2"), std::strlen("\"num_layers\": 2"), "\"num_layers\": 3");
  write_text(m() / "transformer" / "config.json", cfg);
  expect_model_failure("transformer_blocks.2");
}

// joint_attention_dim 64 in the transformer against the text encoder's hidden_size 32.
TEST_F(BadModel, ConfigInconsistentAcrossComponents) {
  std::string cfg = read_text(m() / "transformer" / "config.json");
  cfg.replace(cfg.find("\"joint_attention_dim\": 32"), std::strlen("\"joint_attention_dim\": 32"),
              "\"joint_attention_dim\": 64");
  write_text(m() / "transformer" / "config.json", cfg);
  expect_model_failure("transformer joint_attention_dim 64 differs from the text encoder's hidden_size 32");
}

// The VAE file rewritten with one tensor reshaped (same element count, so the file itself is valid).
TEST_F(BadModel, MisShapedTensor) {
  const fs::path f = m() / "vae" / "diffusion_pytorch_model.safetensors";
  const std::string victim = "decoder.conv_out.bias";
  std::vector<TensorToWrite> tensors;
  {
    auto file = SafetensorsFile::open(f);
    ASSERT_TRUE(file->has(victim));
    for (const auto& [name, v] : file->tensors()) {
      TensorToWrite t{name, v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.bytes)};
      if (name == victim) t.shape = {1, v.numel()};
      tensors.push_back(std::move(t));
    }
  }
  write_safetensors(f, tensors);
  expect_model_failure(victim);
}

TEST_F(BadModel, TruncatedSafetensors) {
  const fs::path f = m() / "vae" / "diffusion_pytorch_model.safetensors";
  fs::resize_file(f, fs::file_size(f) / 2);
  expect_model_failure("diffusion_pytorch_model.safetensors");
}

TEST_F(BadModel, MissingShard) {
  fs::remove(m() / "transformer" / "diffusion_pytorch_model-00002-of-00003.safetensors");
  expect_model_failure("diffusion_pytorch_model-00002-of-00003.safetensors");
}

TEST_F(BadModel, TokenizerFilesMissing) {
  fs::remove(m() / "tokenizer" / "vocab.json");
  expect_model_failure("tokenizer");
}

TEST_F(BadModel, TokenizerMalformed) {
  write_text(m() / "tokenizer" / "vocab.json", "{\"a\": \"not an id\"}");
  expect_model_failure("vocab.json");
}

// ---- backends ---------------------------------------------------------------------------------------------

// No Vulkan driver (the loader finds no ICD): --backend vulkan is a clear error, --backend auto warns and
// runs on the CPU backend.
TEST_F(BadInput, NoVulkanDevice) {
  const std::vector<std::string> no_icd = {"VK_ICD_FILENAMES=/nonexistent", "VK_DRIVER_FILES=/nonexistent"};
  expect_failure(set_flag(tiny_generate(model(), png()), "--backend", "vulkan"), 1, "no Vulkan 1.3 driver found", out,
                 no_icd);
  RunResult r = run_cli(set_flag(tiny_generate(model(), png()), "--backend", "auto"), no_icd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("falls back to the CPU backend"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(png()));
}

TEST_F(BadInput, UnknownBackend) {
  expect_failure(set_flag(tiny_generate(model(), png()), "--backend", "metal"), 2, "--backend must be vulkan, cpu or auto",
                 out);
}

}  // namespace
}  // namespace qi::test

// generate --vram-budget: the flag through the real binary (bad values are usage errors before any work; a
// budget below what even full streaming needs is refused with the numbers), and the placement it plans for
// the full-size model (random-weight configs, nothing generated): automatic streaming only on a GPU that
// the resident model does not fit, a 24 GB GPU not refused, refusals that name --vram-budget.
#include <gtest/gtest.h>

#include <stdexcept>

#include "cli/cli_support.h"
#include "cli/memory_estimate.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "support/test_support.h"

namespace qi::test {
namespace {

namespace fs = std::filesystem;
using cli::DeviceMemory;
using cli::MemoryEstimate;

constexpr uint64_t kGiB = 1ull << 30;

// ---- the flag, through the binary ---------------------------------------------------------------------------

class VramBudgetFlag : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_shared()) GTEST_SKIP() << "needs ../shared/fixtures";
  }
  std::vector<std::string> tiny(const std::string& budget) const {
    return {"generate", "--model", (tiny_a_dir() / "model").string(), "--prompt", "a fox", "--width", "80",
            "--height", "112", "--steps", "2", "--seed", "1", "--backend", "cpu", "--output",
            (out / "out.png").string(), "--vram-budget", budget};
  }
  ScratchDir out;
};

TEST_F(VramBudgetFlag, BadValuesAreUsageErrorsBeforeAnyWork) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "--vram-budget must be a number in (0, 65536] (got 0)"},
      {"-4", "--vram-budget must be a number in (0, 65536] (got -4)"},
      {"100000", "--vram-budget must be a number in (0, 65536] (got 100000)"},
      {"24GB", "--vram-budget: '24GB' is not a number"},
      {"", "--vram-budget: '' is not a number"},
      {"inf", "--vram-budget: inf is not finite"},
      {"nan", "--vram-budget: nan is not finite"},
  };
  for (const auto& [value, message] : cases) {
    RunResult r = run_cli(tiny(value));
    EXPECT_EQ(r.signal, 0) << value;
    EXPECT_EQ(r.exit_code, 2) << value << ": " << r.err;
    EXPECT_NE(r.err.find("error: " + message), std::string::npos) << value << ": " << r.err;
    EXPECT_EQ(r.err.find("weights loaded"), std::string::npos) << value << ": " << r.err;
  }
  RunResult missing = run_cli({"generate", "--model", (tiny_a_dir() / "model").string(), "--prompt", "x", "--vram-budget"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--vram-budget needs a value"), std::string::npos) << missing.err;
  EXPECT_EQ(out.entries(), std::vector<std::string>{});
}

TEST_F(VramBudgetFlag, BudgetBelowWhatFullStreamingNeedsIsRefusedWithTheNumbers) {
  // The tiny model's VAE decode at 80x112 needs about 9 MiB, and the VAE cannot stream.
  RunResult r = run_cli(tiny("0.001"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("error: a 80x112 generation needs about"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("more than --vram-budget 1.0 MiB"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("weights loaded"), std::string::npos) << r.err;
  EXPECT_EQ(out.entries(), std::vector<std::string>{});
}

TEST_F(VramBudgetFlag, BudgetThatFitsRunsAndSaysSo) {
  RunResult r = run_cli(tiny("1.5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--vram-budget 1.5 GiB: every weight fits"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out / "out.png"));
}

TEST_F(VramBudgetFlag, HelpListsIt) {
  RunResult r = run_cli({"generate", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--vram-budget GIB"), std::string::npos) << r.out;
}

// ---- the placement of the full-size model -------------------------------------------------------------------

class FullSizePlacement : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_shared()) GTEST_SKIP() << "needs ../shared/fixtures (tokenizer)";
    model = std::make_unique<ModelDir>(ModelDir::with_random_weights(tiny_a_dir() / "model" / "tokenizer", 1));
  }
  MemoryEstimate resident(int size, bool batch = false, int text = 512) const {
    return cli::estimate_generation_memory(*model, {size, size, text, batch});
  }
  static DeviceMemory gpu(double gib) { return {uint64_t(gib * double(kGiB)), false, 128 * kGiB, "vulkan"}; }
  std::unique_ptr<ModelDir> model;
};

// The stage split: 60 transformer blocks of ~680 MB, 28 text-encoder layers of ~466 MB.
TEST_F(FullSizePlacement, StagesSplitIntoBlocks) {
  const MemoryEstimate e = resident(1328);
  EXPECT_EQ(e.transformer_stage.blocks, 60);
  EXPECT_NEAR(double(e.transformer_stage.block_bytes) / 1e6, 679.5, 1.0);
  EXPECT_NEAR(double(e.transformer_stage.device_weight_bytes()) / 1e9, 40.86, 0.01);
  EXPECT_EQ(e.text_encoder_stage.blocks, 28);
  EXPECT_NEAR(double(e.text_encoder_stage.block_bytes) / 1e6, 466.1, 1.0);
  EXPECT_FALSE(e.streams());
}

// Tiled VAE decoding (--vae-tiling): the decoder's activations are one 256-pixel tile's, whatever the image
// size; whole, a 4096² decode needs more than half of what the transformer's weights take.
TEST_F(FullSizePlacement, TiledVaeNeedsOneTilesActivations) {
  cli::EstimateInputs whole{4096, 4096, 512, false}, tiled = whole, small{256, 256, 512, false};
  tiled.vae_tile_pixels = 256;
  const MemoryEstimate w = cli::estimate_generation_memory(*model, whole);
  const MemoryEstimate t = cli::estimate_generation_memory(*model, tiled);
  EXPECT_GT(w.vae_bytes, w.transformer_stage.device_weight_bytes() / 2);
  EXPECT_EQ(t.vae_bytes, cli::estimate_generation_memory(*model, small).vae_bytes);
  EXPECT_LT(t.vae_bytes, w.vae_bytes / 100);
}

TEST_F(FullSizePlacement, H100KeepsEverythingResident) {
  const MemoryEstimate e = cli::place_weights(resident(1328), std::nullopt, gpu(79.6), "x");
  EXPECT_FALSE(e.streams());
  EXPECT_EQ(e.host_bytes, 0u);
}

// A 24 GB GPU at the default size: not refused; the transformer streams the blocks that do not fit (about
// half of them) through 2 slots, the text encoder (~14 GB) stays resident.
TEST_F(FullSizePlacement, A24GBGpuStreamsPartOfTheTransformer) {
  const MemoryEstimate e = cli::place_weights(resident(1328), std::nullopt, gpu(23.6), "x");
  ASSERT_TRUE(e.streams());
  EXPECT_FALSE(e.offload.text_encoder.streams(28));
  EXPECT_EQ(e.offload.transformer.slots, 2);
  EXPECT_GT(e.offload.transformer.resident_blocks, 15);
  EXPECT_LT(e.offload.transformer.resident_blocks, 35);
  EXPECT_LE(e.peak_bytes, uint64_t(23.6 * double(kGiB)));
  EXPECT_EQ(e.host_bytes, uint64_t(60 - e.offload.transformer.resident_blocks) * e.transformer_stage.block_bytes);
  EXPECT_NE(e.describe_offload().find("through 2 device slots"), std::string::npos) << e.describe_offload();
}

TEST_F(FullSizePlacement, ExplicitBudgetStreamsEvenWhereTheDeviceIsLarger) {
  const MemoryEstimate e = cli::place_weights(resident(1328), 20.0, gpu(79.6), "x");
  ASSERT_TRUE(e.offload.transformer.streams(60));
  EXPECT_LE(e.peak_bytes, 20 * kGiB);
  // A smaller budget keeps fewer blocks resident; a 12 GiB one also streams the text encoder.
  const MemoryEstimate tight = cli::place_weights(resident(1328), 12.0, gpu(79.6), "x");
  EXPECT_LT(tight.offload.transformer.resident_blocks, e.offload.transformer.resident_blocks);
  EXPECT_TRUE(tight.offload.text_encoder.streams(28));
  EXPECT_LE(tight.peak_bytes, 12 * kGiB);
  // A budget the resident model fits changes nothing.
  EXPECT_FALSE(cli::place_weights(resident(1328), 64.0, gpu(79.6), "x").streams());
}

TEST_F(FullSizePlacement, RefusalsNameVramBudget) {
  try {
    cli::place_weights(resident(1328), 2.0, gpu(79.6), "a 1328x1328 generation");
    FAIL() << "a 2 GiB budget cannot hold the activations";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("more than --vram-budget 2.0 GiB"), std::string::npos) << e.what();
  }
  try {
    cli::place_weights(resident(1328), std::nullopt, gpu(3.0), "a 1328x1328 generation");
    FAIL() << "3 GiB is too little even when streaming";
  } catch (const RuntimeFailure& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("streamed from host memory (--vram-budget)"), std::string::npos) << m;
    EXPECT_NE(m.find("the vulkan backend has 3.0 GiB"), std::string::npos) << m;
  }
  // Streaming needs the streamed weights in host RAM.
  DeviceMemory small_host = gpu(23.6);
  small_host.host_ram = 8 * kGiB;
  EXPECT_THROW(cli::place_weights(resident(1328), std::nullopt, small_host, "x"), RuntimeFailure);
}

// On system RAM (CPU backend, lavapipe) nothing streams by itself: host and device memory are the same.
// An explicit budget is honoured there too (the tests force streaming that way), and the RAM check then
// counts the streamed weights as well.
TEST_F(FullSizePlacement, SystemRamStreamsOnlyWithABudget) {
  const DeviceMemory ram{30 * kGiB, true, 30 * kGiB, "cpu"};
  try {
    cli::place_weights(resident(1328), std::nullopt, ram, "x");
    FAIL() << "41 GB of weights in 30 GiB of RAM";
  } catch (const RuntimeFailure& e) {
    EXPECT_EQ(std::string(e.what()).find("--vram-budget"), std::string::npos) << e.what();
  }
  const DeviceMemory big{200 * kGiB, true, 200 * kGiB, "cpu"};
  EXPECT_FALSE(cli::place_weights(resident(1328), std::nullopt, big, "x").streams());
  EXPECT_TRUE(cli::place_weights(resident(1328), 20.0, big, "x").streams());
}

// In a batch the transformer's weights stay while the VAE decodes and the next prompts are encoded: the
// plan keeps those stages within the budget too.
TEST_F(FullSizePlacement, BatchCountsTheTransformerKeptBetweenImages) {
  const MemoryEstimate single = cli::place_weights(resident(1328), 20.0, gpu(79.6), "x");
  const MemoryEstimate batch = cli::place_weights(resident(1328, true), 20.0, gpu(79.6), "x");
  EXPECT_LE(batch.peak_bytes, 20 * kGiB);
  EXPECT_LE(batch.offload.transformer.resident_blocks, single.offload.transformer.resident_blocks);
  EXPECT_GE(batch.vae_bytes, batch.transformer_stage.device_weight_bytes(batch.offload.transformer));
}

}  // namespace
}  // namespace qi::test

// Weight streaming end to end (--vram-budget): a random-weight model with 3 transformer blocks and 3
// text-encoder layers generates the same image, bit for bit, whether its blocks live on the device or stream
// from host memory through a ring of slots, on the CPU and the Vulkan backend (copies recorded among the
// kernels, or submitted apart: on a transfer queue where there is one, else the compute queue). Bit-identical is the
// expectation, not a tolerance: streaming changes where a weight's bytes come from (a copy of exactly the
// bytes upload_weight would have stored), never which kernels run or in what order they reduce.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "io/model_dir.h"
#include "model/random_model.h"
#include "pipeline/generation.h"
#include "support/test_support.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

constexpr int kBlocks = 3;  // more blocks than the ring has slots, and not a multiple of it

struct Outputs {
  std::vector<uint8_t> rgb;
  std::map<std::string, std::vector<float>> tensors;  // latents after each step, prompt embeddings
};

enum class Run { kCpu, kVulkan, kVulkanCopiesApart };

class WeightStreaming : public ::testing::TestWithParam<Run> {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_shared()) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("qi-streaming-model-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    RandomModelSpec spec = tiny_random_model_spec(5);
    spec.transformer.num_layers = kBlocks;
    spec.text_encoder.num_hidden_layers = kBlocks;
    write_random_model(spec, *dir_, test::tiny_a_dir() / "model" / "tokenizer");
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "fixture tokenizer not found under " << test::shared_dir();
    messages_before_ = vulkan_validation_message_count();
  }
  void TearDown() override {
    EXPECT_EQ(vulkan_validation_message_count(), messages_before_) << "Vulkan validation messages";
  }

  std::unique_ptr<Backend> backend() const {
    if (GetParam() == Run::kCpu) return make_cpu_backend();
    const StreamedCopies copies =
        GetParam() == Run::kVulkan ? StreamedCopies::kInOrder : StreamedCopies::kApart;
    return make_vulkan_backend({.validation = true, .verbose = false, .streamed_copies = copies});
  }

  // Two images (CFG on, 2 steps) from one Generator, so the ring goes round many forward passes and the
  // transformer stays loaded from the first image to the second (a batch).
  Outputs generate(const OffloadPlan& plan) const {
    auto be = backend();
    Generator gen(ModelDir::open(*dir_), *be, plan);
    GenerationOptions o;
    o.prompt = "a lighthouse on a cliff at dusk";
    o.negative_prompt = std::string(" ");
    o.width = 64;
    o.height = 48;
    o.steps = 2;
    Outputs r;
    for (uint64_t seed : {7, 8}) {
      o.seed = seed;
      o.release_transformer_before_decode = seed == 8;
      TensorSink sink = [&](const std::string& name, const Tensor& t) {
        if (name.rfind("latents.after_step", 0) == 0 || name.rfind("prompt_embeds.", 0) == 0)
          r.tensors[std::to_string(seed) + "." + name] = be->to_host_f32(t);
      };
      GenerationResult g = gen.generate(o, sink);
      r.rgb.insert(r.rgb.end(), g.rgb.begin(), g.rgb.end());
    }
    return r;
  }

  // Every block resident: the reference, made once per backend (the way copies go does not matter to it).
  const Outputs& resident() const {
    static std::map<bool, Outputs> made;
    const bool vulkan = GetParam() != Run::kCpu;
    auto it = made.find(vulkan);
    if (it == made.end()) it = made.emplace(vulkan, generate({})).first;
    return it->second;
  }

  static fs::path* dir_;
  uint64_t messages_before_ = 0;
};
fs::path* WeightStreaming::dir_ = nullptr;

void expect_identical(const Outputs& streamed, const Outputs& resident, const std::string& what) {
  ASSERT_EQ(streamed.tensors.size(), resident.tensors.size()) << what;
  EXPECT_EQ(resident.tensors.size(), 2u * (2 + 2)) << what;  // 2 steps + 2 prompts, 2 images
  for (const auto& [name, values] : resident.tensors) {
    auto it = streamed.tensors.find(name);
    ASSERT_NE(it, streamed.tensors.end()) << what << ": " << name;
    EXPECT_EQ(it->second, values) << what << ": " << name;
  }
  EXPECT_EQ(streamed.rgb, resident.rgb) << what << ": image";
}

TEST_P(WeightStreaming, EveryBlockStreamedThroughARingOfTwoGivesTheSameImage) {
  OffloadPlan all;
  all.transformer = {0, 2};
  all.text_encoder = {0, 2};
  expect_identical(generate(all), resident(), "every block streamed, 2 slots");
}

TEST_P(WeightStreaming, PartlyResidentAndSingleSlotGiveTheSameImage) {
  OffloadPlan mixed;
  mixed.transformer = {1, 1};   // block 0 resident, blocks 1-2 through one slot
  mixed.text_encoder = {2, 1};  // layers 0-1 resident, layer 2 streamed
  expect_identical(generate(mixed), resident(), "partly resident, 1 slot");
}

INSTANTIATE_TEST_SUITE_P(Backends, WeightStreaming, ::testing::Values(Run::kCpu, Run::kVulkan, Run::kVulkanCopiesApart),
                         [](const ::testing::TestParamInfo<Run>& info) {
                           switch (info.param) {
                             case Run::kCpu: return "cpu";
                             case Run::kVulkan: return "vulkan";
                             case Run::kVulkanCopiesApart: return "vulkan_copies_apart";
                           }
                           return "unknown";
                         });

}  // namespace
}  // namespace qi

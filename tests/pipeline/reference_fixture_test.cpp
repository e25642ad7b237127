// The torch-compatible noise, the scheduler and the PNG reader against what diffusers produced for the tiny-a
// fixture (../shared/fixtures/tiny-a/reference).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/png_reader.h"
#include "io/safetensors.h"
#include "pipeline/scheduler.h"
#include "pipeline/torch_rng.h"
#include "support/test_support.h"

namespace qi {
namespace {

std::shared_ptr<SafetensorsFile> open_reference() {
  return SafetensorsFile::open(test::tiny_a_dir() / "reference" / "reference.safetensors");
}

// The named F32 tensor's values (the mapping gives no alignment guarantee, hence memcpy).
std::vector<float> reference_f32(const SafetensorsFile& file, const std::string& name) {
  const TensorView& view = file.get(name);
  EXPECT_EQ(view.dtype, DType::F32) << name;
  std::vector<float> values(static_cast<size_t>(view.numel()));
  std::memcpy(values.data(), view.data, values.size() * sizeof(float));
  return values;
}

std::vector<uint8_t> reference_u8(const SafetensorsFile& file, const std::string& name) {
  const TensorView& view = file.get(name);
  EXPECT_EQ(view.dtype, DType::U8) << name;
  return std::vector<uint8_t>(view.data, view.data + view.numel());
}

// 112×80 image: 7×5 = 35 packed latent tokens; 4 steps; seed 1234.
constexpr int64_t kImageSeqLen = 35;
constexpr int kSteps = 4;
constexpr uint64_t kSeed = 1234;

TEST(ReferenceFixture, NoiseMatchesTorchBitForBit) {
  ASSERT_TRUE(test::have_shared()) << "fixtures not found under " << test::shared_dir();
  // Drawn with torch.randn((1,1,16,14,10), generator=torch.Generator("cpu").manual_seed(1234)), float32.
  const auto reference = open_reference();
  const std::vector<float> expected = reference_f32(*reference, "latents.initial.unpacked");
  const std::vector<float> noise = torch_randn({1, 1, 16, 14, 10}, kSeed);
  ASSERT_EQ(noise.size(), expected.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < noise.size(); ++i)
    if (f32_bits(noise[i]) != f32_bits(expected[i]) && ++mismatches <= 5)
      ADD_FAILURE() << "element " << i << ": " << noise[i] << " vs torch " << expected[i];
  EXPECT_EQ(mismatches, 0u);
}

TEST(ReferenceFixture, ScheduleMatchesBitForBit) {
  ASSERT_TRUE(test::have_shared()) << "fixtures not found under " << test::shared_dir();
  const auto reference = open_reference();
  const std::vector<float> sigmas = reference_f32(*reference, "scheduler.sigmas");
  const std::vector<float> timesteps = reference_f32(*reference, "scheduler.timesteps");
  // The fixture's scheduler_config.json is the published one, which SchedulerConfig defaults to.
  const FlowMatchSchedule s = flow_match_schedule(SchedulerConfig{}, kSteps, kImageSeqLen);
  ASSERT_EQ(s.sigmas.size(), sigmas.size());
  ASSERT_EQ(s.timesteps.size(), timesteps.size());
  for (size_t i = 0; i < sigmas.size(); ++i) EXPECT_EQ(f32_bits(s.sigmas[i]), f32_bits(sigmas[i])) << i;
  for (size_t i = 0; i < timesteps.size(); ++i)
    EXPECT_EQ(f32_bits(s.timesteps[i]), f32_bits(timesteps[i])) << i;
}

TEST(ReferenceFixture, TransformerTimestepsAreFloat32WithoutBf16Quantisation) {
  ASSERT_TRUE(test::have_shared()) << "fixtures not found under " << test::shared_dir();
  const auto reference = open_reference();
  const std::vector<float> timesteps = reference_f32(*reference, "scheduler.timesteps");
  int bf16_differs = 0;
  for (size_t i = 0; i < timesteps.size(); ++i) {
    for (const char* branch : {"cond", "uncond"}) {
      const std::string name = "transformer.step" + std::to_string(i) + "." + branch + ".timestep";
      const float passed = reference_f32(*reference, name).at(0);
      EXPECT_EQ(f32_bits(passed), f32_bits(model_timestep_fp32(timesteps[i]))) << name;
      if (model_timestep_bf16(timesteps[i]) != passed) ++bf16_differs;
    }
  }
  EXPECT_GT(bf16_differs, 0);  // the two conventions are distinguishable on this fixture
}

TEST(ReferenceFixture, PngReaderGivesThePictureDiffusersSaved) {
  ASSERT_TRUE(test::have_shared()) << "fixtures not found under " << test::shared_dir();
  const PngImage image = read_png_rgb8(test::tiny_a_dir() / "reference" / "image.png");
  const auto reference = open_reference();
  EXPECT_EQ(image.width, 80);
  EXPECT_EQ(image.height, 112);
  EXPECT_EQ(image.rgb, reference_u8(*reference, "image.uint8"));
}

}  // namespace
}  // namespace qi

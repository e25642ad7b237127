// End-to-end parity with diffusers on the tiny-a fixture: every stage of a full generation (tokens, text
// encoder layers, prompt embeddings, noise, every transformer call, block outputs, latents after each step,
// VAE decoder stages, final image) against ../shared/fixtures/tiny-a/reference.
#include <gtest/gtest.h>

#include <cstdio>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "io/model_dir.h"
#include "pipeline/parity.h"
#include "support/test_support.h"

namespace qi {
namespace {

std::filesystem::path reference_file() { return test::tiny_a_dir() / "reference" / "reference.safetensors"; }

ParityReport run_fixture(Backend& backend, const ParityTolerance& tol) {
  ModelDir model = ModelDir::open(test::tiny_a_dir() / "model");
  Generator gen(model, backend);
  GenerationOptions opts = reference_generation_options(reference_file());
  StageTensors stages = collect_stages(gen, backend, opts);
  ParityReport rep = compare_with_reference(stages, reference_file(), tol);
  std::printf("%s", rep.table().c_str());
  return rep;
}

// Every tensor the reference holds must have been produced and compared.
void expect_every_stage_compared(const ParityReport& rep) {
  EXPECT_EQ(rep.rows.size(), TensorStore::open_file(reference_file()).size());
}

TEST(FixtureParity, CpuBackendMatchesDiffusersAtEveryStage) {
  ASSERT_TRUE(test::have_shared()) << "fixtures not found under " << test::shared_dir();
  auto cpu = make_cpu_backend();
  ParityReport rep = run_fixture(*cpu, cpu_parity_tolerance());
  expect_every_stage_compared(rep);
  EXPECT_TRUE(rep.pass()) << rep.table();
}

TEST(FixtureParity, VulkanBackendMatchesDiffusersAtEveryStage) {
  ASSERT_TRUE(test::have_shared()) << "fixtures not found under " << test::shared_dir();
  auto vk = make_vulkan_backend({.validation = true, .verbose = false});
  ParityReport rep = run_fixture(*vk, device_parity_tolerance());
  expect_every_stage_compared(rep);
  EXPECT_TRUE(rep.pass()) << rep.table();
  EXPECT_EQ(vulkan_validation_message_count(), 0u);
}

}  // namespace
}  // namespace qi

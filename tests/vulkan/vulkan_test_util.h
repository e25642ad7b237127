// Helpers of the Vulkan tests: a backend on the default device with its own pipeline cache file, seeded
// random data, CPU-backend references, and a fixture that fails any test producing a validation message.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "support/test_support.h"

namespace qi::test {

// A pipeline cache file private to this test process (keeps ~/.cache untouched and tests independent).
inline std::string test_pipeline_cache_path() {
  return (std::filesystem::temp_directory_path() / ("qi-vulkan-test-" + std::to_string(::getpid()) + ".bin")).string();
}

inline VulkanOptions test_vulkan_options() {
  VulkanOptions o;
  o.validation = true;
  o.verbose = false;
  o.pipeline_cache_path = test_pipeline_cache_path();
  return o;
}

// Uniform magnitudes in [0.1, 1]·magnitude with random signs (never zero).
inline std::vector<float> random_floats(std::mt19937_64& rng, int64_t n, float magnitude = 1.0f) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = (sign(rng) ? -1.0f : 1.0f) * mag(rng) * magnitude;
  return v;
}

// Fails the test when a validation message (warning or error) appeared while it ran.
class VulkanTest : public ::testing::Test {
 protected:
  void SetUp() override { messages_before_ = vulkan_validation_message_count(); }
  void TearDown() override {
    EXPECT_EQ(vulkan_validation_message_count(), messages_before_) << "Vulkan validation reported problems";
  }

 private:
  uint64_t messages_before_ = 0;
};

// Relative L2 error and largest element error relative to the largest |expected|; NaN never passes.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel_l2,
                         double max_abs_rel, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  Diff d = compare(got, want);
  double max_expected = 0;
  for (float w : want) max_expected = std::max(max_expected, double(std::fabs(w)));
  EXPECT_FALSE(d.nonfinite) << what << ": non-finite output";
  EXPECT_LE(d.rel_l2, rel_l2) << what;
  EXPECT_LE(d.max_abs, max_abs_rel * std::max(max_expected, 1e-30)) << what;
}

}  // namespace qi::test

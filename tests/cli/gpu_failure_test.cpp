// GPU failures that a healthy device (lavapipe here) never shows, provoked through the QI_VK_FAULT test hook
// (src/backend/vulkan/vk_fault_injection.h) in the real binary: out of device memory while uploading weights
// and while denoising, the device lost while denoising and while decoding. Each must end with exit code 1,
// one `error:` line, no image and no temporary file, no signal, no hang, and no validation message from the
// teardown after the failure (docs/reliability.md lists them).
#include <gtest/gtest.h>

#include <sstream>

#include "cli/cli_support.h"
#include "support/test_support.h"

namespace qi::test {
namespace {

namespace fs = std::filesystem;

// A failed run stops well within this; a hang does not.
constexpr auto kRunTimeout = std::chrono::seconds(180);

size_t error_lines(const std::string& err) {
  std::istringstream in(err);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.rfind("error:", 0) == 0;
  return n;
}

class GpuFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_shared()) GTEST_SKIP() << "needs ../shared/fixtures";
  }
  fs::path model() const { return tiny_a_dir() / "model"; }

  // The tiny-a generation on the Vulkan backend under the validation layer, with QI_VK_FAULT=`fault`.
  RunResult generate_with_fault(const std::string& fault) const {
    return run_cli({"generate", "--model", model().string(), "--prompt", "a fox", "--width", "80", "--height", "112",
                    "--steps", "2", "--seed", "1", "--backend", "vulkan", "--output", (out / "x.png").string()},
                   {"QI_VK_FAULT=" + fault, "QI_VALIDATION=1"}, "", kRunTimeout);
  }

  // Exit 1 with `message` in the one error line, the hook really on, nothing left behind.
  void expect_clean_failure(const RunResult& r, const std::string& message) const {
    EXPECT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("Vulkan fault injection is on"), std::string::npos) << r.err;
    EXPECT_EQ(error_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("error: " + message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("vulkan validation:"), std::string::npos) << r.err;
    EXPECT_EQ(out.entries(), std::vector<std::string>{}) << "left behind after: " << r.err;
  }

  ScratchDir out;
};

// The ways out the out-of-memory message names.
void expect_memory_options(const std::string& err) {
  for (const char* option : {"a smaller --width/--height", "--vram-budget <GiB>", "another GPU (--device)", "--backend cpu"})
    EXPECT_NE(err.find(option), std::string::npos) << option << " missing from: " << err;
}

// Bytes of the transformer's weight files.
uint64_t transformer_file_bytes(const fs::path& model) {
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(model / "transformer"))
    if (e.path().extension() == ".safetensors") bytes += fs::file_size(e.path());
  return bytes;
}

// Device memory for half the transformer's weights: the text encoder (its device part is far smaller) runs,
// the transformer's upload runs out.
TEST_F(GpuFailure, OutOfMemoryWhileUploadingWeights) {
  const uint64_t limit = transformer_file_bytes(model()) / 2;
  RunResult r = generate_with_fault("alloc_limit=" + std::to_string(limit));
  expect_clean_failure(r, "out of device memory: needed ");
  EXPECT_NE(r.err.find(" more for weights, about "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" available ("), std::string::npos) << r.err;
  expect_memory_options(r.err);
  EXPECT_NE(r.err.find("text encoder: "), std::string::npos) << "the text encoder should have run: " << r.err;
  EXPECT_EQ(r.err.find("transformer: "), std::string::npos) << "the transformer should not have loaded: " << r.err;
}

// Every weight is on the device; the first activation of the denoising stage finds no memory.
TEST_F(GpuFailure, OutOfMemoryForActivationsWhileDenoising) {
  RunResult r = generate_with_fault("alloc_fail_at=denoising:1");
  expect_clean_failure(r, "out of device memory: needed ");
  EXPECT_NE(r.err.find(" more for activations, about 0 bytes available"), std::string::npos) << r.err;
  expect_memory_options(r.err);
  EXPECT_NE(r.err.find("transformer: "), std::string::npos) << "the transformer should have loaded: " << r.err;
  EXPECT_EQ(r.err.find("step 1/2"), std::string::npos) << r.err;
}

// The device is lost at the second submission of the denoising stage: after step 1, before step 2 ends.
TEST_F(GpuFailure, DeviceLostWhileDenoising) {
  RunResult r = generate_with_fault("device_lost_at=denoising:2");
  expect_clean_failure(r, "the GPU stopped responding (VK_ERROR_DEVICE_LOST");
  EXPECT_NE(r.err.find("step 1/2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("step 2/2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("vae: "), std::string::npos) << r.err;
}

// The device is lost at the first submission of the VAE decode: every step ran, the image is never written.
TEST_F(GpuFailure, DeviceLostWhileDecoding) {
  RunResult r = generate_with_fault("device_lost_at=decoding:1");
  expect_clean_failure(r, "the GPU stopped responding (VK_ERROR_DEVICE_LOST");
  EXPECT_NE(r.err.find("step 2/2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vae: "), std::string::npos) << r.err;
}

// A malformed hook is a usage error before any work, not a silently healthy run.
TEST_F(GpuFailure, MalformedFaultHookIsAUsageError) {
  RunResult r = generate_with_fault("device_lost_at=0");
  EXPECT_EQ(r.signal, 0) << r.err;
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("error: QI_VK_FAULT: 'device_lost_at=0': the count must be a whole number >= 1"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(out.entries(), std::vector<std::string>{});
}

}  // namespace
}  // namespace qi::test

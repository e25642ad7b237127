// The QI_VK_FAULT test hook (vk_fault_injection.h): its parser, and the Vulkan runtime under the faults it
// injects: out of device memory (a RuntimeFailure naming needed vs available bytes; the allocator's
// fallbacks), and a lost device (a RuntimeFailure on the next command or read-back, then a teardown that
// neither throws nor upsets the validation layer).
#include <stdlib.h>

#include <functional>
#include <string>
#include <vector>

#include "backend/vulkan/vk_fault_injection.h"
#include "core/error.h"
#include "vulkan/vulkan_test_util.h"

namespace qi::test {
namespace {

using vk::FaultPlan;
using vk::FaultTrigger;
using vk::parse_fault_plan;

std::string usage_error_of(const std::string& spec) {
  try {
    parse_fault_plan(spec);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(FaultPlanParser, EmptyMeansNoFault) {
  EXPECT_TRUE(parse_fault_plan("").empty());
}

TEST(FaultPlanParser, SizesInBytesOrWithASuffix) {
  EXPECT_EQ(parse_fault_plan("alloc_limit=0").alloc_limit, 0u);
  EXPECT_EQ(parse_fault_plan("alloc_limit=4096").alloc_limit, 4096u);
  EXPECT_EQ(parse_fault_plan("alloc_limit=4K").alloc_limit, 4096u);
  EXPECT_EQ(parse_fault_plan("alloc_limit=64m").alloc_limit, 64ull << 20);
  EXPECT_EQ(parse_fault_plan("alloc_limit=2G").alloc_limit, 2ull << 30);
  EXPECT_EQ(parse_fault_plan("alloc_limit=18446744073709551615").alloc_limit, ~0ull);
}

TEST(FaultPlanParser, TriggersCountOverTheRunOrWithinAStage) {
  EXPECT_EQ(parse_fault_plan("alloc_fail_at=3").alloc_fail_at, (FaultTrigger{"", 3}));
  EXPECT_EQ(parse_fault_plan("device_lost_at=denoising:2").device_lost_at, (FaultTrigger{"denoising", 2}));
  EXPECT_EQ(parse_fault_plan("device_lost_at=text encoding:1").device_lost_at, (FaultTrigger{"text encoding", 1}));
  const FaultPlan all = parse_fault_plan("alloc_limit=1M,alloc_fail_at=decoding:7,device_lost_at=12");
  EXPECT_EQ(all.alloc_limit, 1u << 20);
  EXPECT_EQ(all.alloc_fail_at, (FaultTrigger{"decoding", 7}));
  EXPECT_EQ(all.device_lost_at, (FaultTrigger{"", 12}));
  EXPECT_FALSE(all.empty());
}

TEST(FaultPlanParser, MalformedValuesAreUsageErrorsNamingTheItem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"alloc_limit", "expected <name>=<value>"},
      {"alloc_limit=", "the value is empty"},
      {"alloc_limit=-1", "whole number of bytes"},
      {"alloc_limit=1.5M", "whole number of bytes"},
      {"alloc_limit=12x", "whole number of bytes"},
      {"alloc_limit= 1", "whole number of bytes"},
      {"alloc_limit=M", "whole number of bytes"},
      {"alloc_limit=18446744073709551616", "whole number of bytes"},
      {"alloc_limit=17179869184G", "does not fit in 64 bits"},
      {"alloc_fail_at=0", "the count must be a whole number >= 1"},
      {"alloc_fail_at=x", "the count must be a whole number >= 1"},
      {"alloc_fail_at=:3", "the stage name before ':' is empty"},
      {"device_lost_at=-2", "the count must be a whole number >= 1"},
      {"bogus=1", "unknown fault 'bogus'"},
      {",", "empty item"},
      {",alloc_limit=1M", "empty item"},
      {"alloc_limit=1M,", "empty item after the last comma"},
      {"alloc_limit=1M,alloc_limit=2M", "given twice"},
  };
  for (const auto& [spec, why] : cases) {
    const std::string message = usage_error_of(spec);
    EXPECT_EQ(message.rfind("QI_VK_FAULT: '", 0), 0u) << spec << " -> " << message;
    EXPECT_NE(message.find(why), std::string::npos) << spec << " -> " << message;
  }
  // The value's own problem, not the stage's: "denoising:" has an empty count.
  EXPECT_NE(usage_error_of("device_lost_at=denoising:").find("the count must be a whole number >= 1"),
            std::string::npos);
}

// Sets QI_VK_FAULT for the lifetime of the object (backends read it when they are created).
class FaultEnv {
 public:
  explicit FaultEnv(const std::string& spec) { setenv(vk::kFaultEnvVar, spec.c_str(), 1); }
  ~FaultEnv() { unsetenv(vk::kFaultEnvVar); }
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;
};

TEST(FaultInjectorFromEnvironment, UnsetOrEmptyMeansNoInjector) {
  unsetenv(vk::kFaultEnvVar);
  EXPECT_EQ(vk::FaultInjector::from_environment(), nullptr);
  FaultEnv empty("");
  EXPECT_EQ(vk::FaultInjector::from_environment(), nullptr);
}

TEST(FaultInjectorFromEnvironment, MalformedIsAUsageError) {
  FaultEnv bad("device_lost_at=soon");
  EXPECT_THROW(vk::FaultInjector::from_environment(), UsageError);
  EXPECT_THROW(make_vulkan_backend(test_vulkan_options()), UsageError);
}

std::string runtime_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuntimeFailure& e) {
    return e.what();
  }
  return "";
}

class FaultInjection : public VulkanTest {};

// 1 MiB of device memory: the allocator's 256 MiB block is refused, a block of just the request is not;
// a request beyond what is left fails with needed vs available; cached empty blocks are given back under
// pressure so that memory can be had again.
TEST_F(FaultInjection, AllocLimitRunsOutWithNeededVsAvailable) {
  FaultEnv env("alloc_limit=1M");
  auto be = make_vulkan_backend(test_vulkan_options());
  Tensor small = be->empty({1024}, DType::F32);  // 4 KiB: fits although a standard block does not
  {
    Tensor half = be->empty({128 * 1024}, DType::F32);  // 512 KiB
  }  // its block stays cached
  Tensor most = be->empty({192 * 1024}, DType::F32);  // 768 KiB: only after the cached block went back
  const std::string message = runtime_error_of([&] { be->empty({256 * 1024}, DType::F32); });
  EXPECT_NE(message.find("out of device memory: needed 1.0 MiB more for activations, about "), std::string::npos)
      << message;
  EXPECT_NE(message.find(" available ("), std::string::npos) << message;
  for (const char* option : {"--width/--height", "--vram-budget <GiB>", "--device", "--backend cpu"})
    EXPECT_NE(message.find(option), std::string::npos) << message;
  // What is held still works.
  std::vector<float> v(1024, 2.0f), back(1024);
  Tensor x = be->from_host_f32(v, {1024});
  be->to_host(be->scale(x, 3.0f), back.data());
  EXPECT_EQ(back[0], 6.0f);
}

// alloc_fail_at: the request at which memory runs out fails even though the held blocks have room; later
// requests that fit in them succeed, new driver memory is never granted again.
TEST_F(FaultInjection, AllocFailAtRunsOutAtThatRequest) {
  FaultEnv env("alloc_fail_at=memory test:2");
  auto be = make_vulkan_backend(test_vulkan_options());
  be->begin_stage("memory test");
  Tensor first = be->empty({16}, DType::F32);
  const std::string message = runtime_error_of([&] { be->empty({16}, DType::F32); });
  EXPECT_NE(message.find("out of device memory: needed 256 bytes more for activations, about 0 bytes available"),
            std::string::npos)
      << message;
  EXPECT_NO_THROW(be->empty({16}, DType::F32));  // fits in the block the first one opened
  be->end_stage();
}

// device_lost_at: the lost submission's wait (here the flush) does not throw; the next command and any read
// back do, naming the loss; ending the stage, flushing and destroying everything afterwards are safe.
TEST_F(FaultInjection, DeviceLostIsReportedOnceWorkNeedsTheGpuAndTeardownIsSafe) {
  FaultEnv env("device_lost_at=lost stage:1");
  auto be = make_vulkan_backend(test_vulkan_options());
  std::vector<float> v(256, 1.0f), back(256);
  Tensor x = be->from_host_f32(v, {256});
  be->begin_stage("lost stage");
  Tensor y = be->scale(x, 2.0f);
  EXPECT_NO_THROW(be->flush());
  const std::string message = runtime_error_of([&] { be->to_host(y, back.data()); });
  EXPECT_EQ(message.rfind("the GPU stopped responding (VK_ERROR_DEVICE_LOST from vkWaitForFences)", 0), 0u) << message;
  EXPECT_NE(message.find("--backend cpu"), std::string::npos) << message;
  EXPECT_THROW(be->scale(x, 2.0f), RuntimeFailure);
  EXPECT_THROW(be->to_host(x, back.data()), RuntimeFailure);
  EXPECT_NO_THROW(be->end_stage());
  EXPECT_NO_THROW(be->flush());
  EXPECT_NO_THROW(be.reset());  // tensors outlive the backend: the context goes with the last of them
  EXPECT_NO_THROW(x = Tensor());
  EXPECT_NO_THROW(y = Tensor());
}

// Submissions before the lost one run normally.
TEST_F(FaultInjection, DeviceLostAtALaterSubmissionLeavesTheEarlierOnesIntact) {
  // How many submissions a read-back takes depends on the device (a discrete GPU copies through a read-back
  // buffer in a submission of its own; lavapipe reads mapped memory): the loss is set at submission 3, which
  // the first read-back never reaches, and the later read-backs must meet it within a few tries.
  constexpr int kMaxTries = 4;
  FaultEnv env("device_lost_at=s:3");
  auto be = make_vulkan_backend(test_vulkan_options());
  std::vector<float> v(64, 1.5f), back(64);
  be->begin_stage("s");
  Tensor x = be->from_host_f32(v, {64});
  be->to_host(be->scale(x, 2.0f), back.data());  // submissions 1 (and 2 on a discrete GPU): intact
  EXPECT_EQ(back[0], 3.0f);
  int tries = 0;
  bool lost = false;
  while (!lost && tries++ < kMaxTries) {
    try {
      be->to_host(be->scale(x, 4.0f), back.data());
      EXPECT_EQ(back[0], 6.0f);  // a submission before the loss still computes
    } catch (const RuntimeFailure&) {
      lost = true;
    }
  }
  EXPECT_TRUE(lost) << "no read-back met the loss in " << kMaxTries << " tries";
  EXPECT_THROW(be->to_host(x, back.data()), RuntimeFailure);  // and every one after it fails
  be->end_stage();
}

}  // namespace
}  // namespace qi::test

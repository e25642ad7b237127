// PipelineCompiler, the worker threads that create pipelines while commands keep being recorded: jobs run
// at the same time, a job's exception reaches its future, and jobs still queued when it goes are dropped.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/vulkan/vk_pipeline_compiler.h"

namespace qi::test {
namespace {

// Long enough that a job waiting for another never times out on a loaded machine unless the other never runs.
constexpr auto kPatience = std::chrono::seconds(20);

VkPipeline fake_pipeline(uintptr_t n) { return reinterpret_cast<VkPipeline>(n); }

// Every job waits until all have started: they finish only if the compiler runs them at the same time.
TEST(PipelineCompiler, RunsJobsAtTheSameTime) {
  constexpr unsigned kJobs = 4;
  vk::PipelineCompiler compiler(kJobs);
  std::mutex mutex;
  std::condition_variable all_started;
  unsigned started = 0;
  std::vector<std::shared_future<VkPipeline>> results;
  for (unsigned i = 0; i < kJobs; ++i)
    results.push_back(compiler.submit([&, i] {
      std::unique_lock lock(mutex);
      ++started;
      all_started.notify_all();
      if (!all_started.wait_for(lock, kPatience, [&] { return started == kJobs; }))
        throw std::runtime_error("the other jobs never started");
      return fake_pipeline(i + 1);
    }));
  for (unsigned i = 0; i < kJobs; ++i) EXPECT_EQ(results[i].get(), fake_pipeline(i + 1)) << i;
}

TEST(PipelineCompiler, AJobsExceptionReachesItsFutureAndNoOther) {
  vk::PipelineCompiler compiler(2);
  auto failing = compiler.submit([]() -> VkPipeline { throw std::runtime_error("VK_ERROR_OUT_OF_HOST_MEMORY"); });
  auto fine = compiler.submit([] { return fake_pipeline(7); });
  EXPECT_THROW(failing.get(), std::runtime_error);
  EXPECT_EQ(fine.get(), fake_pipeline(7));
}

// One worker, busy: the job queued behind it is dropped when the compiler goes (its future reports a broken
// promise), and the running one finishes first.
TEST(PipelineCompiler, JobsStillQueuedAreDroppedOnDestruction) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> running;
  std::atomic<bool> queued_ran{false};
  std::shared_future<VkPipeline> first, second;
  std::thread releaser;
  {
    vk::PipelineCompiler compiler(1);
    first = compiler.submit([&] {
      running.set_value();
      released.wait_for(kPatience);
      return fake_pipeline(1);
    });
    second = compiler.submit([&] {
      queued_ran = true;
      return fake_pipeline(2);
    });
    ASSERT_EQ(running.get_future().wait_for(kPatience), std::future_status::ready);
    // The first job ends only after the compiler has begun to go, with the second still queued.
    releaser = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      release.set_value();
    });
  }  // waits for the first job
  releaser.join();
  EXPECT_EQ(first.get(), fake_pipeline(1));
  EXPECT_THROW(second.get(), std::future_error);
  EXPECT_FALSE(queued_ran);
}

}  // namespace
}  // namespace qi::test

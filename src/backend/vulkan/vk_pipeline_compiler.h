// Creates compute pipelines on worker threads, so that the driver compiles several at once while the caller
// goes on recording commands. PipelineRegistry hands out a Pipeline at once; the command that binds it waits
// for it only when it is written into a command buffer (CommandStream). What this saves is the first run's
// compilation, before the on-disk pipeline cache holds anything: one pipeline at a time, the NVIDIA driver
// spent about 14 s of a first 1328² generation on it (docs/performance.md).
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/vulkan/vk_common.h"

namespace qi::vk {

class PipelineCompiler {
 public:
  // threads: the most pipelines compiled at once (>= 1); workers start as jobs arrive.
  explicit PipelineCompiler(unsigned threads);
  // Jobs still queued are dropped (their futures report a broken promise); running ones finish.
  ~PipelineCompiler();
  PipelineCompiler(const PipelineCompiler&) = delete;
  PipelineCompiler& operator=(const PipelineCompiler&) = delete;

  // Runs create() on a worker; its pipeline, or the exception it threw, arrives through the future.
  std::shared_future<VkPipeline> submit(std::function<VkPipeline()> create);

 private:
  struct Job {
    std::function<VkPipeline()> create;
    std::promise<VkPipeline> result;
  };
  void work();

  const unsigned max_threads_;
  std::mutex mutex_;
  std::condition_variable has_work_;
  std::deque<Job> jobs_;  // guarded by mutex_
  unsigned idle_ = 0;     // workers waiting for a job; guarded by mutex_
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// Compile workers for a context: every core, up to kMaxCompileThreads.
unsigned default_compile_threads();

}  // namespace qi::vk

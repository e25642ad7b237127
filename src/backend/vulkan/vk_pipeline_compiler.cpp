#include "backend/vulkan/vk_pipeline_compiler.h"

#include <algorithm>

#include "core/parallel_for.h"

namespace qi::vk {
namespace {

// Compile workers at most: a bound, so that a many-core host does not run dozens of driver compilations at
// once; with 8 on a 16-core H100 host a first 1328² run's compile cost fell from 13-18 s to 4-6 s
// (docs/performance.md, "The first run").
constexpr unsigned kMaxCompileThreads = 8;

}  // namespace

unsigned default_compile_threads() { return std::min(default_thread_count(), kMaxCompileThreads); }

PipelineCompiler::PipelineCompiler(unsigned threads) : max_threads_(std::max(threads, 1u)) {}

PipelineCompiler::~PipelineCompiler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  has_work_.notify_all();
  for (std::thread& t : workers_) t.join();
}

std::shared_future<VkPipeline> PipelineCompiler::submit(std::function<VkPipeline()> create) {
  std::shared_future<VkPipeline> result;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::move(create), {}});
    result = jobs_.back().result.get_future().share();
    if (idle_ == 0 && workers_.size() < max_threads_) workers_.emplace_back([this] { work(); });
  }
  has_work_.notify_one();
  return result;
}

void PipelineCompiler::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    has_work_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job.result.set_value(job.create());
    } catch (...) {
      job.result.set_exception(std::current_exception());
    }
    lock.lock();
  }
}

}  // namespace qi::vk

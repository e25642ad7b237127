#include "backend/cpu/thread_pool.h"

#include <algorithm>

namespace qi::cpu {
namespace {

// Ranges handed out per thread: more than one so that uneven ranges (edge tiles, masked rows) balance.
constexpr int64_t kChunksPerThread = 4;

thread_local bool t_inside_parallel_for = false;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(threads, 1); ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::run_chunks(const Job& job) {
  for (;;) {
    int64_t c;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // A worker may wake up for a job that has already finished and been replaced by the next one.
      if (generation_ != job.generation || next_chunk_ >= job.chunks) return;
      c = next_chunk_++;
    }
    int64_t begin = c * job.chunk;
    int64_t end = std::min(job.n, begin + job.chunk);
    try {
      (*job.fn)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (++finished_chunks_ == job.chunks) work_done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  t_inside_parallel_for = true;
  uint64_t seen = 0;
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      ++busy_workers_;
    }
    run_chunks(job);
    std::lock_guard<std::mutex> lock(mutex_);
    if (--busy_workers_ == 0) work_done_.notify_all();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = int64_t(threads()) * kChunksPerThread;
  int64_t chunks = std::min((n + grain - 1) / grain, max_chunks);
  if (workers_.empty() || chunks <= 1 || t_inside_parallel_for) {
    fn(0, n);
    return;
  }
  Job job{&fn, n, (n + chunks - 1) / chunks, 0, 0};
  job.chunks = (n + job.chunk - 1) / job.chunk;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job.generation = ++generation_;
    job_ = job;
    next_chunk_ = 0;
    finished_chunks_ = 0;
    error_ = nullptr;
  }
  work_ready_.notify_all();
  t_inside_parallel_for = true;
  run_chunks(job);
  t_inside_parallel_for = false;
  std::exception_ptr error;
  {
    // Wait for every chunk and for every worker to have left run_chunks, so that the next job cannot be
    // claimed by a worker still holding this one.
    std::unique_lock<std::mutex> lock(mutex_);
    work_done_.wait(lock, [&] { return finished_chunks_ == job.chunks && busy_workers_ == 0; });
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace qi::cpu

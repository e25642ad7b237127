// A small fixed-size thread pool with one primitive, parallel_for: the CPU backend splits its heavy ops
// over rows / tiles with it. Work is split into index ranges that workers claim one at a time, so the
// result of an op never depends on which thread computed which range.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qi::cpu {

class ThreadPool {
 public:
  // threads: total number of threads that run work, the calling thread included (>= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n), each at least `grain` long (except the last),
  // and returns when all have finished. The first exception thrown by fn is rethrown here. Calls made from
  // inside a running parallel_for run serially on the calling thread.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn = nullptr;
    int64_t n = 0;
    int64_t chunk = 0;
    int64_t chunks = 0;
    uint64_t generation = 0;  // the job's number: a worker holding an older copy must not claim chunks
  };
  void worker_loop();
  void run_chunks(const Job& job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  Job job_;
  uint64_t generation_ = 0;   // incremented for every job, so workers see each job once
  int64_t next_chunk_ = 0;    // guarded by mutex_
  int64_t finished_chunks_ = 0;
  int busy_workers_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace qi::cpu

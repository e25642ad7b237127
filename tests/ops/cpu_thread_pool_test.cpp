// The CPU backend's thread pool: every index exactly once, exceptions reach the caller, nesting is serial.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "backend/cpu/thread_pool.h"

namespace qi::cpu {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnceForManyJobs) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  for (int64_t n : {0, 1, 2, 7, 100, 10007}) {
    for (int64_t grain : {1, 5, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
        EXPECT_LT(begin, end);
        for (int64_t i = begin; i < end; ++i) hits[size_t(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "n " << n << " grain " << grain;
    }
  }
}

// Many tiny jobs back to back: a worker that wakes up late for a finished job must not claim chunks of the
// next one (that once left a job with chunks claimed but never run, and its caller waiting forever).
TEST(ThreadPool, BackToBackJobsNeverMixUp) {
  constexpr int kJobs = 200000;
  ThreadPool pool(2);
  for (int job = 0; job < kJobs; ++job) {
    const int64_t n = 2 + job % 7;
    std::vector<int> hits(static_cast<size_t>(n), 0);
    pool.parallel_for(n, 1, [&hits, job](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[size_t(i)] += job + 1;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)], job + 1) << "job " << job << " index " << i;
  }
}

TEST(ThreadPool, RethrowsTheFirstExceptionAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(64, 1,
                                 [](int64_t begin, int64_t) {
                                   if (begin >= 32) throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(100, 1, [&](int64_t begin, int64_t end) { sum += end - begin; });
  EXPECT_EQ(sum.load(), 100);
}

TEST(ThreadPool, NestedCallsRunSeriallyOnTheCallingThread) {
  ThreadPool pool(2);
  std::atomic<int64_t> inner{0};
  pool.parallel_for(8, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      pool.parallel_for(10, 1, [&](int64_t b, int64_t e) {
        EXPECT_EQ(b, 0);  // one range: serial
        EXPECT_EQ(e, 10);
        inner += e - b;
      });
  });
  EXPECT_EQ(inner.load(), 80);
}

TEST(ThreadPool, SingleThreadPoolRunsInline) {
  ThreadPool pool(1);
  int calls = 0;
  pool.parallel_for(1000, 1, [&](int64_t begin, int64_t end) {
    ++calls;
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 1000);
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace qi::cpu

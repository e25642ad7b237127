// Runs independent work items on a few threads (weight loading and statistics are memory-bound, so a
// plain shared counter balances them well enough).
#pragma once
#include <cstddef>
#include <functional>

namespace qi {

// std::thread::hardware_concurrency(), at least 1.
unsigned default_thread_count();

// Calls fn(i) for every i in [0, count) on up to `threads` threads (0 = default_thread_count()). Items are
// handed out in index order. The first exception thrown by fn stops the remaining items and is rethrown.
void parallel_for(size_t count, unsigned threads, const std::function<void(size_t)>& fn);

}  // namespace qi

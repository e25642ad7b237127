#include "io/tensor_loading.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "core/parallel_for.h"

namespace qi {

namespace {

// Work is split into chunks of this size: large enough that the per-chunk overhead vanishes, small enough
// that a few huge tensors (the 113 MB modulation matrices) still spread evenly over the threads.
constexpr size_t kChunkBytes = size_t(16) << 20;

struct Chunk {
  size_t item;
  size_t offset;
  size_t bytes;
};

std::vector<Chunk> split_into_chunks(const std::vector<size_t>& item_bytes) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < item_bytes.size(); ++i)
    for (size_t off = 0; off < item_bytes[i]; off += kChunkBytes)
      chunks.push_back({i, off, std::min(kChunkBytes, item_bytes[i] - off)});
  return chunks;
}

template <class Fn>
LoadStats timed(uint64_t bytes, Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return {bytes, elapsed.count()};
}

// Reads one byte per page so that each page is faulted in; the sum keeps the reads from being optimised away.
uint8_t touch_pages(const uint8_t* data, size_t bytes, size_t page) {
  uint8_t sum = 0;
  for (size_t off = 0; off < bytes; off += page) sum ^= *reinterpret_cast<const volatile uint8_t*>(data + off);
  if (bytes > 0) sum ^= *reinterpret_cast<const volatile uint8_t*>(data + bytes - 1);
  return sum;
}

}  // namespace

LoadStats prefetch_tensors(const std::vector<const TensorView*>& tensors, unsigned threads) {
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  std::vector<size_t> sizes;
  uint64_t total = 0;
  for (const TensorView* t : tensors) {
    sizes.push_back(t->bytes);
    total += t->bytes;
  }
  auto chunks = split_into_chunks(sizes);
  std::atomic<uint8_t> sink{0};
  return timed(total, [&] {
    parallel_for(chunks.size(), threads, [&](size_t c) {
      const uint8_t* begin = tensors[chunks[c].item]->data + chunks[c].offset;
      auto aligned = reinterpret_cast<uintptr_t>(begin) & ~uintptr_t(page - 1);
      // Advisory only: a failure just means no read-ahead.
      ::madvise(reinterpret_cast<void*>(aligned), chunks[c].bytes + (reinterpret_cast<uintptr_t>(begin) - aligned),
                MADV_WILLNEED);
      sink ^= touch_pages(begin, chunks[c].bytes, page);
    });
  });
}

namespace {

// The named tensors the store holds (names it lacks are skipped).
std::vector<const TensorView*> views_of(const TensorStore& store, const std::vector<std::string>& names) {
  std::vector<const TensorView*> views;
  for (const std::string& name : names)
    if (store.has(name)) views.push_back(&store.get(name));
  return views;
}

}  // namespace

LoadStats prefetch_store(const TensorStore& store, const std::vector<std::string>& names, unsigned threads) {
  return prefetch_tensors(views_of(store, names), threads);
}

uint64_t store_bytes(const TensorStore& store, const std::vector<std::string>& names) {
  uint64_t bytes = 0;
  for (const TensorView* view : views_of(store, names)) bytes += view->bytes;
  return bytes;
}

LoadStats copy_tensors(const std::vector<TensorCopy>& copies, unsigned threads) {
  std::vector<size_t> sizes;
  uint64_t total = 0;
  for (const auto& c : copies) {
    sizes.push_back(c.src->bytes);
    total += c.src->bytes;
  }
  auto chunks = split_into_chunks(sizes);
  return timed(total, [&] {
    parallel_for(chunks.size(), threads, [&](size_t c) {
      const TensorCopy& copy = copies[chunks[c].item];
      std::memcpy(copy.dst + chunks[c].offset, copy.src->data + chunks[c].offset, chunks[c].bytes);
    });
  });
}

}  // namespace qi

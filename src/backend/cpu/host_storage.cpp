#include "backend/cpu/host_storage.h"

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace qi::cpu {

void MemoryCounter::add(uint64_t bytes) {
  uint64_t now = in_use += bytes;
  uint64_t seen = peak.load();
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
}

namespace {

size_t rounded_allocation(size_t bytes) {
  // aligned_alloc needs a non-zero multiple of the alignment.
  size_t a = HostStorage::kAlignment;
  return bytes == 0 ? a : (bytes + a - 1) / a * a;
}

}  // namespace

HostStorage::HostStorage(size_t bytes, Backend* owner, std::shared_ptr<MemoryCounter> counter)
    : bytes_(bytes), owner_(owner), counter_(std::move(counter)) {
  data_ = std::aligned_alloc(kAlignment, rounded_allocation(bytes));
  if (!data_) throw RuntimeFailure("cpu backend: out of host memory allocating " + std::to_string(bytes) + " bytes");
  counter_->add(bytes_);
}

HostStorage::~HostStorage() {
  std::free(data_);
  counter_->remove(bytes_);
}

}  // namespace qi::cpu

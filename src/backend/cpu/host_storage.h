// Host-memory tensor storage of the CPU backend: 64-byte aligned, counted in a MemoryCounter that may
// outlive the backend (tensors can be released after it).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace qi::cpu {

// Live and peak bytes of one backend's tensors.
struct MemoryCounter {
  std::atomic<uint64_t> in_use{0};
  std::atomic<uint64_t> peak{0};
  void add(uint64_t bytes);
  void remove(uint64_t bytes) { in_use -= bytes; }
};

class HostStorage final : public Storage {
 public:
  // Alignment of every allocation: one cache line, and enough for any vector load.
  static constexpr size_t kAlignment = 64;

  HostStorage(size_t bytes, Backend* owner, std::shared_ptr<MemoryCounter> counter);
  ~HostStorage() override;
  HostStorage(const HostStorage&) = delete;
  HostStorage& operator=(const HostStorage&) = delete;

  size_t bytes() const override { return bytes_; }
  Backend* backend() const override { return owner_; }
  void* data() const { return data_; }

 private:
  size_t bytes_;
  Backend* owner_;
  std::shared_ptr<MemoryCounter> counter_;
  void* data_;
};

}  // namespace qi::cpu

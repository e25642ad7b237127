// Bulk reading of memory-mapped weights: parallel prefetch into the page cache and parallel copies into
// caller memory, with the throughput they reached.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace qi {

struct LoadStats {
  uint64_t bytes = 0;
  double seconds = 0;
  double gigabytes_per_second() const { return seconds > 0 ? double(bytes) / seconds / 1e9 : 0; }
};

// Faults in every page of the given tensors on `threads` threads (0 = all cores), after asking the kernel
// to read ahead (madvise WILLNEED), so that later reads of the mapping do not stall on the disk.
LoadStats prefetch_tensors(const std::vector<const TensorView*>& tensors, unsigned threads = 0);
// The same for the named tensors of a store (names it lacks are skipped): what a model is about to read whole,
// not the rest of its files (a text encoder's lm_head and vision tower, a VAE's encoder).
LoadStats prefetch_store(const TensorStore& store, const std::vector<std::string>& names, unsigned threads = 0);
// The bytes of the named tensors the store holds.
uint64_t store_bytes(const TensorStore& store, const std::vector<std::string>& names);

// One tensor's bytes to copy into caller memory (a staging buffer, a host tensor); dst holds src->bytes.
struct TensorCopy {
  const TensorView* src = nullptr;
  uint8_t* dst = nullptr;
};
// Copies all tensors in chunks spread over `threads` threads (0 = all cores).
LoadStats copy_tensors(const std::vector<TensorCopy>& copies, unsigned threads = 0);

}  // namespace qi

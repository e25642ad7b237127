// Streaming a model's repeated blocks (transformer blocks, text-encoder layers) from host memory, for a
// device whose memory cannot hold them all (generate --vram-budget, docs/performance.md "Running on a 24 GB
// GPU"). Written against the op interface: host weights come from Backend::upload_host_weight and reach the
// device through Backend::copy_into, ordered with the ops like any other op.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "ops/backend.h"

namespace qi {

// Where a model's repeated blocks live: the first `resident_blocks` on the device as usual, the others in
// host memory, copied into a ring of `slots` device slots as the forward pass reaches them.
struct BlockOffload {
  static constexpr int kAllResident = -1;
  int resident_blocks = kAllResident;  // < 0: every block resident, nothing streams
  int slots = 2;                       // device slots of the ring (>= 1; 2 lets a copy run ahead by a block)
  bool streams(int blocks) const { return resident_blocks >= 0 && resident_blocks < blocks; }
};

// A ring of device slots that groups of host weights (one block's matrices each) are copied into.
//
// Groups are used in cyclic order (0, 1, ..., n-1, 0, ...: a forward pass, then the next). acquire(g) makes
// group g resident and queues the copies of the groups after it into the other slots; pump(n) records n
// queued copies. A model pumps before its large matmuls, so block g+1's weights are copied piece by piece
// between block g's ops, where a GPU can run a copy while a GEMM computes (a copy still queued when its
// group is acquired is recorded then). Every copy into a slot is ordered after the reads of the group it
// replaces (Backend::copy_into is ordered like an op): a slot is reused only once its previous block has
// been read.
class WeightStream {
 public:
  WeightStream(Backend& backend, int slots);

  // Registers a group of host weights; every group has the shapes and dtypes of the first. Returns its index.
  int add_group(std::vector<Tensor> host_weights);
  // The device tensors holding group g, in add order. The caller reads them only until its next acquire().
  const std::vector<Tensor>& acquire(int g);
  // Records the next `copies` queued prefetch copies (fewer if fewer are queued).
  void pump(int copies = 1);

  struct Stats {
    uint64_t acquires = 0;
    uint64_t loads = 0;         // groups copied into a slot
    uint64_t copies = 0;        // copy_into calls
    uint64_t pumped = 0;        // of those, recorded by pump() (between the ops of the previous group)
    uint64_t bytes = 0;         // bytes copied
  };
  const Stats& stats() const { return stats_; }
  int groups() const { return int(groups_.size()); }
  int slots() const { return slots_wanted_; }
  uint64_t group_bytes() const { return group_bytes_; }

 private:
  struct Slot {
    std::vector<Tensor> tensors;
    int group = -1;
    uint64_t last_use = 0;
  };
  struct Piece {
    int slot;
    size_t index;
  };
  int slot_holding(int g) const;
  int victim(int g) const;  // the slot to load into, never one holding g or the groups up to slots-1 after it
  void assign(int slot, int g);
  void issue(const Piece& p);
  void flush(int slot);

  Backend& backend_;
  int slots_wanted_;
  std::vector<std::vector<Tensor>> groups_;
  std::vector<Slot> slots_;
  std::deque<Piece> pending_;
  uint64_t tick_ = 0, group_bytes_ = 0;
  Stats stats_;
};

// A model's repeated blocks with an offload plan applied. Block is the model's struct of tensors; fields(b)
// lists the weights that stream (its matrices, > 99.9 % of the bytes) in the order the forward pass reads
// them. Small tensors (biases, norm weights) always stay on the device.
template <class Block>
class BlockSet {
 public:
  using Fields = std::vector<Tensor*> (*)(Block&);
  BlockSet(Backend& backend, const BlockOffload& offload, int count, Fields fields)
      : fields_(fields), first_streamed_(offload.streams(count) ? offload.resident_blocks : count) {
    if (first_streamed_ < count) stream_ = std::make_unique<WeightStream>(backend, offload.slots);
  }

  // Whether block i's streamed weights belong in host memory (load them with WeightLoader::set_host(true)).
  bool host(int i) const { return i >= first_streamed_; }
  void push_back(Block b) {
    if (host(int(blocks_.size()))) {
      std::vector<Tensor> weights;
      for (Tensor* t : fields_(b)) weights.push_back(*t);
      stream_->add_group(std::move(weights));
    }
    blocks_.push_back(std::move(b));
  }
  size_t size() const { return blocks_.size(); }

  // Block i, ready to run: a streamed block is copied to `staged` with its slot's device tensors in place of
  // the host weights (valid until the next get()).
  const Block& get(size_t i, Block& staged) const {
    if (!host(int(i))) return blocks_[i];
    const std::vector<Tensor>& device = stream_->acquire(int(i) - first_streamed_);
    staged = blocks_[i];
    std::vector<Tensor*> f = fields_(staged);
    for (size_t k = 0; k < f.size(); ++k) *f[k] = device[k];
    return staged;
  }
  void pump(int copies = 1) const {
    if (stream_) stream_->pump(copies);
  }
  const WeightStream* stream() const { return stream_.get(); }
  // "blocks 23-59 (37 of 60, 25.2 GB) stream from host memory through 2 device slots" (empty when none do).
  std::string describe(const char* what) const;

 private:
  std::vector<Block> blocks_;
  Fields fields_;
  int first_streamed_;
  std::unique_ptr<WeightStream> stream_;
};

std::string describe_streaming(const char* what, int first_streamed, int count, const WeightStream* stream);

template <class Block>
std::string BlockSet<Block>::describe(const char* what) const {
  return describe_streaming(what, first_streamed_, int(blocks_.size()), stream_.get());
}

}  // namespace qi

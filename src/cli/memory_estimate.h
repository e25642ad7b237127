// A conservative estimate of the memory one generation needs, made before any weight is read, so that an
// absurd --width/--height (or a model too big for the machine) is refused at once with the numbers and the
// options instead of failing minutes later in an allocation. It also plans weight streaming (--vram-budget):
// which transformer blocks and text-encoder layers stay in host memory so that every stage fits a ceiling.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "io/model_dir.h"
#include "pipeline/generation.h"

namespace qi::cli {

// One stage's device memory: weights outside the repeated blocks, the repeated blocks (which may stream
// from host memory, model/weight_stream.h) and the activations.
struct StageMemory {
  uint64_t weight_bytes = 0;  // weights outside the repeated blocks
  uint64_t block_bytes = 0;   // the weights of one repeated block
  int blocks = 0;             // repeated blocks (0: the stage cannot stream)
  uint64_t activation_bytes = 0;

  // Weights on the device with the blocks placed as `offload` says: the resident blocks and the ring's slots.
  uint64_t device_weight_bytes(const BlockOffload& offload = {}) const;
  uint64_t device_bytes(const BlockOffload& offload = {}) const { return device_weight_bytes(offload) + activation_bytes; }
  // The streamed blocks, kept in host memory.
  uint64_t host_bytes(const BlockOffload& offload) const;
};

struct MemoryEstimate {
  StageMemory text_encoder_stage, transformer_stage, vae_stage;
  bool transformer_resident_during_decode = false;
  OffloadPlan offload;              // the placement the byte counts below assume
  uint64_t text_encoder_bytes = 0;  // device bytes of each stage with that placement
  uint64_t transformer_bytes = 0;
  uint64_t vae_bytes = 0;
  uint64_t peak_bytes = 0;          // the largest of the stages as the pipeline frees them, plus overhead
  uint64_t host_bytes = 0;          // streamed weights in host memory (the largest stage's)
  std::string describe() const;     // "41.0 GiB (text encoder 16.2, transformer 41.0, VAE 3.1)"
  bool streams() const;             // any block streams
  std::string describe_offload() const;  // "transformer blocks 23-59 (37 of 60) ..." or ""
};

struct EstimateInputs {
  int width = 0, height = 0, max_sequence_length = 0;
  // A batch keeps the transformer resident while decoding every image but the last one, and while encoding
  // the prompts of every image but the first.
  bool transformer_resident_during_decode = false;
  // The VAE decodes in tiles of at most this many pixels a side (generate --vae-tiling); 0: the whole image.
  int vae_tile_pixels = 0;
};

// Both backends keep weights in their stored dtype, so the weights count with their size in the files
// (their headers are read, no data); --random-weights models count as bf16, which they are made in.
// Every block resident.
MemoryEstimate estimate_generation_memory(const ModelDir& model, const EstimateInputs& in);

// The estimate with the blocks placed as `offload` says.
MemoryEstimate with_offload(MemoryEstimate e, const OffloadPlan& offload);

// The least streaming that brings every stage within `ceiling` bytes (the 10 % overhead included): a stage
// that fits keeps every block on the device; one that does not keeps as many leading blocks as fit and
// streams the others through a ring of 2 device slots (1 when 2 do not fit). The VAE cannot stream. When
// nothing fits, the result streams as much as possible and its peak_bytes exceeds the ceiling.
MemoryEstimate plan_offload(const MemoryEstimate& resident, uint64_t ceiling);

// The memory a generation may use.
struct DeviceMemory {
  uint64_t available = 0;    // the Vulkan device's device-local memory, or RAM for the CPU backend; 0: unknown
  bool system_ram = false;   // that memory is this machine's RAM (CPU backend, lavapipe)
  uint64_t host_ram = 0;     // this machine's RAM, where streamed weights wait; 0: unknown
  std::string backend_name;  // for messages
};

// Places the weights of a generation (`what`: "a 1328x1328 generation", for messages) and refuses one
// that cannot fit (RuntimeFailure naming the estimate and the ways out), before any weight is read. Without
// a budget, blocks stream only on a GPU whose memory the resident model exceeds (on the CPU backend and
// lavapipe host and device memory are the same RAM: streaming would save nothing); with a budget (GiB),
// whatever does not fit it streams, on any backend. Logs what streams.
MemoryEstimate place_weights(const MemoryEstimate& resident, std::optional<double> budget_gib,
                             const DeviceMemory& device, const std::string& what);

// Physical memory of this machine (sysconf), 0 when unknown.
uint64_t system_memory_bytes();

// "12.3 GiB", or "45.6 MiB" below 0.1 GiB.
std::string format_gib(uint64_t bytes);

}  // namespace qi::cli

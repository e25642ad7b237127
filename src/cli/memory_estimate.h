// A conservative estimate of the memory one generation needs, made before any weight is read, so that an
// absurd --width/--height (or a model too big for the machine) is refused at once with the numbers and the
// options instead of failing minutes later in an allocation.
#pragma once
#include <cstdint>
#include <string>

#include "io/model_dir.h"

namespace qi::cli {

struct MemoryEstimate {
  uint64_t text_encoder_bytes = 0;  // weights + activations while encoding the prompts
  uint64_t transformer_bytes = 0;   // weights + activations of one denoising step
  uint64_t vae_bytes = 0;           // weights + activations of the decode
  uint64_t peak_bytes = 0;          // the largest of the stages as the pipeline frees them
  std::string describe() const;     // "41.0 GiB (text encoder 16.2, transformer 41.0, VAE 3.1)"
};

struct EstimateInputs {
  int width = 0, height = 0, max_sequence_length = 0;
  // A batch keeps the transformer resident while decoding every image but the last one.
  bool transformer_resident_during_decode = false;
};

// Both backends keep weights in their stored dtype, so the weights count with their size in the files
// (their headers are read, no data); --random-weights models count as bf16, which they are made in.
MemoryEstimate estimate_generation_memory(const ModelDir& model, const EstimateInputs& in);

// Physical memory of this machine (sysconf), 0 when unknown.
uint64_t system_memory_bytes();

std::string format_gib(uint64_t bytes);

}  // namespace qi::cli

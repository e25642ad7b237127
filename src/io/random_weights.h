// Random bf16 weights for a component's expected tensors: the random-weight demo model and the full-size
// `--random-weights` runs (benchmarks without 57 GB of downloads). Deterministic for a seed, generated in
// parallel with a counter-based generator (each value a hash of seed, tensor and index), so 20 billion
// values take seconds.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/weight_map.h"

namespace qi {

// Scales: Linear/conv weights uniform with std 1/sqrt(fan_in) (activations stay O(1) through the layers),
// norm weights and gammas 1 ± small noise, biases small, embeddings std 1.
// Tensor i of `expected` is drawn as tensor first_index + i of a longer list, so a list generated in parts
// (a shard at a time) holds the same values as the whole list generated at once.
std::vector<TensorToWrite> random_weights(const std::vector<ExpectedTensor>& expected, uint64_t seed,
                                          size_t first_index = 0);

// The same tensors served from memory as a TensorStore named `location`.
TensorStore random_weights_store(const std::string& location, const std::vector<ExpectedTensor>& expected, uint64_t seed);

}  // namespace qi

// The exhaustive weight mapping: every tensor each component needs, with the shape its config implies,
// checked both ways against the files (missing, mis-shaped and unexpected tensors are errors naming the
// key, its file, and the expected vs found shape).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/model_config.h"
#include "io/safetensors.h"

namespace qi {

struct ExpectedTensor {
  std::string key;
  Shape shape;
};

// The keys of `expected`, less `except` (none if empty).
std::vector<std::string> expected_keys(const std::vector<ExpectedTensor>& expected, const std::string& except = "");

// diffusers names (spec §3.10), e.g. "transformer_blocks.0.attn.to_q.weight".
std::vector<ExpectedTensor> expected_transformer_tensors(const TransformerConfig& c);
// diffusers names (spec §4.8); the encoder and quant_conv only when include_encoder.
std::vector<ExpectedTensor> expected_vae_tensors(const VaeConfig& c, bool include_encoder);
// The text encoder's token-embedding table, under the language model's prefix.
constexpr const char* kTextEmbeddingKey = "embed_tokens.weight";
// Language-model tensors under `prefix` ("model.language_model." in transformers 5, "model." in older
// checkpoints), e.g. prefix + "layers.0.self_attn.q_proj.weight", prefix + "embed_tokens.weight".
std::vector<ExpectedTensor> expected_text_encoder_tensors(const TextEncoderConfig& c, const std::string& prefix);

// Detects the text encoder's key layout: "model.language_model." or "model.". InputError if neither.
std::string text_encoder_prefix(const TensorStore& store);

// Keys present in the files but deliberately unused (never read): lm_head, the vision tower.
bool is_ignored_text_encoder_key(const std::string& key);
// The VAE encoder (and quant_conv) when only decoding.
bool is_vae_encoder_key(const std::string& key);

// Checks a store against its expected tensors: every expected key present with the expected shape and a
// float dtype (F32/F16/BF16); every other key accepted by `ignored` (may be null). Throws one InputError
// listing every problem (key, file, expected vs found shape).
using IgnorePredicate = bool (*)(const std::string& key);
void check_tensors(const TensorStore& store, const std::vector<ExpectedTensor>& expected, IgnorePredicate ignored,
                   const std::string& component);

}  // namespace qi

// A diffusers Qwen-Image directory: model_index.json, transformer/, text_encoder/, vae/, tokenizer/,
// scheduler/. open() parses and validates every config and the cross-component constraints
// (in_channels == 4·z_dim, joint_attention_dim == text hidden size, ...), without touching weight bytes.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "io/model_config.h"
#include "io/safetensors.h"

namespace qi {

// model_index.json: the pipeline class and each component's (library, class).
struct ModelIndex {
  std::string pipeline_class;
  std::map<std::string, std::pair<std::string, std::string>> components;  // "vae" -> ("diffusers", "Autoencoder…")
};
// Parses and checks that the classes are Qwen-Image's (QwenImagePipeline, QwenImageTransformer2DModel,
// AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, a Qwen2.5-VL text encoder, a Qwen2 tokenizer).
ModelIndex parse_model_index(std::string_view json_text, const std::string& origin);

struct ModelDir {
  std::filesystem::path root;
  ModelIndex index;
  TransformerConfig transformer;
  VaeConfig vae;
  TextEncoderConfig text_encoder;
  SchedulerConfig scheduler;

  std::filesystem::path tokenizer;  // root/tokenizer unless given separately
  // Set by with_random_weights(): the *_weights() accessors then serve random tensors of the configs'
  // shapes, generated in memory.
  std::optional<uint64_t> random_weights_seed;

  static ModelDir open(const std::filesystem::path& root);
  // The published full-size configs (the struct defaults, spec §1) with random weights: runs and benchmarks
  // the full model without its 57 GB of files. Only the tokenizer is read from disk.
  static ModelDir with_random_weights(const std::filesystem::path& tokenizer_dir, uint64_t seed);

  std::filesystem::path component(const char* name) const { return root / name; }
  std::filesystem::path tokenizer_dir() const { return tokenizer; }
  TensorStore transformer_weights() const;
  TensorStore vae_weights() const;
  TensorStore text_encoder_weights() const;
};

}  // namespace qi

// A diffusers Qwen-Image directory: model_index.json, transformer/, text_encoder/, vae/, tokenizer/,
// scheduler/. open() parses and validates every config and the cross-component constraints
// (in_channels == 4·z_dim, joint_attention_dim == text hidden size, ...), without touching weight bytes.
#pragma once
#include <filesystem>

#include "io/model_config.h"
#include "io/safetensors.h"

namespace qi {

struct ModelDir {
  std::filesystem::path root;
  TransformerConfig transformer;
  VaeConfig vae;
  TextEncoderConfig text_encoder;
  SchedulerConfig scheduler;

  static ModelDir open(const std::filesystem::path& root);

  std::filesystem::path component(const char* name) const { return root / name; }
  std::filesystem::path tokenizer_dir() const { return root / "tokenizer"; }
  TensorStore transformer_weights() const { return TensorStore::open_dir(root / "transformer"); }
  TensorStore vae_weights() const { return TensorStore::open_dir(root / "vae"); }
  TensorStore text_encoder_weights() const { return TensorStore::open_dir(root / "text_encoder"); }
};

}  // namespace qi

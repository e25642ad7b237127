// Typed configs of a diffusers Qwen-Image directory (model_index.json, <component>/config.json,
// scheduler/scheduler_config.json). Parsing validates every value the model code relies on and ignores
// unknown fields; every failure is an InputError naming the file and field.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace qi {

struct TransformerConfig {
  int patch_size = 2;
  int in_channels = 64;
  int out_channels = 16;
  int num_layers = 60;
  int attention_head_dim = 128;
  int num_attention_heads = 24;
  int joint_attention_dim = 3584;
  std::array<int, 3> axes_dims_rope = {16, 56, 56};
  bool guidance_embeds = false;
  // Fixed by the architecture (spec §1.1), not stored in config.json.
  float norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  int timestep_channels = 256;
  int hidden() const { return num_attention_heads * attention_head_dim; }
  int ffn_hidden() const { return 4 * hidden(); }
};

struct VaeConfig {
  int base_dim = 96;
  int input_channels = 3;  // image channels the encoder reads (the decoder always emits 3)
  int z_dim = 16;
  std::vector<int> dim_mult = {1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<bool> temperal_downsample = {false, true, true};
  std::vector<float> latents_mean;  // z_dim values
  std::vector<float> latents_std;   // z_dim values
  // 2^len(temperal_downsample)
  int spatial_compression() const { return 1 << int(temperal_downsample.size()); }
};

struct TextEncoderConfig {
  int vocab_size = 152064;
  int hidden_size = 3584;
  int num_hidden_layers = 28;
  int num_attention_heads = 28;
  int num_key_value_heads = 4;
  int intermediate_size = 18944;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 1000000.0f;
  std::vector<int> mrope_section = {16, 24, 24};
  int head_dim() const { return hidden_size / num_attention_heads; }
};

struct SchedulerConfig {
  int num_train_timesteps = 1000;
  float shift = 1.0f;
  bool use_dynamic_shifting = true;
  float base_shift = 0.5f;
  float max_shift = 0.9f;
  int base_image_seq_len = 256;
  int max_image_seq_len = 8192;
  float shift_terminal = 0.02f;  // 0 = none
  std::string time_shift_type = "exponential";  // or "linear"
  bool invert_sigmas = false;
  bool stochastic_sampling = false;
  bool use_karras_sigmas = false;
  bool use_exponential_sigmas = false;
  bool use_beta_sigmas = false;
};

// A field that is absent (or null) takes the value the diffusers class gives it: for the transformer and the
// VAE those are the published values above; for the scheduler they are FlowMatchEulerDiscreteScheduler's own
// defaults (max_shift 1.15, max_image_seq_len 4096, no shift_terminal, no dynamic shifting), which differ from
// the published file. The text encoder's sizes, eps and mrope_section are required (its class defaults
// describe another model); rope_theta defaults to 1e6.
TransformerConfig parse_transformer_config(const std::filesystem::path& config_json);
VaeConfig parse_vae_config(const std::filesystem::path& config_json);
TextEncoderConfig parse_text_encoder_config(const std::filesystem::path& config_json);  // nested or flat
SchedulerConfig parse_scheduler_config(const std::filesystem::path& scheduler_config_json);

// The same parsers on JSON text already in memory; `origin` names the source in error messages.
TransformerConfig parse_transformer_config_text(std::string_view json_text, const std::string& origin);
VaeConfig parse_vae_config_text(std::string_view json_text, const std::string& origin);
TextEncoderConfig parse_text_encoder_config_text(std::string_view json_text, const std::string& origin);
SchedulerConfig parse_scheduler_config_text(std::string_view json_text, const std::string& origin);

}  // namespace qi

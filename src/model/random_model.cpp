#include "model/random_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "io/random_weights.h"
#include "io/safetensors.h"
#include "io/weight_map.h"

namespace qi {

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// Shard files of a sharded component: at least kMinShards (so the index files list several even for the tiny
// model), and none much over kShardBytes, the size the published checkpoints' shards keep under.
constexpr size_t kMinShards = 2;
constexpr uint64_t kShardBytes = 5'000'000'000;
// Shapes of the stand-ins for the tensors the loader must ignore.
const Shape kVisionStandInShape = {16, 3, 2, 14, 14};

void write_json(const fs::path& path, const ordered_json& j) {
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) throw InputError("cannot write " + path.string());
}

// Bytes of a tensor's data in the files (random_weights writes bf16).
uint64_t file_bytes(const ExpectedTensor& e) { return uint64_t(shape_numel(e.shape)) * dtype_size(DType::BF16); }

uint64_t file_bytes(const std::vector<ExpectedTensor>& expected) {
  uint64_t bytes = 0;
  for (const ExpectedTensor& e : expected) bytes += file_bytes(e);
  return bytes;
}

// Writes a component's random tensors either as one file or as shards (shard_ends) plus a
// *.safetensors.index.json. Sharded components are generated a shard at a time (random_weights' first_index
// keeps the values those of the whole list), so the full-size model needs one shard's memory, not 41 GB.
void write_component(const fs::path& dir, const std::string& stem, const std::vector<ExpectedTensor>& expected,
                     uint64_t seed, bool sharded) {
  fs::create_directories(dir);
  if (!sharded) {
    write_safetensors(dir / (stem + ".safetensors"), random_weights(expected, seed));
    return;
  }
  std::vector<uint64_t> bytes;
  for (const ExpectedTensor& e : expected) bytes.push_back(file_bytes(e));
  const std::vector<size_t> ends = shard_ends(bytes, kShardBytes, kMinShards);
  ordered_json weight_map = ordered_json::object();
  uint64_t total = 0;
  size_t begin = 0;
  for (size_t s = 0; s < ends.size(); ++s) {
    char name[128];
    std::snprintf(name, sizeof name, "%s-%05zu-of-%05zu.safetensors", stem.c_str(), s + 1, ends.size());
    const std::vector<ExpectedTensor> part(expected.begin() + std::ptrdiff_t(begin), expected.begin() + std::ptrdiff_t(ends[s]));
    for (size_t i = begin; i < ends[s]; ++i) {
      weight_map[expected[i].key] = name;
      total += bytes[i];
    }
    write_safetensors(dir / name, random_weights(part, seed, begin));
    begin = ends[s];
  }
  write_json(dir / (stem + ".safetensors.index.json"),
             ordered_json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
}

}  // namespace

std::vector<size_t> shard_ends(const std::vector<uint64_t>& tensor_bytes, uint64_t max_shard_bytes, size_t min_shards) {
  uint64_t total = 0;
  for (uint64_t b : tensor_bytes) total += b;
  const size_t count = std::min(tensor_bytes.size(),
                                std::max<size_t>(min_shards, size_t((total + max_shard_bytes - 1) / max_shard_bytes)));
  // Shard s ends at the first tensor whose cumulative size reaches (s + 1)/count of the total, and holds at
  // least one tensor; the last one ends with the list.
  std::vector<size_t> ends;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < tensor_bytes.size() && ends.size() + 1 < count; ++i) {
    cumulative += tensor_bytes[i];
    const size_t remaining_tensors = tensor_bytes.size() - (i + 1), remaining_shards = count - ends.size() - 1;
    if (double(cumulative) * double(count) >= double(total) * double(ends.size() + 1) ||
        remaining_tensors == remaining_shards)
      ends.push_back(i + 1);
  }
  if (!tensor_bytes.empty()) ends.push_back(tensor_bytes.size());
  return ends;
}

RandomModelSpec full_size_random_model_spec(uint64_t seed) {
  RandomModelSpec s;  // the configs' defaults are the published values (spec §1)
  s.seed = seed;
  s.vae = parse_vae_config_text("{}", "the published VAE config");  // AutoencoderKLQwenImage's defaults
  return s;
}

RandomModelSpec tiny_random_model_spec(uint64_t seed) {
  RandomModelSpec s;
  s.seed = seed;
  s.transformer.num_layers = 2;
  s.transformer.num_attention_heads = 4;
  s.transformer.attention_head_dim = 32;
  s.transformer.axes_dims_rope = {8, 12, 12};
  s.transformer.joint_attention_dim = 64;
  s.text_encoder.hidden_size = 64;
  s.text_encoder.num_hidden_layers = 2;
  s.text_encoder.num_attention_heads = 4;
  s.text_encoder.num_key_value_heads = 2;
  s.text_encoder.intermediate_size = 128;
  s.text_encoder.mrope_section = {2, 3, 3};
  s.vae.base_dim = 16;
  s.vae.latents_mean.assign(size_t(s.vae.z_dim), 0.0f);
  s.vae.latents_std.assign(size_t(s.vae.z_dim), 1.0f);
  // Non-trivial statistics so de-normalisation is exercised.
  for (int c = 0; c < s.vae.z_dim; ++c) {
    s.vae.latents_mean[size_t(c)] = 0.1f * float((c % 5) - 2);
    s.vae.latents_std[size_t(c)] = 1.5f + 0.1f * float(c % 7);
  }
  return s;
}

void write_random_model(const RandomModelSpec& spec, const fs::path& out, const fs::path& tokenizer_source) {
  if (fs::exists(out) && !fs::is_empty(out))
    throw UsageError(out.string() + " exists and is not empty; choose a new directory");
  if (!fs::exists(tokenizer_source))
    throw InputError("tokenizer " + tokenizer_source.string() + " not found");
  const TransformerConfig& t = spec.transformer;
  const TextEncoderConfig& te = spec.text_encoder;
  const VaeConfig& v = spec.vae;
  const std::vector<ExpectedTensor> transformer_expected = expected_transformer_tensors(t);
  // lm_head and a vision-tower tensor, as the published files hold: the loader must skip both.
  std::vector<ExpectedTensor> te_expected = expected_text_encoder_tensors(te, "model.");
  te_expected.push_back({"lm_head.weight", {te.vocab_size, te.hidden_size}});
  te_expected.push_back({"visual.patch_embed.proj.weight", kVisionStandInShape});
  const std::vector<ExpectedTensor> vae_expected = expected_vae_tensors(v, true);

  // Refused before anything is written where the weights cannot fit (57 GB at full size): the free space of
  // the nearest existing directory of `out`.
  const uint64_t needed = file_bytes(transformer_expected) + file_bytes(te_expected) + file_bytes(vae_expected);
  fs::path existing = fs::absolute(out);
  while (!fs::exists(existing) && existing.has_parent_path() && existing != existing.parent_path())
    existing = existing.parent_path();
  std::error_code ec;
  const fs::space_info space = fs::space(existing, ec);
  if (!ec && space.available < needed) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "the weights need %.2f GB and %s has %.2f GB free", double(needed) / 1e9,
                  out.string().c_str(), double(space.available) / 1e9);
    throw InputError(msg);
  }
  fs::create_directories(out);

  write_json(out / "model_index.json",
             ordered_json{{"_class_name", "QwenImagePipeline"},
                          {"_diffusers_version", "0.35.0"},
                          {"scheduler", {"diffusers", "FlowMatchEulerDiscreteScheduler"}},
                          {"text_encoder", {"transformers", "Qwen2_5_VLForConditionalGeneration"}},
                          {"tokenizer", {"transformers", "Qwen2Tokenizer"}},
                          {"transformer", {"diffusers", "QwenImageTransformer2DModel"}},
                          {"vae", {"diffusers", "AutoencoderKLQwenImage"}}});

  fs::create_directories(out / "transformer");
  write_json(out / "transformer" / "config.json",
             ordered_json{{"_class_name", "QwenImageTransformer2DModel"},
                          {"attention_head_dim", t.attention_head_dim},
                          {"axes_dims_rope", t.axes_dims_rope},
                          {"guidance_embeds", t.guidance_embeds},
                          {"in_channels", t.in_channels},
                          {"joint_attention_dim", t.joint_attention_dim},
                          {"num_attention_heads", t.num_attention_heads},
                          {"num_layers", t.num_layers},
                          {"out_channels", t.out_channels},
                          {"patch_size", t.patch_size},
                          {"pooled_projection_dim", 768}});
  write_component(out / "transformer", "diffusion_pytorch_model", transformer_expected, spec.seed, true);

  fs::create_directories(out / "text_encoder");
  write_json(out / "text_encoder" / "config.json",
             ordered_json{{"architectures", {"Qwen2_5_VLForConditionalGeneration"}},
                          {"model_type", "qwen2_5_vl"},
                          {"hidden_size", te.hidden_size},
                          {"intermediate_size", te.intermediate_size},
                          {"num_hidden_layers", te.num_hidden_layers},
                          {"num_attention_heads", te.num_attention_heads},
                          {"num_key_value_heads", te.num_key_value_heads},
                          {"rms_norm_eps", te.rms_norm_eps},
                          {"rope_theta", te.rope_theta},
                          {"rope_scaling", {{"type", "mrope"}, {"mrope_section", te.mrope_section}}},
                          {"vocab_size", te.vocab_size},
                          {"hidden_act", "silu"},
                          {"torch_dtype", "bfloat16"},
                          {"vision_config", {{"hidden_size", 16}, {"depth", 1}}}});
  write_component(out / "text_encoder", "model", te_expected, spec.seed + 1, true);

  fs::create_directories(out / "vae");
  std::vector<bool> tds = v.temperal_downsample;
  write_json(out / "vae" / "config.json",
             ordered_json{{"_class_name", "AutoencoderKLQwenImage"},
                          {"attn_scales", ordered_json::array()},
                          {"base_dim", v.base_dim},
                          {"dim_mult", v.dim_mult},
                          {"dropout", 0.0},
                          {"latents_mean", v.latents_mean},
                          {"latents_std", v.latents_std},
                          {"num_res_blocks", v.num_res_blocks},
                          {"temperal_downsample", tds},
                          {"z_dim", v.z_dim}});
  write_component(out / "vae", "diffusion_pytorch_model", vae_expected, spec.seed + 2, false);

  const SchedulerConfig& sc = spec.scheduler;
  fs::create_directories(out / "scheduler");
  write_json(out / "scheduler" / "scheduler_config.json",
             ordered_json{{"_class_name", "FlowMatchEulerDiscreteScheduler"},
                          {"base_image_seq_len", sc.base_image_seq_len},
                          {"base_shift", sc.base_shift},
                          {"invert_sigmas", sc.invert_sigmas},
                          {"max_image_seq_len", sc.max_image_seq_len},
                          {"max_shift", sc.max_shift},
                          {"num_train_timesteps", sc.num_train_timesteps},
                          {"shift", sc.shift},
                          {"shift_terminal", sc.shift_terminal},
                          {"stochastic_sampling", sc.stochastic_sampling},
                          {"time_shift_type", sc.time_shift_type},
                          {"use_beta_sigmas", sc.use_beta_sigmas},
                          {"use_dynamic_shifting", sc.use_dynamic_shifting},
                          {"use_exponential_sigmas", sc.use_exponential_sigmas},
                          {"use_karras_sigmas", sc.use_karras_sigmas}});

  fs::create_directories(out / "tokenizer");
  if (fs::is_directory(tokenizer_source)) {
    for (const auto& entry : fs::directory_iterator(tokenizer_source))
      if (entry.is_regular_file()) fs::copy_file(entry.path(), out / "tokenizer" / entry.path().filename());
    return;
  }
  fs::copy_file(tokenizer_source, out / "tokenizer" / "tokenizer.json");
  write_json(out / "tokenizer" / "tokenizer_config.json",
             ordered_json{{"tokenizer_class", "Qwen2Tokenizer"},
                          {"add_bos_token", false},
                          {"add_prefix_space", false},
                          {"model_max_length", 131072},
                          {"pad_token", "<|endoftext|>"},
                          {"eos_token", "<|im_end|>"}});
}

}  // namespace qi

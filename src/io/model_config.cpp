#include "io/model_config.h"

#include <numeric>

#include "core/error.h"
#include "io/json_fields.h"
#include "io/text_file.h"

namespace qi {

namespace {

// Upper bounds on sizes read from configs: far above any real model (the largest dimension in Qwen-Image is
// the 152064-row vocabulary), and low enough that every derived size (6·hidden, 4·hidden, …) fits an int.
constexpr int kMaxDimension = 1 << 24;
constexpr int kMaxLayers = 4096;
constexpr int kMaxPatchSize = 64;
// 2^stages is the VAE's spatial compression; 8 stages would already be a 128× downsampling.
constexpr int kMaxVaeStages = 8;
constexpr int kRopeAxes = 3;  // (frame, height, width) for the DiT; (t, h, w) sections for mRoPE

// AutoencoderKLQwenImage's class defaults for latents_mean / latents_std (spec §1.3).
const std::vector<double> kDefaultLatentsMean = {-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653,
                                                 -0.1517, 1.5508,  0.4134,  -0.0715, 0.5517,  -0.3632,
                                                 -0.1922, -0.9497, 0.2503,  -0.2921};
const std::vector<double> kDefaultLatentsStd = {2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                                                3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160};

// FlowMatchEulerDiscreteScheduler's class defaults where they differ from the published Qwen-Image file.
constexpr bool kSchedulerDefaultDynamicShifting = false;
constexpr double kSchedulerDefaultMaxShift = 1.15;
constexpr int kSchedulerDefaultMaxImageSeqLen = 4096;
constexpr double kSchedulerDefaultShiftTerminal = 0.0;  // None

// Qwen2_5_VLTextConfig's default rope_theta.
constexpr double kTextDefaultRopeTheta = 1e6;

nlohmann::json parse_config_json(std::string_view text, const std::string& origin) {
  nlohmann::json j = parse_json(text, origin, "config");
  require_json_object(j, origin, "config");
  return j;
}

std::string list_str(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<float> to_floats(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

void require_false(const JsonFields& f, const char* key, const char* why) {
  if (f.get_bool(key, false)) f.fail(key, std::string("is true, which is not supported (") + why + ")");
}

// The first of rope_parameters / rope_scaling (in the text fields, then at the top level) that holds an
// mrope_section.
std::optional<JsonFields> find_mrope(const JsonFields& text, const JsonFields& root) {
  for (const JsonFields* holder : {&text, &root})
    for (const char* key : {"rope_parameters", "rope_scaling"})
      if (auto candidate = holder->object(key); candidate && candidate->has("mrope_section")) return candidate;
  return std::nullopt;
}

}  // namespace

TransformerConfig parse_transformer_config_text(std::string_view json_text, const std::string& origin) {
  nlohmann::json j = parse_config_json(json_text, origin);
  JsonFields f(j, origin);
  TransformerConfig c;
  c.patch_size = f.get_int("patch_size", c.patch_size, 1, kMaxPatchSize);
  c.in_channels = f.get_int("in_channels", c.in_channels, 1, kMaxDimension);
  // diffusers: out_channels defaults to 16, and an explicit null means in_channels.
  const bool out_channels_null = j.contains("out_channels") && j["out_channels"].is_null();
  c.out_channels = f.get_int("out_channels", out_channels_null ? c.in_channels : c.out_channels, 1, kMaxDimension);
  c.num_layers = f.get_int("num_layers", c.num_layers, 1, kMaxLayers);
  c.attention_head_dim = f.get_int("attention_head_dim", c.attention_head_dim, 1, kMaxDimension);
  c.num_attention_heads = f.get_int("num_attention_heads", c.num_attention_heads, 1, kMaxDimension);
  c.joint_attention_dim = f.get_int("joint_attention_dim", c.joint_attention_dim, 1, kMaxDimension);
  std::vector<int> axes = f.get_int_list("axes_dims_rope", {c.axes_dims_rope.begin(), c.axes_dims_rope.end()}, 1,
                                         kMaxDimension);

  require_false(f, "guidance_embeds", "Qwen-Image has no guidance embedding");
  require_false(f, "zero_cond_t", "an Edit-2511 feature");
  require_false(f, "use_additional_t_cond", "a Layered-variant feature");
  require_false(f, "use_layer3d_rope", "a Layered-variant feature");
  if (int64_t(c.num_attention_heads) * c.attention_head_dim > kMaxDimension)
    f.fail("num_attention_heads", "times attention_head_dim exceeds " + std::to_string(kMaxDimension));
  if (int64_t(c.patch_size) * c.patch_size * c.out_channels != c.in_channels)
    f.fail("in_channels", "is " + std::to_string(c.in_channels) + " but patch_size² · out_channels is " +
                              std::to_string(int64_t(c.patch_size) * c.patch_size * c.out_channels));
  if (axes.size() != size_t(kRopeAxes))
    f.fail("axes_dims_rope", "must have 3 entries (frame, height, width), got " + list_str(axes));
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] % 2 != 0) f.fail("axes_dims_rope", "entry " + std::to_string(i) + " is odd: " + list_str(axes));
  if (std::accumulate(axes.begin(), axes.end(), int64_t(0)) != c.attention_head_dim)
    f.fail("axes_dims_rope", list_str(axes) + " does not sum to attention_head_dim " +
                                 std::to_string(c.attention_head_dim));
  std::copy(axes.begin(), axes.end(), c.axes_dims_rope.begin());
  return c;
}

VaeConfig parse_vae_config_text(std::string_view json_text, const std::string& origin) {
  nlohmann::json j = parse_config_json(json_text, origin);
  JsonFields f(j, origin);
  VaeConfig c;
  c.base_dim = f.get_int("base_dim", c.base_dim, 1, kMaxDimension);
  c.input_channels = f.get_int("input_channels", c.input_channels, 1, kMaxDimension);
  c.z_dim = f.get_int("z_dim", c.z_dim, 1, kMaxDimension);
  c.dim_mult = f.get_int_list("dim_mult", c.dim_mult, 1, kMaxDimension);
  c.num_res_blocks = f.get_int("num_res_blocks", c.num_res_blocks, 1, kMaxLayers);
  c.temperal_downsample = f.get_bool_list("temperal_downsample", c.temperal_downsample);
  c.latents_mean = to_floats(f.get_double_list("latents_mean", kDefaultLatentsMean));
  c.latents_std = to_floats(f.get_double_list("latents_std", kDefaultLatentsStd));

  if (c.dim_mult.empty() || c.dim_mult.size() > size_t(kMaxVaeStages))
    f.fail("dim_mult", "must have 1 to " + std::to_string(kMaxVaeStages) + " entries, got " + list_str(c.dim_mult));
  for (int m : c.dim_mult)
    if (int64_t(m) * c.base_dim > kMaxDimension)
      f.fail("dim_mult", list_str(c.dim_mult) + " times base_dim exceeds " + std::to_string(kMaxDimension));
  if (c.temperal_downsample.size() + 1 != c.dim_mult.size())
    f.fail("temperal_downsample", "has " + std::to_string(c.temperal_downsample.size()) +
                                      " entries; dim_mult has " + std::to_string(c.dim_mult.size()) +
                                      ", so it needs " + std::to_string(c.dim_mult.size() - 1));
  if (f.has("attn_scales") && !(j["attn_scales"].is_array() && j["attn_scales"].empty()))
    f.fail("attn_scales", "must be an empty list: only the mid-block attention of Qwen-Image's VAE is supported");
  for (const auto& [key, values] : {std::pair{"latents_mean", &c.latents_mean}, std::pair{"latents_std", &c.latents_std}})
    if (values->size() != size_t(c.z_dim))
      f.fail(key, "has " + std::to_string(values->size()) + " entries but z_dim is " + std::to_string(c.z_dim));
  for (size_t i = 0; i < c.latents_std.size(); ++i)
    if (!(c.latents_std[i] > 0))
      f.fail("latents_std", "entry " + std::to_string(i) + " is " + std::to_string(c.latents_std[i]) +
                                ", must be positive");
  return c;
}

TextEncoderConfig parse_text_encoder_config_text(std::string_view json_text, const std::string& origin) {
  nlohmann::json j = parse_config_json(json_text, origin);
  JsonFields root(j, origin);
  // transformers 5 nests the language model's fields under text_config; older files keep them at the top.
  std::optional<JsonFields> nested = root.object("text_config");
  auto source = [&](const char* key) -> const JsonFields& {
    return nested && (nested->has(key) || !root.has(key)) ? *nested : root;
  };
  TextEncoderConfig c;
  for (auto [key, value] : {std::pair{"vocab_size", &c.vocab_size}, std::pair{"hidden_size", &c.hidden_size},
                            std::pair{"num_hidden_layers", &c.num_hidden_layers},
                            std::pair{"num_attention_heads", &c.num_attention_heads},
                            std::pair{"num_key_value_heads", &c.num_key_value_heads},
                            std::pair{"intermediate_size", &c.intermediate_size}}) {
    int max = std::string(key) == "num_hidden_layers" ? kMaxLayers : kMaxDimension;
    *value = source(key).require_int(key, 1, max);
  }
  const JsonFields& eps_source = source("rms_norm_eps");
  if (!eps_source.has("rms_norm_eps")) eps_source.fail("rms_norm_eps", "is missing");
  double eps = eps_source.get_double("rms_norm_eps", 0);
  if (!(eps > 0 && eps < 1)) eps_source.fail("rms_norm_eps", "is " + std::to_string(eps) + ", must be in (0, 1)");
  c.rms_norm_eps = float(eps);

  // mrope_section and rope_theta: rope_parameters (transformers 5) or rope_scaling + rope_theta (older).
  std::optional<JsonFields> rope = find_mrope(nested ? *nested : root, root);
  if (!rope) root.fail("text_config.rope_parameters.mrope_section", "is missing (nor is rope_scaling.mrope_section)");
  c.mrope_section = rope->require_int_list("mrope_section", 1, kMaxDimension);
  double theta = rope->has("rope_theta") ? rope->get_double("rope_theta", 0)
                                         : source("rope_theta").get_double("rope_theta", kTextDefaultRopeTheta);
  if (!(theta > 1)) root.fail("rope_theta", "is " + std::to_string(theta) + ", must be greater than 1");
  c.rope_theta = float(theta);

  const JsonFields& sizes = source("hidden_size");
  if (c.hidden_size % c.num_attention_heads != 0)
    sizes.fail("hidden_size", std::to_string(c.hidden_size) + " is not divisible by num_attention_heads " +
                                  std::to_string(c.num_attention_heads));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    source("num_key_value_heads")
        .fail("num_key_value_heads", std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads " +
                                         std::to_string(c.num_attention_heads));
  const JsonFields& head_dim_source = source("head_dim");
  if (head_dim_source.has("head_dim") &&
      head_dim_source.require_int("head_dim", 1, kMaxDimension) != c.head_dim())
    head_dim_source.fail("head_dim", "is not hidden_size / num_attention_heads = " + std::to_string(c.head_dim()));
  if (c.head_dim() % 2 != 0) sizes.fail("hidden_size", "gives an odd head dim " + std::to_string(c.head_dim()));
  if (c.mrope_section.size() != size_t(kRopeAxes))
    rope->fail("mrope_section", "must have 3 entries (t, h, w), got " + list_str(c.mrope_section));
  if (std::accumulate(c.mrope_section.begin(), c.mrope_section.end(), int64_t(0)) != c.head_dim() / 2)
    rope->fail("mrope_section", list_str(c.mrope_section) + " does not sum to head_dim/2 = " +
                                    std::to_string(c.head_dim() / 2));
  return c;
}

SchedulerConfig parse_scheduler_config_text(std::string_view json_text, const std::string& origin) {
  nlohmann::json j = parse_config_json(json_text, origin);
  JsonFields f(j, origin);
  SchedulerConfig c;
  c.num_train_timesteps = f.get_int("num_train_timesteps", c.num_train_timesteps, 1, kMaxDimension);
  c.shift = float(f.get_double("shift", c.shift));
  c.use_dynamic_shifting = f.get_bool("use_dynamic_shifting", kSchedulerDefaultDynamicShifting);
  c.base_shift = float(f.get_double("base_shift", c.base_shift));
  c.max_shift = float(f.get_double("max_shift", kSchedulerDefaultMaxShift));
  c.base_image_seq_len = f.get_int("base_image_seq_len", c.base_image_seq_len, 1, kMaxDimension);
  c.max_image_seq_len = f.get_int("max_image_seq_len", kSchedulerDefaultMaxImageSeqLen, 1, kMaxDimension);
  c.shift_terminal = float(f.get_double("shift_terminal", kSchedulerDefaultShiftTerminal));
  c.time_shift_type = f.get_string("time_shift_type", c.time_shift_type);
  c.invert_sigmas = f.get_bool("invert_sigmas", c.invert_sigmas);
  c.stochastic_sampling = f.get_bool("stochastic_sampling", c.stochastic_sampling);
  c.use_karras_sigmas = f.get_bool("use_karras_sigmas", c.use_karras_sigmas);
  c.use_exponential_sigmas = f.get_bool("use_exponential_sigmas", c.use_exponential_sigmas);
  c.use_beta_sigmas = f.get_bool("use_beta_sigmas", c.use_beta_sigmas);

  if (!(c.shift > 0)) f.fail("shift", "must be positive");
  if (c.time_shift_type != "exponential" && c.time_shift_type != "linear")
    f.fail("time_shift_type", "is '" + c.time_shift_type + "', must be 'exponential' or 'linear'");
  if (c.use_dynamic_shifting && c.base_image_seq_len >= c.max_image_seq_len)
    f.fail("max_image_seq_len", "must be greater than base_image_seq_len " + std::to_string(c.base_image_seq_len));
  if (!(c.shift_terminal >= 0 && c.shift_terminal < 1)) f.fail("shift_terminal", "must be in [0, 1)");
  if (int(c.use_karras_sigmas) + int(c.use_exponential_sigmas) + int(c.use_beta_sigmas) > 1)
    f.fail("use_karras_sigmas", "and use_exponential_sigmas / use_beta_sigmas: at most one may be true");
  return c;
}

TransformerConfig parse_transformer_config(const std::filesystem::path& config_json) {
  return parse_transformer_config_text(read_text_file(config_json, "transformer config"), config_json.string());
}

VaeConfig parse_vae_config(const std::filesystem::path& config_json) {
  return parse_vae_config_text(read_text_file(config_json, "VAE config"), config_json.string());
}

TextEncoderConfig parse_text_encoder_config(const std::filesystem::path& config_json) {
  return parse_text_encoder_config_text(read_text_file(config_json, "text encoder config"), config_json.string());
}

SchedulerConfig parse_scheduler_config(const std::filesystem::path& scheduler_config_json) {
  return parse_scheduler_config_text(read_text_file(scheduler_config_json, "scheduler config"),
                                     scheduler_config_json.string());
}

}  // namespace qi

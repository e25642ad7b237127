// The four config parsers: tiny-a and published values, both text-encoder config styles, and one test per
// validation (each must fail with the file and field in the message).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/model_config.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

using json = nlohmann::json;

template <class Parse>
std::string error_of(Parse parse, const json& config) {
  try {
    parse(config.dump(), "cfg.json");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << config.dump();
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const json kTransformer = {{"_class_name", "QwenImageTransformer2DModel"},
                           {"attention_head_dim", 32},
                           {"axes_dims_rope", {8, 12, 12}},
                           {"guidance_embeds", false},
                           {"in_channels", 64},
                           {"joint_attention_dim", 32},
                           {"num_attention_heads", 4},
                           {"num_layers", 2},
                           {"out_channels", 16},
                           {"patch_size", 2},
                           {"pooled_projection_dim", 768}};

const json kVae = {{"base_dim", 16},   {"z_dim", 16},    {"dim_mult", {1, 2, 4, 4}},
                   {"num_res_blocks", 2}, {"attn_scales", json::array()}, {"temperal_downsample", {false, true, true}},
                   {"latents_mean", std::vector<double>(16, 0.5)}, {"latents_std", std::vector<double>(16, 2.0)}};

// transformers-5 style: sizes under text_config, rope under rope_parameters.
const json kTextNested = {
    {"architectures", {"Qwen2_5_VLForConditionalGeneration"}},
    {"text_config",
     {{"hidden_size", 32}, {"intermediate_size", 64}, {"num_attention_heads", 2}, {"num_hidden_layers", 2},
      {"num_key_value_heads", 1}, {"rms_norm_eps", 1e-6}, {"vocab_size", 152064},
      {"rope_parameters", {{"mrope_section", {2, 3, 3}}, {"rope_theta", 1000000.0}, {"rope_type", "default"}}}}},
    {"vision_config", {{"hidden_size", 16}}}};

// Older style: everything at the top level, rope_scaling.mrope_section and rope_theta.
const json kTextFlat = {{"architectures", {"Qwen2_5_VLForConditionalGeneration"}},
                        {"hidden_size", 3584},
                        {"intermediate_size", 18944},
                        {"num_attention_heads", 28},
                        {"num_hidden_layers", 28},
                        {"num_key_value_heads", 4},
                        {"rms_norm_eps", 1e-6},
                        {"vocab_size", 152064},
                        {"rope_theta", 1000000.0},
                        {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {16, 24, 24}}}},
                        {"vision_config", {{"depth", 32}}}};

const json kScheduler = {{"base_image_seq_len", 256}, {"base_shift", 0.5},      {"max_image_seq_len", 8192},
                         {"max_shift", 0.9},          {"num_train_timesteps", 1000}, {"shift", 1.0},
                         {"shift_terminal", 0.02},    {"time_shift_type", "exponential"},
                         {"use_dynamic_shifting", true}};

json with(json base, const json::json_pointer& field, json value) {
  base[field] = std::move(value);
  return base;
}

TEST(TransformerConfig, ParsesTinyA) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  auto c = parse_transformer_config(test::tiny_a_dir() / "model" / "transformer" / "config.json");
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.attention_head_dim, 32);
  EXPECT_EQ(c.hidden(), 128);
  EXPECT_EQ(c.joint_attention_dim, 32);
  EXPECT_EQ(c.axes_dims_rope, (std::array<int, 3>{8, 12, 12}));
  EXPECT_EQ(c.in_channels, 64);
  EXPECT_EQ(c.out_channels, 16);
}

TEST(TransformerConfig, MissingFieldsTakeTheDiffusersDefaults) {
  auto c = parse_transformer_config_text("{}", "cfg.json");
  EXPECT_EQ(c.num_layers, 60);
  EXPECT_EQ(c.hidden(), 3072);
  EXPECT_EQ(c.joint_attention_dim, 3584);
  EXPECT_EQ(c.axes_dims_rope, (std::array<int, 3>{16, 56, 56}));
  // out_channels: null means in_channels in diffusers; 64 then breaks patch² · out == in.
  EXPECT_CONTAINS(error_of(parse_transformer_config_text, with(kTransformer, "/out_channels"_json_pointer, nullptr)),
                  "in_channels");
}

TEST(TransformerConfig, RejectsInconsistentValues) {
  auto parse = parse_transformer_config_text;
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/axes_dims_rope"_json_pointer, {8, 12, 14})),
                  "cfg.json: field 'axes_dims_rope' [8, 12, 14] does not sum to attention_head_dim 32");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/axes_dims_rope"_json_pointer, {9, 11, 12})),
                  "field 'axes_dims_rope' entry 0 is odd");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/axes_dims_rope"_json_pointer, {16, 16})),
                  "field 'axes_dims_rope' must have 3 entries");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/in_channels"_json_pointer, 48)),
                  "field 'in_channels' is 48 but patch_size² · out_channels is 64");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/num_layers"_json_pointer, 0)),
                  "field 'num_layers' is 0, outside the accepted range");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/num_attention_heads"_json_pointer, -4)), "num_attention_heads");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/num_attention_heads"_json_pointer, 1 << 20)),
                  "num_attention_heads' times attention_head_dim exceeds");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/guidance_embeds"_json_pointer, true)),
                  "field 'guidance_embeds' is true, which is not supported");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/zero_cond_t"_json_pointer, true)), "zero_cond_t");
}

TEST(TransformerConfig, WrongJsonTypesNameTheField) {
  auto parse = parse_transformer_config_text;
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/num_layers"_json_pointer, "60")),
                  "cfg.json: field 'num_layers' must be an integer, got string");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/num_layers"_json_pointer, 2.5)),
                  "field 'num_layers' must be an integer, got 2.5");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/num_layers"_json_pointer, 18446744073709551615u)),
                  "field 'num_layers' is 18446744073709551615, outside the accepted range");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/axes_dims_rope"_json_pointer, "16,56,56")),
                  "field 'axes_dims_rope' must be a list of integers");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/axes_dims_rope"_json_pointer, {8, "12", 12})),
                  "field 'axes_dims_rope[1]' must be an integer");
  EXPECT_CONTAINS(error_of(parse, with(kTransformer, "/guidance_embeds"_json_pointer, 0)),
                  "field 'guidance_embeds' must be true or false");
  EXPECT_CONTAINS(error_of(parse, json::array()), "cfg.json: config must be a JSON object, got array");
}

TEST(Config, MalformedJsonNamesTheFile) {
  for (const char* text : {"{", "", "{\"a\":1,}", "{\"num_layers\": 2, \"num_layers\": 3}", "nul"}) {
    try {
      parse_transformer_config_text(text, "cfg.json");
      ADD_FAILURE() << text;
    } catch (const InputError& e) {
      EXPECT_CONTAINS(e.what(), "cfg.json: config");
    }
  }
}

TEST(Config, MissingFileNamesTheFile) {
  test::ScratchDir dir;
  try {
    parse_vae_config(dir / "config.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "VAE config " + (dir / "config.json").string() + " does not exist");
  }
}

TEST(Config, UnknownFieldsAreIgnored) {
  json t = with(kTransformer, "/some_future_field"_json_pointer, {{"nested", {1, 2}}});
  EXPECT_NO_THROW(parse_transformer_config_text(t.dump(), "cfg.json"));
  json v = with(kVae, "/whatever"_json_pointer, "x");
  EXPECT_NO_THROW(parse_vae_config_text(v.dump(), "cfg.json"));
}

TEST(VaeConfig, ParsesTinyA) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  auto c = parse_vae_config(test::tiny_a_dir() / "model" / "vae" / "config.json");
  EXPECT_EQ(c.base_dim, 16);
  EXPECT_EQ(c.z_dim, 16);
  EXPECT_EQ(c.dim_mult, (std::vector<int>{1, 2, 4, 4}));
  EXPECT_EQ(c.temperal_downsample, (std::vector<bool>{false, true, true}));
  EXPECT_EQ(c.spatial_compression(), 8);
  ASSERT_EQ(c.latents_mean.size(), 16u);
  EXPECT_FLOAT_EQ(c.latents_mean[0], 0.8453f);
  EXPECT_FLOAT_EQ(c.latents_std[15], 1.9774f);
  EXPECT_EQ(c.input_channels, 3);
}

TEST(VaeConfig, MissingLatentStatisticsTakeThePublishedDefaults) {
  auto c = parse_vae_config_text("{}", "cfg.json");
  ASSERT_EQ(c.latents_mean.size(), 16u);
  EXPECT_FLOAT_EQ(c.latents_mean[0], -0.7571f);
  EXPECT_FLOAT_EQ(c.latents_std[15], 1.9160f);
  EXPECT_EQ(c.base_dim, 96);
}

TEST(VaeConfig, RejectsInconsistentValues) {
  auto parse = parse_vae_config_text;
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/latents_mean"_json_pointer, {1.0, 2.0})),
                  "cfg.json: field 'latents_mean' has 2 entries but z_dim is 16");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/z_dim"_json_pointer, 8)), "field 'latents_mean' has 16 entries but z_dim is 8");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/latents_std"_json_pointer, std::vector<double>(16, 0.0))),
                  "field 'latents_std' entry 0 is 0.000000, must be positive");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/temperal_downsample"_json_pointer, {false, true})),
                  "field 'temperal_downsample' has 2 entries; dim_mult has 4, so it needs 3");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/dim_mult"_json_pointer, json::array())), "field 'dim_mult' must have 1 to");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/dim_mult"_json_pointer, {1, 0, 4, 4})), "field 'dim_mult[1]' is 0");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/attn_scales"_json_pointer, {0.5})), "field 'attn_scales' must be an empty list");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/base_dim"_json_pointer, 0)), "field 'base_dim' is 0");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/temperal_downsample"_json_pointer, {0, 1, 1})),
                  "field 'temperal_downsample[0]' must be true or false");
  EXPECT_CONTAINS(error_of(parse, with(kVae, "/latents_std"_json_pointer, "big")), "field 'latents_std' must be a list");
}

void expect_seven_b(const TextEncoderConfig& c) {
  EXPECT_EQ(c.hidden_size, 3584);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 28);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.intermediate_size, 18944);
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_EQ(c.mrope_section, (std::vector<int>{16, 24, 24}));
}

TEST(TextEncoderConfig, ParsesTinyANestedStyle) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  auto c = parse_text_encoder_config(test::tiny_a_dir() / "model" / "text_encoder" / "config.json");
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.intermediate_size, 64);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_EQ(c.mrope_section, (std::vector<int>{2, 3, 3}));
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
}

TEST(TextEncoderConfig, ParsesFlatStyle) { expect_seven_b(parse_text_encoder_config_text(kTextFlat.dump(), "cfg.json")); }

TEST(TextEncoderConfig, NestedAndFlatStylesAgree) {
  json nested = {{"text_config", kTextFlat}};
  nested["text_config"].erase("rope_scaling");
  nested["text_config"].erase("rope_theta");
  nested["text_config"]["rope_parameters"] = {{"mrope_section", {16, 24, 24}}, {"rope_theta", 1000000.0}};
  expect_seven_b(parse_text_encoder_config_text(nested.dump(), "cfg.json"));
  // transformers 4.5x: text_config present but rope_scaling and rope_theta still at the top level.
  json mixed = kTextFlat;
  mixed["text_config"] = {{"hidden_size", 3584}, {"model_type", "qwen2_5_vl_text"}};
  expect_seven_b(parse_text_encoder_config_text(mixed.dump(), "cfg.json"));
}

TEST(TextEncoderConfig, RopeThetaDefaultsToTheClassDefault) {
  json c = kTextFlat;
  c.erase("rope_theta");
  EXPECT_FLOAT_EQ(parse_text_encoder_config_text(c.dump(), "cfg.json").rope_theta, 1e6f);
}

TEST(TextEncoderConfig, RejectsInconsistentValues) {
  auto parse = parse_text_encoder_config_text;
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config/rope_parameters/mrope_section"_json_pointer, {2, 3, 4})),
                  "cfg.json: field 'text_config.rope_parameters.mrope_section' [2, 3, 4] does not sum to head_dim/2 = 8");
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config/rope_parameters/mrope_section"_json_pointer, {4, 4})),
                  "must have 3 entries (t, h, w)");
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config/num_key_value_heads"_json_pointer, 3)),
                  "field 'text_config.num_key_value_heads' 3 does not divide num_attention_heads 2");
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config/hidden_size"_json_pointer, 33)),
                  "field 'text_config.hidden_size' 33 is not divisible by num_attention_heads 2");
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config/hidden_size"_json_pointer, 30)),
                  "field 'text_config.hidden_size' gives an odd head dim 15");
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config/head_dim"_json_pointer, 32)),
                  "field 'text_config.head_dim' is not hidden_size / num_attention_heads = 16");
  EXPECT_CONTAINS(error_of(parse, with(kTextFlat, "/rms_norm_eps"_json_pointer, 0)),
                  "field 'rms_norm_eps' is 0.000000, must be in (0, 1)");
  EXPECT_CONTAINS(error_of(parse, with(kTextFlat, "/rope_theta"_json_pointer, -1)), "field 'rope_theta'");
  EXPECT_CONTAINS(error_of(parse, with(kTextFlat, "/num_attention_heads"_json_pointer, "28")),
                  "field 'num_attention_heads' must be an integer, got string");
  EXPECT_CONTAINS(error_of(parse, with(kTextNested, "/text_config"_json_pointer, "none")),
                  "field 'text_config' must be a JSON object, got string");
}

TEST(TextEncoderConfig, RequiresSizesAndMrope) {
  auto parse = parse_text_encoder_config_text;
  for (const char* field : {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                            "intermediate_size", "vocab_size", "rms_norm_eps"}) {
    json c = kTextNested;
    c["text_config"].erase(field);
    EXPECT_CONTAINS(error_of(parse, c), std::string("field 'text_config.") + field + "' is missing");
  }
  json no_rope = kTextFlat;
  no_rope.erase("rope_scaling");
  EXPECT_CONTAINS(error_of(parse, no_rope), "mrope_section' is missing");
}

TEST(SchedulerConfig, ParsesTinyA) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  auto c = parse_scheduler_config(test::tiny_a_dir() / "model" / "scheduler" / "scheduler_config.json");
  EXPECT_TRUE(c.use_dynamic_shifting);
  EXPECT_FLOAT_EQ(c.max_shift, 0.9f);
  EXPECT_EQ(c.max_image_seq_len, 8192);
  EXPECT_FLOAT_EQ(c.shift_terminal, 0.02f);
  EXPECT_EQ(c.time_shift_type, "exponential");
}

TEST(SchedulerConfig, MissingFieldsTakeTheClassDefaults) {
  auto c = parse_scheduler_config_text(R"({"shift_terminal": null})", "cfg.json");
  EXPECT_FALSE(c.use_dynamic_shifting);
  EXPECT_FLOAT_EQ(c.max_shift, 1.15f);
  EXPECT_EQ(c.max_image_seq_len, 4096);
  EXPECT_FLOAT_EQ(c.shift_terminal, 0.0f);
  EXPECT_EQ(c.num_train_timesteps, 1000);
}

TEST(SchedulerConfig, RejectsInconsistentValues) {
  auto parse = parse_scheduler_config_text;
  EXPECT_CONTAINS(error_of(parse, with(kScheduler, "/time_shift_type"_json_pointer, "cubic")),
                  "cfg.json: field 'time_shift_type' is 'cubic'");
  EXPECT_CONTAINS(error_of(parse, with(kScheduler, "/max_image_seq_len"_json_pointer, 256)),
                  "field 'max_image_seq_len' must be greater than base_image_seq_len 256");
  EXPECT_CONTAINS(error_of(parse, with(kScheduler, "/shift_terminal"_json_pointer, 1.5)), "field 'shift_terminal'");
  EXPECT_CONTAINS(error_of(parse, with(kScheduler, "/shift"_json_pointer, 0)), "field 'shift' must be positive");
  EXPECT_CONTAINS(error_of(parse, with(with(kScheduler, "/use_karras_sigmas"_json_pointer, true),
                                       "/use_beta_sigmas"_json_pointer, true)),
                  "at most one may be true");
  EXPECT_CONTAINS(error_of(parse, with(kScheduler, "/use_dynamic_shifting"_json_pointer, "yes")),
                  "field 'use_dynamic_shifting' must be true or false");
}

}  // namespace
}  // namespace qi

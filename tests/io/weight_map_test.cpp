// The weight mapping: exact agreement with the full-size manifest (keys and shapes derived from configs, no
// weight bytes), tiny-a passing check_tensors, and the report check_tensors gives on broken stores.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/model_config.h"
#include "io/weight_map.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using KeyShapes = std::map<std::string, Shape>;

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const json& manifest() {
  static const json m = [] {
    auto bytes = test::read_file_bytes(test::shared_dir() / "reference" / "full_size_manifest.json");
    return json::parse(bytes.begin(), bytes.end());
  }();
  return m;
}

bool have_manifest() { return fs::exists(test::shared_dir() / "reference" / "full_size_manifest.json"); }

KeyShapes manifest_keys(const char* component) {
  KeyShapes out;
  for (const auto& entry : manifest().at(component)) out[entry.at(0).get<std::string>()] = entry.at(1).get<Shape>();
  return out;
}

KeyShapes as_map(const std::vector<ExpectedTensor>& list) {
  KeyShapes out;
  for (const auto& e : list) EXPECT_TRUE(out.emplace(e.key, e.shape).second) << "duplicate key " << e.key;
  return out;
}

int64_t parameter_count(const std::vector<ExpectedTensor>& list) {
  int64_t n = 0;
  for (const auto& e : list) n += shape_numel(e.shape);
  return n;
}

// Qwen2.5-VL-7B's language model in the older flat config style (spec §1.5).
const char* kFullTextEncoderConfig = R"({
  "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28,
  "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "vocab_size": 152064, "rope_theta": 1000000.0,
  "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}})";

class FullSizeManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_manifest()) GTEST_SKIP() << "full_size_manifest.json not found";
  }
};

TEST_F(FullSizeManifest, TransformerKeysAndShapesMatchExactly) {
  auto config = parse_transformer_config_text(manifest().at("transformer_config").dump(), "manifest transformer_config");
  auto expected = expected_transformer_tensors(config);
  EXPECT_EQ(expected.size(), 1933u);
  EXPECT_EQ(as_map(expected), manifest_keys("transformer"));
  EXPECT_EQ(parameter_count(expected), 20'430'401'088);  // spec §1.1
}

TEST_F(FullSizeManifest, VaeKeysAndShapesMatchExactly) {
  auto config = parse_vae_config_text(manifest().at("vae_config").dump(), "manifest vae_config");
  auto with_encoder = expected_vae_tensors(config, true);
  EXPECT_EQ(as_map(with_encoder), manifest_keys("vae"));
  EXPECT_EQ(parameter_count(with_encoder), 126'892'531);  // spec §1.2

  KeyShapes decoder_only;
  for (const auto& [key, shape] : manifest_keys("vae"))
    if (!is_vae_encoder_key(key)) decoder_only[key] = shape;
  auto decoder = expected_vae_tensors(config, false);
  EXPECT_EQ(as_map(decoder), decoder_only);
  const int64_t post_quant_conv = 16 * 16 + 16;  // spec §1.2 counts it in neither the encoder nor the decoder
  EXPECT_EQ(parameter_count(decoder), 73'295'331 + post_quant_conv);
}

TEST_F(FullSizeManifest, TextEncoderKeysAndShapesMatchExactly) {
  auto config = parse_text_encoder_config_text(kFullTextEncoderConfig, "7B config");
  auto expected = expected_text_encoder_tensors(config, "model.language_model.");
  EXPECT_EQ(parameter_count(expected), 7'070'619'136);  // spec §1.5, without lm_head

  KeyShapes used, ignored;
  for (const auto& [key, shape] : manifest_keys("text_encoder"))
    (is_ignored_text_encoder_key(key) ? ignored : used)[key] = shape;
  EXPECT_EQ(as_map(expected), used);
  EXPECT_TRUE(ignored.count("lm_head.weight"));
  EXPECT_TRUE(ignored.count("model.visual.merger.mlp.2.weight"));
  EXPECT_EQ(ignored.size(), 391u);  // 390 vision tensors + lm_head
}

TEST(WeightMap, LegacyTextEncoderKeysDifferOnlyInPrefix) {
  auto config = parse_text_encoder_config_text(kFullTextEncoderConfig, "7B config");
  auto modern = expected_text_encoder_tensors(config, "model.language_model.");
  auto legacy = expected_text_encoder_tensors(config, "model.");
  ASSERT_EQ(modern.size(), legacy.size());
  for (size_t i = 0; i < modern.size(); ++i) {
    EXPECT_EQ(modern[i].key, "model.language_model." + legacy[i].key.substr(6));
    EXPECT_EQ(modern[i].shape, legacy[i].shape);
  }
}

TEST(WeightMap, IgnorePredicates) {
  EXPECT_TRUE(is_ignored_text_encoder_key("lm_head.weight"));
  EXPECT_TRUE(is_ignored_text_encoder_key("visual.blocks.0.attn.qkv.weight"));
  EXPECT_TRUE(is_ignored_text_encoder_key("model.visual.blocks.0.attn.qkv.weight"));
  EXPECT_FALSE(is_ignored_text_encoder_key("model.language_model.norm.weight"));
  EXPECT_FALSE(is_ignored_text_encoder_key("model.norm.weight"));
  EXPECT_FALSE(is_ignored_text_encoder_key("lm_headx"));
  EXPECT_TRUE(is_vae_encoder_key("encoder.conv_in.weight"));
  EXPECT_TRUE(is_vae_encoder_key("quant_conv.bias"));
  EXPECT_FALSE(is_vae_encoder_key("post_quant_conv.bias"));
  EXPECT_FALSE(is_vae_encoder_key("decoder.conv_in.weight"));
}

class TinyA : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  }
  fs::path model() const { return test::tiny_a_dir() / "model"; }
};

TEST_F(TinyA, AllThreeComponentsPassCheckTensors) {
  auto transformer = TensorStore::open_dir(model() / "transformer");
  auto tc = parse_transformer_config(model() / "transformer" / "config.json");
  EXPECT_NO_THROW(check_tensors(transformer, expected_transformer_tensors(tc), nullptr, "transformer"));

  auto vae = TensorStore::open_dir(model() / "vae");
  auto vc = parse_vae_config(model() / "vae" / "config.json");
  EXPECT_NO_THROW(check_tensors(vae, expected_vae_tensors(vc, true), nullptr, "vae"));
  EXPECT_NO_THROW(check_tensors(vae, expected_vae_tensors(vc, false), is_vae_encoder_key, "vae"));

  auto text = TensorStore::open_dir(model() / "text_encoder");
  auto ec = parse_text_encoder_config(model() / "text_encoder" / "config.json");
  std::string prefix = text_encoder_prefix(text);
  EXPECT_EQ(prefix, "model.language_model.");
  EXPECT_NO_THROW(check_tensors(text, expected_text_encoder_tensors(ec, prefix), is_ignored_text_encoder_key,
                                "text encoder"));
}

TEST_F(TinyA, EncoderKeysAreUnexpectedUnlessIgnored) {
  auto vae = TensorStore::open_dir(model() / "vae");
  auto vc = parse_vae_config(model() / "vae" / "config.json");
  try {
    check_tensors(vae, expected_vae_tensors(vc, false), nullptr, "vae");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "unexpected encoder.conv_in.weight [16, 3, 3, 3, 3] in diffusion_pytorch_model.safetensors");
  }
}

// Writes the expected tensors (patterned bytes) of a small text encoder to dir, with extra tensors.
void write_text_encoder(const fs::path& file, const TextEncoderConfig& c, const std::string& prefix,
                        const std::vector<TensorToWrite>& extra) {
  std::vector<TensorToWrite> tensors = extra;
  for (const auto& e : expected_text_encoder_tensors(c, prefix))
    tensors.push_back(test::patterned_tensor(e.key, DType::BF16, e.shape));
  write_safetensors(file, tensors);
}

TextEncoderConfig small_text_config() {
  return parse_text_encoder_config_text(
      R"({"hidden_size": 12, "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
          "num_key_value_heads": 1, "rms_norm_eps": 1e-6, "vocab_size": 10,
          "rope_scaling": {"mrope_section": [1, 1, 1]}})",
      "small");
}

TEST(WeightMap, BothTextEncoderLayoutsPass) {
  auto c = small_text_config();
  for (const char* prefix : {"model.", "model.language_model."}) {
    test::ScratchDir dir;
    std::string visual = std::string(prefix) == "model." ? "visual.patch_embed.proj.weight"
                                                         : "model.visual.patch_embed.proj.weight";
    write_text_encoder(dir / "model.safetensors", c, prefix,
                       {test::patterned_tensor("lm_head.weight", DType::BF16, {10, 12}),
                        test::patterned_tensor(visual, DType::BF16, {4, 3, 2, 2, 2})});
    auto store = TensorStore::open_dir(dir.path());
    EXPECT_EQ(text_encoder_prefix(store), prefix);
    EXPECT_NO_THROW(check_tensors(store, expected_text_encoder_tensors(c, prefix), is_ignored_text_encoder_key,
                                  "text encoder"));
  }
}

TEST(WeightMap, UnknownTextEncoderLayout) {
  test::ScratchDir dir;
  write_safetensors(dir / "model.safetensors", {test::patterned_tensor("transformer.wte.weight", DType::BF16, {2})});
  try {
    text_encoder_prefix(TensorStore::open_dir(dir.path()));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "hold neither model.language_model.embed_tokens.weight");
  }
}

TEST(WeightMap, CheckTensorsListsEveryProblem) {
  auto c = small_text_config();
  const std::string p = "model.";
  std::vector<TensorToWrite> tensors;
  for (const auto& e : expected_text_encoder_tensors(c, p)) {
    if (e.key == p + "norm.weight") continue;                                                    // missing
    if (e.key == p + "layers.0.mlp.up_proj.weight") {
      tensors.push_back(test::patterned_tensor(e.key, DType::BF16, {16, 9}));                     // mis-shaped
      continue;
    }
    if (e.key == p + "layers.0.input_layernorm.weight") {
      tensors.push_back(test::patterned_tensor(e.key, DType::I32, e.shape));                      // wrong dtype
      continue;
    }
    tensors.push_back(test::patterned_tensor(e.key, DType::BF16, e.shape));
  }
  tensors.push_back(test::patterned_tensor("model.layers.0.self_attn.o_proj.bias", DType::BF16, {12}));  // unexpected
  tensors.push_back(test::patterned_tensor("lm_head.weight", DType::BF16, {10, 12}));                     // ignored
  test::ScratchDir dir;
  write_safetensors(dir / "model.safetensors", tensors);
  auto store = TensorStore::open_dir(dir.path());
  try {
    check_tensors(store, expected_text_encoder_tensors(c, p), is_ignored_text_encoder_key, "text encoder");
    FAIL();
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_CONTAINS(msg, "text encoder weights in " + (dir / "model.safetensors").string() +
                             " do not match its config (4 problems):");
    EXPECT_CONTAINS(msg, "\n  missing model.norm.weight (expected [12])");
    EXPECT_CONTAINS(msg, "\n  model.layers.0.mlp.up_proj.weight in model.safetensors has shape [16, 9], expected [16, 12]");
    EXPECT_CONTAINS(msg, "\n  model.layers.0.input_layernorm.weight in model.safetensors has dtype I32, expected F32, F16 or BF16");
    EXPECT_CONTAINS(msg, "\n  unexpected model.layers.0.self_attn.o_proj.bias [12] in model.safetensors");
    EXPECT_EQ(msg.find("lm_head"), std::string::npos);
  }
}

TEST_F(TinyA, WrongConfigIsCaughtByCheckTensors) {
  auto transformer = TensorStore::open_dir(model() / "transformer");
  auto tc = parse_transformer_config(model() / "transformer" / "config.json");
  tc.num_layers = 3;
  try {
    check_tensors(transformer, expected_transformer_tensors(tc), nullptr, "transformer");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), "(32 problems)");
    EXPECT_CONTAINS(e.what(), "missing transformer_blocks.2.attn.to_q.weight (expected [128, 128])");
  }
}

}  // namespace
}  // namespace qi

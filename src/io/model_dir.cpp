#include "io/model_dir.h"

#include "core/error.h"
#include "io/json_fields.h"
#include "io/random_weights.h"
#include "io/text_file.h"
#include "io/weight_map.h"

namespace qi {

namespace {

namespace fs = std::filesystem;

struct ExpectedComponent {
  const char* name;
  bool (*class_ok)(const std::string& cls);
  const char* accepted;  // what class_ok accepts, for the error message
};

const ExpectedComponent kComponents[] = {
    {"transformer", [](const std::string& c) { return c == "QwenImageTransformer2DModel"; },
     "QwenImageTransformer2DModel"},
    {"vae", [](const std::string& c) { return c == "AutoencoderKLQwenImage"; },
     "AutoencoderKLQwenImage"},
    {"text_encoder", [](const std::string& c) { return c.rfind("Qwen2_5_VL", 0) == 0; },
     "a Qwen2_5_VL* class"},
    {"tokenizer", [](const std::string& c) { return c == "Qwen2Tokenizer" || c == "Qwen2TokenizerFast"; },
     "Qwen2Tokenizer or Qwen2TokenizerFast"},
    {"scheduler", [](const std::string& c) { return c == "FlowMatchEulerDiscreteScheduler"; }, "FlowMatchEulerDiscreteScheduler"},
};

constexpr const char* kPipelineClass = "QwenImagePipeline";

}  // namespace

ModelIndex parse_model_index(std::string_view json_text, const std::string& origin) {
  nlohmann::json j = parse_json(json_text, origin, "model index");
  JsonFields f(j, origin);
  ModelIndex index;
  index.pipeline_class = f.get_string("_class_name", "");
  if (index.pipeline_class != kPipelineClass)
    f.fail("_class_name", "is '" + index.pipeline_class + "', expected " + kPipelineClass);
  for (const auto& expected : kComponents) {
    if (!f.has(expected.name)) f.fail(expected.name, "is missing");
    std::vector<std::string> entry = f.get_string_list(expected.name);
    if (entry.size() != 2) f.fail(expected.name, "must be [library, class]");
    if (!expected.class_ok(entry[1]))
      f.fail(expected.name, "names class '" + entry[1] + "', expected " + expected.accepted);
    index.components[expected.name] = {entry[0], entry[1]};
  }
  return index;
}

ModelDir ModelDir::open(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw InputError("model directory " + root.string() + " does not exist");
  ModelDir dir;
  dir.root = root;
  dir.tokenizer = root / "tokenizer";
  fs::path index_path = root / "model_index.json";
  dir.index = parse_model_index(read_text_file(index_path, "model index"), index_path.string());
  for (const auto& expected : kComponents)
    if (!fs::is_directory(root / expected.name, ec))
      throw InputError("model directory " + root.string() + " has no " + expected.name + "/ directory");

  dir.transformer = parse_transformer_config(root / "transformer" / "config.json");
  dir.vae = parse_vae_config(root / "vae" / "config.json");
  dir.text_encoder = parse_text_encoder_config(root / "text_encoder" / "config.json");
  dir.scheduler = parse_scheduler_config(root / "scheduler" / "scheduler_config.json");

  const std::string where = "model directory " + root.string() + ": ";
  const auto& t = dir.transformer;
  // The transformer parser already holds in_channels == patch_size² · out_channels, so this also makes
  // in_channels == patch_size² · z_dim.
  if (t.out_channels != dir.vae.z_dim)
    throw InputError(where + "transformer out_channels " + std::to_string(t.out_channels) +
                     " differs from the VAE's z_dim " + std::to_string(dir.vae.z_dim));
  if (t.joint_attention_dim != dir.text_encoder.hidden_size)
    throw InputError(where + "transformer joint_attention_dim " + std::to_string(t.joint_attention_dim) +
                     " differs from the text encoder's hidden_size " + std::to_string(dir.text_encoder.hidden_size));
  return dir;
}

ModelDir ModelDir::with_random_weights(const fs::path& tokenizer_dir, uint64_t seed) {
  std::error_code ec;
  if (!fs::is_directory(tokenizer_dir, ec)) throw InputError("tokenizer directory " + tokenizer_dir.string() + " does not exist");
  ModelDir dir;
  dir.root = "<random weights>";
  dir.tokenizer = tokenizer_dir;
  dir.random_weights_seed = seed;
  // An empty VAE config takes AutoencoderKLQwenImage's defaults, which are the published values (with the
  // latent statistics); the other structs' defaults are the published values already.
  dir.vae = parse_vae_config_text("{}", "the published VAE config");
  return dir;
}

// Random components get distinct seeds so that no two share values.
enum RandomComponent : uint64_t { kRandomTransformer = 1, kRandomVae = 2, kRandomTextEncoder = 3 };

TensorStore ModelDir::transformer_weights() const {
  if (random_weights_seed)
    return random_weights_store("random transformer", expected_transformer_tensors(transformer),
                                *random_weights_seed * 4 + kRandomTransformer);
  return TensorStore::open_dir(root / "transformer");
}

TensorStore ModelDir::vae_weights() const {
  if (random_weights_seed)
    return random_weights_store("random vae", expected_vae_tensors(vae, false), *random_weights_seed * 4 + kRandomVae);
  return TensorStore::open_dir(root / "vae");
}

TensorStore ModelDir::text_encoder_weights() const {
  if (random_weights_seed)
    return random_weights_store("random text_encoder", expected_text_encoder_tensors(text_encoder, "model."),
                                *random_weights_seed * 4 + kRandomTextEncoder);
  return TensorStore::open_dir(root / "text_encoder");
}

}  // namespace qi

// qwen-image-vk inspect: what a model directory holds and whether its weights look loadable — configs,
// every tensor with shape/dtype/file, parameter counts, and health statistics that catch silent load
// failures (zero-filled or non-finite tensors).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "io/parallel_for.h"
#include "io/tensor_health.h"
#include "io/tensor_loading.h"
#include "io/weight_map.h"

namespace qi::cli {

namespace {

const char* kInspectHelp =
    "usage: qwen-image-vk inspect --model DIR [--component transformer|vae|text_encoder] [--no-stats]\n"
    "                             [--threads N]\n\n"
    "Prints the model's components and configs, then for each weight component every tensor (name, dtype,\n"
    "shape, file), its parameter count, and per-tensor health statistics (zeros, NaN/Inf, mean, std, max\n"
    "|x|; computed in parallel on N threads, default all cores). Tensors the pipeline never reads (lm_head,\n"
    "the vision tower) are listed but not scanned. Ends with a summary of suspicious tensors.\n\n"
    "Exit status: 0 when every inspected component matches its config and no tensor is all zero or holds\n"
    "NaN/Inf; 1 when a component is broken (missing, mis-shaped or unexpected tensors, unreadable files,\n"
    "unhealthy values).\n";

const char* kWeightComponents[] = {"transformer", "vae", "text_encoder"};

constexpr unsigned kMaxThreads = 1024;

std::string list_str(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string bools_str(const std::vector<bool>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += std::string(i ? ", " : "") + (v[i] ? "true" : "false");
  return s + "]";
}

// 20430401088 -> "20.43 B"
std::string count_str(double n) {
  char buf[32];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else if (n >= 1e3) std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

std::string bytes_str(double n) {
  char buf[32];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2f MB", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f kB", n / 1e3);
  return buf;
}

void print_configs(const ModelDir& m) {
  const auto& cls = m.index.components;
  const auto& t = m.transformer;
  std::printf("model %s (%s)\n", m.root.string().c_str(), m.index.pipeline_class.c_str());
  std::printf("  transformer   %s: %d layers, %d heads x %d (hidden %d, FFN %d), in %d / out %d channels, patch %d,\n"
              "                joint_attention_dim %d, axes_dims_rope [%d, %d, %d]\n",
              cls.at("transformer").second.c_str(), t.num_layers, t.num_attention_heads, t.attention_head_dim,
              t.hidden(), t.ffn_hidden(), t.in_channels, t.out_channels, t.patch_size, t.joint_attention_dim,
              t.axes_dims_rope[0], t.axes_dims_rope[1], t.axes_dims_rope[2]);
  const auto& v = m.vae;
  std::printf("  vae           %s: base_dim %d, dim_mult %s, %d res blocks, z_dim %d, temperal_downsample %s,\n"
              "                %dx spatial compression\n",
              cls.at("vae").second.c_str(), v.base_dim, list_str(v.dim_mult).c_str(), v.num_res_blocks, v.z_dim,
              bools_str(v.temperal_downsample).c_str(), v.spatial_compression());
  const auto& e = m.text_encoder;
  std::printf("  text_encoder  %s: %d layers, hidden %d, %d heads / %d kv heads x %d, intermediate %d,\n"
              "                vocab %d, rms_norm_eps %g, rope_theta %g, mrope_section %s\n",
              cls.at("text_encoder").second.c_str(), e.num_hidden_layers, e.hidden_size, e.num_attention_heads,
              e.num_key_value_heads, e.head_dim(), e.intermediate_size, e.vocab_size, double(e.rms_norm_eps),
              double(e.rope_theta), list_str(e.mrope_section).c_str());
  const auto& s = m.scheduler;
  std::printf("  scheduler     %s: %d train steps, shift %g, dynamic shifting %s (%s, base %g / max %g over image\n"
              "                sequence %d..%d), shift_terminal %g\n",
              cls.at("scheduler").second.c_str(), s.num_train_timesteps, double(s.shift),
              s.use_dynamic_shifting ? "on" : "off", s.time_shift_type.c_str(), double(s.base_shift),
              double(s.max_shift), s.base_image_seq_len, s.max_image_seq_len, double(s.shift_terminal));
  std::printf("  tokenizer     %s\n", cls.at("tokenizer").second.c_str());
}

struct ComponentPlan {
  std::vector<ExpectedTensor> expected;
  IgnorePredicate ignored = nullptr;
};

ComponentPlan plan_for(const std::string& component, const ModelDir& m, const TensorStore& store) {
  if (component == "transformer") return {expected_transformer_tensors(m.transformer), nullptr};
  if (component == "vae") {
    // Check the encoder too when the checkpoint ships it; a decoder-only checkpoint is fine for generation.
    bool has_encoder = store.has("encoder.conv_in.weight");
    return {expected_vae_tensors(m.vae, has_encoder), has_encoder ? nullptr : is_vae_encoder_key};
  }
  return {expected_text_encoder_tensors(m.text_encoder, text_encoder_prefix(store)), is_ignored_text_encoder_key};
}

struct Options {
  bool stats = true;
  unsigned threads = 0;
};

// Prints one component's tensors, statistics and weight check; appends what looks wrong to `suspicious` and
// returns whether the component is broken.
bool inspect_component(const std::string& component, const ModelDir& m, const Options& opt,
                       std::vector<std::string>& suspicious) {
  std::printf("\n== %s\n", component.c_str());
  TensorStore store;
  ComponentPlan plan;
  try {
    store = TensorStore::open_dir(m.component(component.c_str()));
    plan = plan_for(component, m, store);
  } catch (const InputError& e) {
    std::printf("BROKEN: %s\n", e.what());
    suspicious.push_back(component + ": cannot be opened");
    return true;
  }

  const std::vector<std::string> names = store.names();
  std::vector<const TensorView*> scanned;
  std::vector<size_t> health_index(names.size(), SIZE_MAX);  // SIZE_MAX: not scanned (unused by the pipeline)
  size_t name_width = 0;
  int64_t used_params = 0, all_params = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const TensorView& v = store.get(names[i]);
    name_width = std::max(name_width, names[i].size());
    all_params += v.numel();
    if (plan.ignored && plan.ignored(names[i])) continue;
    health_index[i] = scanned.size();
    scanned.push_back(&v);
    used_params += v.numel();
  }
  std::printf("%s: %zu files, %zu tensors, %s parameters (%s used by the pipeline), %s\n",
              store.location().string().c_str(), store.files().size(), store.size(), count_str(double(all_params)).c_str(),
              count_str(double(used_params)).c_str(), bytes_str(double(store.total_bytes())).c_str());

  std::vector<TensorHealth> health;
  if (opt.stats) {
    LoadStats read = prefetch_tensors(scanned, opt.threads);
    health = compute_tensor_health(scanned, opt.threads);
    std::printf("read %s in %.2f s (%.2f GB/s) and scanned it on %u threads\n", bytes_str(double(read.bytes)).c_str(),
                read.seconds, read.gigabytes_per_second(), opt.threads ? opt.threads : default_thread_count());
  }

  bool broken = false;
  for (size_t i = 0; i < names.size(); ++i) {
    const TensorView& v = store.get(names[i]);
    const std::string layout = std::string(dtype_name(v.dtype)) + shape_str(v.shape);
    std::printf("  %-*s %-24s %s", int(name_width), names[i].c_str(), layout.c_str(), v.file.filename().string().c_str());
    if (health_index[i] == SIZE_MAX) {
      std::printf("  (unused)\n");
      continue;
    }
    if (!opt.stats) {
      std::printf("\n");
      continue;
    }
    const TensorHealth& h = health[health_index[i]];
    std::printf("  mean %+.4e std %.4e max|x| %.4e zeros %lld nan %lld inf %lld\n", h.mean, h.stddev, h.max_abs,
                (long long)h.zeros, (long long)h.nans, (long long)h.infs);
    if (std::string problem = h.problem(); !problem.empty()) {
      suspicious.push_back(component + ": " + names[i] + " is " + problem);
      broken = true;
    }
  }

  try {
    check_tensors(store, plan.expected, plan.ignored, component);
    std::printf("all %zu expected tensors present with the shapes the config implies\n", plan.expected.size());
  } catch (const InputError& e) {
    std::printf("BROKEN: %s\n", e.what());
    suspicious.push_back(component + ": tensors do not match the config");
    broken = true;
  }
  return broken;
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& argv) {
  Args args(argv, {"--model", "--component", "--threads"}, {"--no-stats", "--help"});
  if (args.has("--help")) {
    std::printf("%s", kInspectHelp);
    return 0;
  }
  Options opt;
  opt.stats = !args.has("--no-stats");
  opt.threads = unsigned(args.get_int("--threads", 1, kMaxThreads).value_or(0));
  std::vector<std::string> components(std::begin(kWeightComponents), std::end(kWeightComponents));
  if (auto only = args.get("--component")) {
    if (std::find(components.begin(), components.end(), *only) == components.end())
      throw UsageError("--component must be transformer, vae or text_encoder, got '" + *only + "'");
    components = {*only};
  }

  ModelDir model = ModelDir::open(args.require("--model"));
  print_configs(model);
  std::vector<std::string> suspicious, broken;
  for (const auto& c : components)
    if (inspect_component(c, model, opt, suspicious)) broken.push_back(c);

  std::printf("\n== summary\n");
  if (suspicious.empty()) std::printf("no suspicious tensors%s\n", opt.stats ? "" : " (values not scanned: --no-stats)");
  for (const auto& s : suspicious) std::printf("  %s\n", s.c_str());
  if (broken.empty()) {
    std::printf("healthy\n");
    return 0;
  }
  std::string names;
  for (const auto& b : broken) names += (names.empty() ? "" : ", ") + b;
  std::printf("BROKEN: %s\n", names.c_str());
  return 1;
}

}  // namespace qi::cli

// qwen-image-vk inspect: what a model directory holds and whether its weights look loadable — configs,
// every tensor with shape/dtype/file, parameter counts, and health statistics that catch silent load
// failures (zero-filled or non-finite tensors).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "core/error.h"
#include "io/component_inspection.h"
#include "core/parallel_for.h"

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

// Prints one component's tensors, statistics and weight check; appends what is wrong to `summary`.
void print_component(const ComponentInspection& r, std::vector<std::string>& summary) {
  std::printf("\n== %s\n", r.component.c_str());
  if (!r.open_error.empty()) {
    std::printf("BROKEN: %s\n", r.open_error.c_str());
    summary.push_back(r.component + ": cannot be opened");
    return;
  }
  std::printf("%s: %zu files, %zu tensors, %s parameters (%s used by the pipeline), %s\n",
              r.store.location().string().c_str(), r.store.files().size(), r.store.size(),
              count_str(double(r.all_parameters)).c_str(), count_str(double(r.used_parameters)).c_str(),
              bytes_str(double(r.store.total_bytes())).c_str());
  if (r.read)
    std::printf("read %s in %.2f s (%.2f GB/s)\n", bytes_str(double(r.read->bytes)).c_str(), r.read->seconds,
                r.read->gigabytes_per_second());

  size_t name_width = 0;
  for (const auto& t : r.tensors) name_width = std::max(name_width, t.view->name.size());
  for (const auto& t : r.tensors) {
    const TensorView& v = *t.view;
    const std::string layout = std::string(dtype_name(v.dtype)) + shape_str(v.shape);
    std::printf("  %-*s %-24s %s", int(name_width), v.name.c_str(), layout.c_str(), v.file.filename().string().c_str());
    if (!t.used) std::printf("  (unused)");
    if (const auto& h = t.health)
      std::printf("  mean %+.4e std %.4e max|x| %.4e zeros %lld nan %lld inf %lld", h->mean, h->stddev, h->max_abs,
                  (long long)h->zeros, (long long)h->nans, (long long)h->infs);
    std::printf("\n");
  }

  if (r.check_error.empty()) {
    std::printf("all %zu expected tensors present with the shapes the config implies\n", r.expected_tensors);
  } else {
    std::printf("BROKEN: %s\n", r.check_error.c_str());
    summary.push_back(r.component + ": tensors do not match the config");
  }
  for (const auto& u : r.unhealthy) summary.push_back(r.component + ": " + u);
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& argv) {
  Args args(argv, {"--model", "--component", "--threads"}, {"--no-stats", "--help"});
  if (args.has("--help")) {
    std::printf("%s", kInspectHelp);
    return 0;
  }
  const bool stats = !args.has("--no-stats");
  const unsigned threads = unsigned(args.get_int("--threads", 1, kMaxThreads).value_or(0));
  std::vector<std::string> components(std::begin(kWeightComponents), std::end(kWeightComponents));
  if (auto only = args.get("--component")) {
    if (std::find(components.begin(), components.end(), *only) == components.end())
      throw UsageError("--component must be transformer, vae or text_encoder, got '" + *only + "'");
    components = {*only};
  }

  ModelDir model = ModelDir::open(args.require("--model"));
  print_configs(model);
  if (stats)
    std::printf("statistics on %u threads\n", threads ? threads : default_thread_count());
  std::vector<std::string> suspicious, broken;
  for (const auto& c : components) {
    ComponentInspection r = inspect_component(model, c, stats, threads);
    print_component(r, suspicious);
    if (r.broken()) broken.push_back(c);
  }

  std::printf("\n== summary\n");
  if (suspicious.empty()) std::printf("no suspicious tensors%s\n", stats ? "" : " (values not scanned: --no-stats)");
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

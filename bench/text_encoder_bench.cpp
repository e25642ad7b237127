// `qwen-image-vk bench text-encoder --random-weights SEED --tokenizer DIR`: the full-size text encoder
// (Qwen2.5-VL's 28-layer language model, random weights of the published shapes) timed per prompt encoding at
// 64 and 256 tokens, with peak GPU memory and the per-op time split from device timestamps. Prints the ratios
// to diffusers' text_encoder_forward_ms in anchors.json (transformers on an H200).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/bench_commands.h"
#include "bench/bench_support.h"
#include "cli/args.h"
#include "cli/backend_choice.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "model/text_encoder.h"

namespace qi::bench {

namespace {

constexpr int kDefaultRepeats = 5;

}  // namespace

int bench_text_encoder(const std::vector<std::string>& argv) {
  cli::Args args(argv, full_size_bench_flags({"--lengths", "--variants"}), {"--help"});
  if (args.has("--help") || !args.get("--random-weights") || !args.get("--tokenizer")) {
    std::printf(
        "usage: qwen-image-vk bench text-encoder --random-weights SEED --tokenizer DIR [--lengths 64,256]\n"
        "                                        [--repeats N] [--backend vulkan|cpu] [--device N]\n"
        "                                        [--variants OP=VARIANT[,...]] [--anchors FILE] [--json FILE]\n\n"
        "Times full-size text-encoder forwards (random weights, random token ids) per prompt length: median of\n"
        "N forwards after a warm-up (repeated for 5 s on a GPU, so that its clocks are up), peak backend memory,\n"
        "and the per-op device-time split of the last one.\n"
        "Ratios are to diffusers' text_encoder_forward_ms in anchors.json (an H200). --variants runs the named\n"
        "kernel variants (as bench kernels lists them) instead of the automatic choice.\n");
    return args.has("--help") ? 0 : 2;
  }
  const auto [seed, repeats, anchors] = full_size_bench_args(args, kDefaultRepeats);
  const std::vector<int64_t> lengths = parse_sizes("--lengths", args.get_or("--lengths", "64,256"), 1);

  auto backend = cli::make_backend(args, true);
  Backend& b = *backend;
  select_variants(b, args.get_or("--variants", ""));
  const ModelDir model = ModelDir::with_random_weights(*args.get("--tokenizer"), seed);
  const TensorStore store = model.text_encoder_weights();  // the encoder reads it while it lives
  const TextEncoder encoder(model.text_encoder, store, b);
  b.flush();
  const double weights_gib = double(b.memory_stats().in_use) / kGiB;
  const std::string device = cli::backend_device_name(b, args);
  std::printf("device: %s (%s)\ntext encoder: %d layers, weights on device %.2f GiB\n", device.c_str(),
              b.name().c_str(), model.text_encoder.num_hidden_layers, weights_gib);

  std::mt19937 rng{static_cast<uint32_t>(seed)};
  std::uniform_int_distribution<int32_t> token(0, model.text_encoder.vocab_size - 1);
  nlohmann::json results = nlohmann::json::array();
  std::printf("%-8s %10s %10s %9s %10s\n", "tokens", "ms/fwd", "diffusers", "ratio", "peak GiB");
  for (int64_t length : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(length));
    for (int32_t& id : ids) id = token(rng);
    const TimedRuns runs = time_runs(b, repeats, clock_warmup_seconds(b, args), [&] { Tensor states = encoder.encode(ids); });
    const double ms = runs.median_ms, peak = double(b.memory_stats().peak) / kGiB;
    const std::string key = "len" + std::to_string(length);
    const double ref = anchor_ms(anchors, "text_encoder_forward_ms", key);
    char ratio[32] = "";
    if (ref > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", ms / ref);
    std::printf("%-8lld %10.1f %10.1f %9s %10.2f\n", static_cast<long long>(length), ms, ref, ratio, peak);
    const nlohmann::json ops = print_op_split(runs.split);
    results.push_back({{"tokens", length}, {"ms_per_forward", ms}, {"peak_gib", peak}, {"diffusers_h200_ms", ref},
                       {"ratio_to_diffusers", ref > 0 ? ms / ref : 0.0}, {"ops", ops}});
  }
  print_diffusers_source(device, "transformers bf16");
  const nlohmann::json report{{"device", device}, {"backend", b.name()}, {"repeats", repeats},
                             {"weights_gib", weights_gib}, {"diffusers_device", "NVIDIA H200 (anchors.json)"},
                             {"results", results}};
  write_json_report(args, report);
  return 0;
}

}  // namespace qi::bench

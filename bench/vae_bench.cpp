// `qwen-image-vk bench vae --random-weights SEED --tokenizer DIR`: the full-size VAE decoder (random weights of
// the published shapes) timed per decode at 1024² and 1328², whole or tiled, with peak GPU memory and the
// per-op time split from device timestamps. Prints the ratios to diffusers' vae_decode_ms in anchors.json
// (measured on an H200).
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/bench_support.h"
#include "bench/bench_commands.h"
#include "cli/args.h"
#include "cli/backend_choice.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "model/vae_decoder.h"
#include "model/vae_tiling.h"

namespace qi::bench {

namespace {

constexpr int kDefaultRepeats = 3;

}  // namespace

int bench_vae(const std::vector<std::string>& argv) {
  cli::Args args(argv, full_size_bench_flags({"--sizes", "--variants"}), {"--help", "--vae-tiling"});
  if (args.has("--help") || !args.get("--random-weights") || !args.get("--tokenizer")) {
    std::printf(
        "usage: qwen-image-vk bench vae --random-weights SEED --tokenizer DIR [--sizes 1024,1328] [--vae-tiling]\n"
        "                               [--repeats N] [--backend vulkan|cpu] [--device N] [--anchors FILE]\n"
        "                               [--variants OP=VARIANT[,...]] [--json FILE]\n\n"
        "Times full-size VAE decodes (random weights, one frame of random latents) per image size: median of N\n"
        "decodes after a warm-up (repeated for 5 s on a GPU, so that its clocks are up), peak backend memory,\n"
        "and the per-op device-time split of the last decode.\n"
        "--vae-tiling decodes in diffusers' tiles (generate --vae-tiling). Ratios are to diffusers'\n"
        "vae_decode_ms in anchors.json (an H200, whole decodes). --variants runs the named kernel variants (as\n"
        "bench kernels lists them) instead of the automatic choice.\n");
    return args.has("--help") ? 0 : 2;
  }
  const auto [seed, repeats, anchors] = full_size_bench_args(args, kDefaultRepeats);
  const ModelDir model = ModelDir::with_random_weights(*args.get("--tokenizer"), seed);
  const int64_t pixels_per_latent = model.vae.spatial_compression();
  const std::vector<int64_t> sizes = parse_sizes("--sizes", args.get_or("--sizes", "1024,1328"), pixels_per_latent);
  const bool tiled = args.has("--vae-tiling");

  auto backend = cli::make_backend(args, true);
  Backend& b = *backend;
  select_variants(b, args.get_or("--variants", ""));
  const VaeDecoder vae(model.vae, model.vae_weights(), b);
  b.flush();
  const double weights_gib = double(b.memory_stats().in_use) / kGiB;
  const std::string device = cli::backend_device_name(b, args);
  std::printf("device: %s (%s)\nvae decoder: weights on device %.2f GiB, %s decodes\n", device.c_str(),
              b.name().c_str(), weights_gib, tiled ? "tiled" : "whole");

  std::mt19937 rng{static_cast<uint32_t>(seed)};
  nlohmann::json results = nlohmann::json::array();
  std::printf("%-8s %10s %10s %9s %10s\n", "size", "ms/decode", "diffusers", "ratio", "peak GiB");
  for (int64_t size : sizes) {
    const int64_t h = size / pixels_per_latent, w = size / pixels_per_latent;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> values(size_t(model.vae.z_dim * h * w));
    for (float& x : values) x = normal(rng);
    const Tensor latents = b.from_host_f32(values, {model.vae.z_dim, 1, h, w});
    const TimedRuns runs = time_runs(b, repeats, clock_warmup_seconds(b, args), [&] {
      Tensor image = tiled ? decode_tiled(vae, b, latents, VaeTiling{}) : vae.decode(latents);
    });
    const double ms = runs.median_ms, peak = double(b.memory_stats().peak) / kGiB;
    const std::string key = std::to_string(size) + "x" + std::to_string(size);
    const double ref = anchor_ms(anchors, "vae_decode_ms", key);
    char ratio[32] = "";
    if (ref > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", ms / ref);
    std::printf("%-8s %10.1f %10.1f %9s %10.2f\n", (std::to_string(size) + "²").c_str(), ms, ref, ratio, peak);
    const nlohmann::json ops = print_op_split(runs.split);
    results.push_back({{"size", size}, {"ms_per_decode", ms}, {"peak_gib", peak}, {"diffusers_h200_ms", ref},
                       {"ratio_to_diffusers", ref > 0 ? ms / ref : 0.0}, {"ops", ops}});
  }
  print_diffusers_source(device, "PyTorch eager bf16");
  const nlohmann::json report{{"device", device}, {"backend", b.name()}, {"repeats", repeats}, {"tiled", tiled},
                             {"weights_gib", weights_gib}, {"diffusers_device", "NVIDIA H200 (anchors.json)"},
                             {"results", results}};
  write_json_report(args, report);
  return 0;
}

}  // namespace qi::bench

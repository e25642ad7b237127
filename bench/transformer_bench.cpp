// `qwen-image-vk bench transformer --random-weights SEED --tokenizer DIR`: the full-size MMDiT (60 blocks,
// random bf16-sized weights served from memory) timed per forward at 512², 1024² and 1328² (batch 1), and per
// CFG step (cond and uncond as one batch of two, and as two forwards), with peak GPU memory and the per-op
// time split from device timestamps. Prints the ratios to diffusers' transformer_forward_ms in anchors.json
// (measured on an H200, batch 1 and batch 2).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "bench/bench_commands.h"
#include "bench/bench_support.h"
#include "cli/args.h"
#include "cli/backend_choice.h"
#include "cli/memory_estimate.h"
#include "core/error.h"
#include "core/log.h"
#include "io/model_dir.h"
#include "model/mmdit.h"

namespace qi::bench {

namespace {

constexpr int64_t kTextTokens = 64;        // prompt length of the anchors' runs ("txt64")
constexpr int64_t kPixelsPerToken = 16;    // VAE factor 8 × patch size 2
constexpr int kDefaultRepeats = 3;
constexpr float kTimestep = 0.5f;

// Largest accepted --vram-budget (as generate).
constexpr double kMaxVramBudgetGiB = 65536;

// The blocks that stream under --vram-budget: planned as generate plans them (cli/memory_estimate.h), for
// the largest size and this benchmark's prompt length. Without a budget every block is resident.
BlockOffload plan_streaming(const ModelDir& model, std::optional<double> budget_gib, int64_t size) {
  if (!budget_gib) return {};
  const cli::EstimateInputs in{int(size), int(size), int(kTextTokens), false};
  const uint64_t ceiling = uint64_t(*budget_gib * double(1ull << 30));
  const cli::MemoryEstimate e = cli::plan_offload(cli::estimate_generation_memory(model, in), ceiling);
  log_info("--vram-budget " + cli::format_gib(ceiling) + " at " + std::to_string(size) + "²: " +
           (e.offload.transformer.streams(model.transformer.num_layers) ? e.describe_offload() : "every block fits") +
           "; estimated transformer memory " + cli::format_gib(e.transformer_bytes) + " before allocator overhead");
  return e.offload.transformer;
}

Tensor random_tensor(Backend& b, const Shape& shape, std::mt19937& rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = n(rng);
  return b.from_host_f32(v, shape);
}

}  // namespace

int bench_transformer(const std::vector<std::string>& argv) {
  cli::Args args(argv, full_size_bench_flags({"--sizes", "--vram-budget"}), {"--help"});
  if (args.has("--help") || !args.get("--random-weights") || !args.get("--tokenizer")) {
    std::printf(
        "usage: qwen-image-vk bench transformer --random-weights SEED --tokenizer DIR [--sizes 512,1024,1328]\n"
        "                                       [--repeats N] [--backend vulkan|cpu] [--device N] [--anchors FILE]\n"
        "                                       [--vram-budget GIB] [--json FILE]\n\n"
        "Times full-size transformer forwards (random weights, %lld text tokens, batch 1) per image size: median\n"
        "of N forwards after a warm-up (repeated for 5 s on a GPU, so that its clocks are up), peak backend\n"
        "memory, and the per-op device-time split; then the median\n"
        "of N guided steps as generate runs them (cond and uncond as one batch of two) and, for comparison, as\n"
        "two forwards one after the other (sharing the modulation vectors; generate --cfg-sequential).\n"
        "Ratios are to diffusers' transformer_forward_ms in anchors.json (an H200; batch 1 and batch 2).\n"
        "--vram-budget GIB streams the blocks that do not fit GIB (planned for the largest size, as generate\n"
        "does) from host memory; the op split then shows the copies as copy_into.\n",
        static_cast<long long>(kTextTokens));
    return args.has("--help") ? 0 : 2;
  }
  const auto [seed, repeats, anchors] = full_size_bench_args(args, kDefaultRepeats);
  const std::optional<double> budget_gib = args.get_positive("--vram-budget", kMaxVramBudgetGiB);
  const std::vector<int64_t> sizes = parse_sizes("--sizes", args.get_or("--sizes", "512,1024,1328"), kPixelsPerToken);

  auto backend = cli::make_backend(args, true);
  Backend& b = *backend;
  const ModelDir model = ModelDir::with_random_weights(*args.get("--tokenizer"), seed);
  const BlockOffload offload = plan_streaming(model, budget_gib, *std::max_element(sizes.begin(), sizes.end()));
  const auto load_start = std::chrono::steady_clock::now();
  std::unique_ptr<Mmdit> owned;
  {
    // The random weights (41 GB) are needed only while uploading.
    const TensorStore store = model.transformer_weights();
    owned = std::make_unique<Mmdit>(model.transformer, store, b, offload);
  }
  const Mmdit& mmdit = *owned;
  b.flush();
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const double weights_gib = double(b.memory_stats().in_use) / kGiB;
  const std::string device = cli::backend_device_name(b, args);
  std::printf("device: %s (%s)\ntransformer: %d blocks, weights on device %.2f GiB (built in %.1f s)\n",
              device.c_str(), b.name().c_str(),
              model.transformer.num_layers, weights_gib, load_s);
  const WeightStream* stream = mmdit.weight_stream();
  const int streamed = stream ? stream->groups() : 0;
  // Bytes a forward copies from host memory: every streamed block once, unless the ring holds them all.
  const double streamed_gb = stream && streamed > stream->slots() ? double(stream->group_bytes()) * streamed / 1e9 : 0.0;
  if (stream) std::printf("%s\n", mmdit.offload_summary().c_str());

  std::mt19937 rng{static_cast<uint32_t>(seed)};
  nlohmann::json results = nlohmann::json::array();
  std::printf("%-8s %7s %10s %9s %11s %9s %10s %9s %9s %9s\n", "size", "tokens", "ms/fwd", "ratio", "CFG step",
              "ratio", "CFG seq.", "peak GiB", "CFG GiB", "ms/fwd");
  std::printf("%-8s %7s %10s %9s %11s %9s %10s %9s %9s %9s\n", "", "", "batch 1", "diffusers", "batch 2 ms",
              "diffusers", "2 fwd ms", "batch 1", "batch 2", "diffusers");
  auto anchor = [&](int64_t size, int batch) {
    const std::string key = std::to_string(size) + "x" + std::to_string(size) + ".txt64.batch" + std::to_string(batch);
    return anchor_ms(anchors, "transformer_forward_ms", key);
  };
  for (int64_t size : sizes) {
    const int64_t hp = size / kPixelsPerToken, wp = size / kPixelsPerToken;
    Tensor prompt = random_tensor(b, {kTextTokens, model.transformer.joint_attention_dim}, rng);
    Tensor latents = random_tensor(b, {hp * wp, model.transformer.in_channels}, rng);
    const Mmdit::Context ctx = mmdit.prepare(prompt, hp, wp);
    const TimedRuns runs = time_runs(b, repeats, clock_warmup_seconds(b, args), [&] { Tensor v = mmdit.forward(latents, kTimestep, ctx); });
    const double ms = runs.median_ms, peak = double(b.memory_stats().peak) / kGiB;
    // Guided steps, both prompts of kTextTokens tokens as in diffusers' batch-2 figure: one batch of two (after
    // one warm-up), then two forwards sharing the modulation vectors (Mmdit::Modulation).
    const Mmdit::Context* pair[] = {&ctx, &ctx};
    mmdit.forward_batch(latents, kTimestep, pair);
    b.flush();
    b.reset_peak_memory();
    std::vector<double> batch_wall, sequential_wall;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<Tensor> v = mmdit.forward_batch(latents, kTimestep, pair);
      b.flush();
      batch_wall.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double batch_peak = double(b.memory_stats().peak) / kGiB;
    for (int r = 0; r < repeats; ++r) {
      Mmdit::Modulation modulation;
      const auto t0 = std::chrono::steady_clock::now();
      Tensor cond = mmdit.forward(latents, kTimestep, ctx, {}, "", &modulation);
      Tensor uncond = mmdit.forward(latents, kTimestep, ctx, {}, "", &modulation);
      b.flush();
      sequential_wall.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double step_ms = median(batch_wall), sequential_ms = median(sequential_wall);
    const double ref = anchor(size, 1), ref2 = anchor(size, 2);
    char ratio[32] = "", ratio2[32] = "";
    if (ref > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", ms / ref);
    if (ref2 > 0) std::snprintf(ratio2, sizeof ratio2, "%.2fx", step_ms / ref2);
    std::printf("%-8s %7lld %10.1f %9s %11.1f %9s %10.1f %9.2f %9.2f %9.1f\n", (std::to_string(size) + "²").c_str(),
                static_cast<long long>(hp * wp + kTextTokens), ms, ratio, step_ms, ratio2, sequential_ms, peak,
                batch_peak, ref);
    const nlohmann::json ops = print_op_split(runs.split);
    results.push_back({{"size", size}, {"tokens", hp * wp + kTextTokens}, {"ms_per_forward", ms}, {"cfg_step_ms", step_ms},
                       {"cfg_step_sequential_ms", sequential_ms}, {"peak_gib", peak}, {"cfg_step_peak_gib", batch_peak},
                       {"diffusers_h200_ms", ref}, {"ratio_to_diffusers", ref > 0 ? ms / ref : 0.0},
                       {"diffusers_h200_batch2_ms", ref2}, {"cfg_ratio_to_diffusers", ref2 > 0 ? step_ms / ref2 : 0.0},
                       {"streamed_blocks", streamed}, {"streamed_gb_per_forward", streamed_gb}, {"ops", ops}});
  }
  print_diffusers_source(device, "PyTorch eager bf16 + SDPA");
  const nlohmann::json report{{"device", device}, {"backend", b.name()}, {"repeats", repeats},
                             {"weights_gib", weights_gib}, {"vram_budget_gib", budget_gib.value_or(0.0)},
                             {"resident_blocks", offload.resident_blocks}, {"ring_slots", offload.slots},
                             {"diffusers_device", "NVIDIA H200 (anchors.json)"}, {"results", results}};
  write_json_report(args, report);
  return 0;
}

}  // namespace qi::bench

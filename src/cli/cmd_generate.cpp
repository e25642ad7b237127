// qwen-image-vk generate: text-to-image with Qwen-Image.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <random>

#include "cli/args.h"
#include "cli/backend_choice.h"
#include "cli/memory_estimate.h"
#include "cli/progress.h"
#include "core/error.h"
#include "core/log.h"
#include "io/model_dir.h"
#include "io/png_writer.h"
#include "io/safetensors.h"
#include "pipeline/generation.h"
#include "pipeline/noise_file.h"
#include "pipeline/scheduler.h"
#include "text/utf8.h"

namespace qi::cli {

namespace {

constexpr const char* kGenerateHelp =
    "usage: qwen-image-vk generate --model DIR --prompt TEXT [flags]\n\n"
    "  --model DIR                 a diffusers Qwen-Image directory (model_index.json, transformer/, ...)\n"
    "  --random-weights SEED       instead of --model: the full-size architecture with random weights made in\n"
    "                              memory (needs --tokenizer DIR); for benchmarks and smoke tests\n"
    "  --prompt TEXT               what to draw (may be empty)\n"
    "  --negative-prompt TEXT      negative prompt (default \" \", one space, as in Qwen's examples)\n"
    "  --cfg G                     true-CFG scale (default 4.0); 1 turns CFG off (one transformer pass a step)\n"
    "  --width W, --height H       image size (default 1328x1328). Sizes are floored to multiples of 16\n"
    "                              (VAE factor 8 x patch 2) with a warning, as diffusers does\n"
    "  --steps N                   denoising steps (default 50)\n"
    "  --cfg-sequential            run a guided step's two transformer passes one after the other instead of\n"
    "                              as one batch of two (less activation memory, slower)\n"
    "  --seed S                    noise seed (default: random). Draws exactly what\n"
    "                              torch.randn(..., generator=torch.Generator(\"cpu\").manual_seed(S)) draws in\n"
    "                              float32, so seeds match diffusers/ComfyUI runs with an fp32 CPU generator\n"
    "  --noise FILE                initial noise from a safetensors file with one F32 tensor [16, H/8, W/8]\n"
    "                              or [1, 16, 1, H/8, W/8] (instead of --seed)\n"
    "  --max-sequence-length N     prompt tokens kept (default 512, at most 1024; longer prompts are truncated)\n"
    "  --output PATH               PNG to write (default output.png); written atomically\n"
    "  --batch-count N             N images with consecutive seeds, written as PATH-stem_000.png, ...\n"
    "  --backend vulkan|cpu|auto   compute backend (default vulkan; auto falls back to cpu without a GPU)\n"
    "  --device N|NAME             Vulkan device index or name substring (see `qwen-image-vk devices`)\n"
    "  --threads N                 CPU backend threads (default: all)\n"
    "  --vram-budget GIB           device memory to plan for, in GiB (e.g. 20 on a 24 GB GPU): the transformer\n"
    "                              blocks (and text-encoder layers) that do not fit stay in host memory and are\n"
    "                              copied to the device during each forward pass: slower, see docs/performance.md.\n"
    "                              Default: stream only when the model does not fit the GPU's memory\n"
    "  --vae-tiling                decode the VAE in 256-pixel tiles every 192 pixels, blended over the overlap\n"
    "                              (diffusers' vae.enable_tiling()): its memory then follows the tile, not the\n"
    "                              image; the image differs slightly at tile seams. Default: only when the\n"
    "                              whole-image decode would not fit the device (or --vram-budget)\n"
    "  --dump DIR                  write every intermediate tensor (names as in the fixture reference) to\n"
    "                              DIR/intermediates.safetensors\n"
    "  --quiet                     no progress output\n";

// Largest accepted side: 8× the model's usual 1328; larger sizes need more memory than any GPU has.
constexpr int64_t kMaxSide = 16384;
constexpr int64_t kMaxSteps = 10000;
// Image pixels per latent along each side: the VAE's spatial factor.
constexpr int kVaePixelsPerLatent = 8;
// Image pixels per transformer token along each side: VAE factor 8 × patch 2.
constexpr int kPixelsPerToken = kVaePixelsPerLatent * 2;
constexpr int64_t kMaxBatchCount = 100000;

// Exit codes of an interrupted run: 128 + the signal number, as a shell reports a process killed by it
// (130 for SIGINT, 143 for SIGTERM), but reached through a clean exit: the denoising loop stops at the end
// of the current step, nothing is written and every temporary file is gone.
constexpr int kExitSignalBase = 128;

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signal{0};
// The first SIGINT/SIGTERM asks the loop to stop after the current step; the handler then goes back to the
// default, so a second one ends the process at once (a step of a large image can take minutes). Either
// way no image is written: the PNG is only written, atomically, after decoding.
extern "C" void on_signal(int sig) {
  g_signal = sig;
  g_cancel = true;
  std::signal(sig, SIG_DFL);
}

// Refuses prompt text the tokenizer would reject, before anything is loaded. (A NUL byte cannot reach us
// through argv: C strings end at the first NUL. The tokenizer itself treats NUL as an ordinary character.)
void require_utf8_flag(const std::string& value, const char* flag) {
  if (auto problem = text::find_utf8_problem(value))
    throw UsageError(std::string(flag) + " is not valid UTF-8: " + problem->reason + " at byte " +
                     std::to_string(problem->offset));
}

// Largest accepted --vram-budget: far beyond any device, small enough to catch a value given in bytes.
constexpr double kMaxVramBudgetGiB = 65536;

int floor_size(int64_t v, const char* name) {
  int f = floor_to_patch_multiple(int(v));
  if (f <= 0) throw UsageError(std::string(name) + " must be at least 16 (got " + std::to_string(v) + ")");
  if (f != v) log_warn(std::string(name) + " " + std::to_string(v) + " is not a multiple of 16; using " + std::to_string(f));
  return f;
}

std::filesystem::path numbered(const std::filesystem::path& p, int64_t k) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "_%03lld", (long long)k);
  return p.parent_path() / (p.stem().string() + suffix + p.extension().string());
}

// Collects intermediates for --dump as host copies.
struct DumpSink {
  std::vector<TensorToWrite> tensors;
  Backend* backend = nullptr;
  void operator()(const std::string& name, const Tensor& t) {
    TensorToWrite w{name, t.dtype(), t.shape(), std::vector<uint8_t>(t.bytes())};
    backend->to_host(t, w.data.data());
    tensors.push_back(std::move(w));
  }
};

}  // namespace

int cmd_generate(const std::vector<std::string>& argv) {
  Args args(argv,
            {"--model", "--prompt", "--negative-prompt", "--cfg", "--width", "--height", "--steps", "--seed", "--noise",
             "--max-sequence-length", "--output", "--batch-count", "--backend", "--device", "--threads", "--dump",
             "--random-weights", "--tokenizer", "--vram-budget"},
            {"--help", "--quiet", "--cfg-sequential", "--vae-tiling"});
  if (args.has("--help")) {
    std::printf("%s", kGenerateHelp);
    return 0;
  }
  // Validate everything before any work starts.
  // --random-weights SEED: the full-size published architecture with random weights (benchmarks and smoke
  // tests without the 57 GB download); only the tokenizer (--tokenizer DIR) is read from disk.
  const bool random_weights = args.has("--random-weights");
  if (random_weights == args.has("--model")) throw UsageError("give one of --model DIR or --random-weights SEED");
  if (random_weights && !args.has("--tokenizer")) throw UsageError("--random-weights needs --tokenizer DIR");
  const std::string model_path = random_weights ? "random-weights" : args.require("--model");
  const std::string prompt = args.require("--prompt");
  require_utf8_flag(prompt, "--prompt");
  GenerationOptions o;
  o.prompt = prompt;
  o.negative_prompt = args.get_or("--negative-prompt", " ");
  require_utf8_flag(*o.negative_prompt, "--negative-prompt");
  o.cfg = float(args.get_double("--cfg").value_or(4.0));
  if (o.cfg < 0) throw UsageError("--cfg must be >= 0");
  if (o.cfg <= 1.0f) o.negative_prompt.reset();
  o.width = floor_size(args.get_int("--width", 1, kMaxSide).value_or(1328), "--width");
  o.height = floor_size(args.get_int("--height", 1, kMaxSide).value_or(1328), "--height");
  o.steps = int(args.get_int("--steps", 1, kMaxSteps).value_or(50));
  o.batch_cfg = !args.has("--cfg-sequential");
  o.max_sequence_length = int(args.get_int("--max-sequence-length", 1, 1024).value_or(512));
  if (args.has("--seed") && args.has("--noise")) throw UsageError("--seed and --noise exclude each other");
  o.seed = args.get_uint64("--seed").value_or(std::random_device{}() | (uint64_t(std::random_device{}()) << 32));
  const int64_t batch = args.get_int("--batch-count", 1, kMaxBatchCount).value_or(1);
  const std::optional<double> vram_budget = args.get_positive("--vram-budget", kMaxVramBudgetGiB);
  const std::filesystem::path output = args.get_or("--output", "output.png");
  check_output_path_writable(output);
  if (auto dump_dir = args.get("--dump")) {
    // The dump directory is created after the run if need be: its parent must be writable now.
    const std::filesystem::path d = *dump_dir;
    check_output_path_writable(std::filesystem::is_directory(d) ? d / "intermediates.safetensors" : d);
  }
  const bool quiet = args.has("--quiet");
  if (quiet) set_log_level(LogLevel::Warn);

  const ModelDir model = random_weights
                             ? ModelDir::with_random_weights(args.require("--tokenizer"), *args.get_uint64("--random-weights"))
                             : ModelDir::open(model_path);
  // The schedule for these steps and this size, built now so that a step count the model's scheduler
  // cannot use (1 step with shift_terminal) is refused before anything is loaded.
  try {
    (void)flow_match_schedule(model.scheduler, o.steps,
                              int64_t(o.height / kPixelsPerToken) * int64_t(o.width / kPixelsPerToken));
  } catch (const UsageError& e) {
    if (o.steps == 1) throw UsageError("--steps 1: " + std::string(e.what()));
    // Far beyond the scheduler's max_image_seq_len the resolution-dependent shift grows so large that
    // every sigma rounds to 1 in float32: nothing would be denoised.
    throw UsageError("--width " + std::to_string(o.width) + " --height " + std::to_string(o.height) +
                     ": at this size the scheduler's resolution-dependent shift rounds every sigma to 1 (nothing "
                     "would be denoised); use a smaller size");
  }
  if (auto noise = args.get("--noise"))
    o.noise = load_noise_file(*noise, model.vae.z_dim, o.height / 8, o.width / 8);
  auto backend = make_backend(args, !quiet);
  EstimateInputs ei;
  ei.width = o.width;
  ei.height = o.height;
  ei.max_sequence_length = o.max_sequence_length;
  ei.transformer_resident_during_decode = batch > 1;
  DeviceMemory device;
  device.available = backend_memory_bytes(*backend, args);
  device.system_ram = backend_memory_is_system_ram(*backend, args);
  device.host_ram = system_memory_bytes();
  device.backend_name = backend->name();
  const std::string what = "a " + std::to_string(o.width) + "x" + std::to_string(o.height) + " generation";
  const int tile_pixels = VaeTiling::kDefaultTileLatents * model.vae.spatial_compression();
  if (args.has("--vae-tiling")) ei.vae_tile_pixels = tile_pixels;
  MemoryEstimate placed;
  try {
    placed = place_weights(estimate_generation_memory(model, ei), vram_budget, device, what);
  } catch (const RuntimeFailure& whole) {
    // A whole-image decode that does not fit may fit in tiles; if not even then, the tiled refusal is given.
    if (ei.vae_tile_pixels != 0 || std::max(o.width, o.height) <= tile_pixels) throw;
    ei.vae_tile_pixels = tile_pixels;
    placed = place_weights(estimate_generation_memory(model, ei), vram_budget, device, what);
    log_info("the VAE decodes in " + std::to_string(tile_pixels) + "-pixel tiles: the whole image would not fit (" +
             std::string(whole.what()) + ")");
  }
  if (ei.vae_tile_pixels != 0) o.vae_tiling = VaeTiling{};

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Generator gen(model, *backend, placed.offload);
  const std::string model_name = std::filesystem::path(model_path).filename().string();
  for (int64_t k = 0; k < batch; ++k) {
    GenerationOptions ok = o;
    ok.seed = o.seed + uint64_t(k);
    ok.release_transformer_before_decode = k + 1 == batch;  // lowest peak memory for the last image
    const std::filesystem::path out = batch > 1 ? numbered(output, k) : output;
    ProgressBar bar(ok.steps, quiet);
    DumpSink dump{{}, backend.get()};
    TensorSink sink;
    if (args.has("--dump")) sink = std::ref(dump);
    GenerationResult r;
    try {
      r = gen.generate(ok, sink, [&](int step, int steps, double s) { bar.update(step, s); }, &g_cancel);
    } catch (const Cancelled&) {
      bar.finish();
      const int sig = g_signal.load();
      log_error(std::string("interrupted (") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + "); no image written");
      return kExitSignalBase + (sig ? sig : SIGINT);
    }
    bar.finish();
    write_png_rgb8(out, r.width, r.height, r.rgb, {{kParametersTextKey, png_parameters_text(ok, model_name)}});
    if (auto dir = args.get("--dump")) {
      std::filesystem::create_directories(*dir);
      write_safetensors(std::filesystem::path(*dir) / "intermediates.safetensors", dump.tensors);
    }
    if (!quiet) print_stage_summary(r.stages);
    log_info("wrote " + out.string() + " (seed " + std::to_string(ok.seed) + ")");
  }
  return 0;
}

}  // namespace qi::cli

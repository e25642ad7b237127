// Text-to-image generation with Qwen-Image (diffusers QwenImagePipeline, spec §2): prompt encoding,
// flow-matching Euler sampling with true CFG, VAE decoding to 8-bit RGB. Written against the op interface,
// so the same code runs on the CPU and Vulkan backends.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/model_dir.h"
#include "io/png_writer.h"
#include "model/tensor_sink.h"
#include "model/vae_tiling.h"
#include "model/weight_stream.h"
#include "ops/backend.h"

namespace qi {

class Qwen2Tokenizer;
class TextEncoder;
class Mmdit;
class VaeDecoder;

struct GenerationOptions {
  std::string prompt;
  // CFG runs when a negative prompt is given and cfg > 1 (as in diffusers).
  std::optional<std::string> negative_prompt;
  int width = 1328, height = 1328;  // floored to multiples of 16 by the caller (see floor_to_patch_multiple)
  int steps = 50;
  float cfg = 4.0f;
  uint64_t seed = 0;
  // Initial noise [16, H/8, W/8]; when empty it is drawn from `seed` with the torch-compatible generator.
  std::vector<float> noise;
  int max_sequence_length = 512;
  // Custom sigmas (steps values) replacing the scheduler's; empty = the scheduler's schedule.
  std::vector<float> sigmas;
  // Frees the transformer's weights before decoding, so the VAE never shares the device with them (lowest
  // peak memory; set it for the last image of a batch).
  bool release_transformer_before_decode = false;
  // With CFG, the two transformer passes of a step run as one batch of two (one pass over the weights, the
  // shorter prompt padded and masked); false runs them one after the other (half the activation memory).
  bool batch_cfg = true;
  // Decode the VAE in overlapping tiles (model/vae_tiling.h: diffusers' vae.enable_tiling()); unset: the
  // whole image at once. Only images larger than one tile are tiled.
  std::optional<VaeTiling> vae_tiling;
};

struct StageReport {
  std::string name;
  double seconds = 0;
  uint64_t peak_bytes = 0;  // peak backend memory during the stage
};

struct GenerationResult {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height × width × 3
  std::vector<StageReport> stages;
};

// Called after each denoising step: step (1-based), total steps, seconds since denoising started.
using ProgressFn = std::function<void(int step, int steps, double seconds)>;

// Thrown when generation is interrupted through the cancel flag.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("interrupted") {}
};

// Which text-encoder layers and transformer blocks stream from host memory instead of staying on the device
// (generate --vram-budget; cli/memory_estimate.h plans it). Default: everything resident.
struct OffloadPlan {
  BlockOffload text_encoder, transformer;
};

class Generator {
 public:
  Generator(const ModelDir& model, Backend& backend, const OffloadPlan& offload = {});
  ~Generator();

  GenerationResult generate(const GenerationOptions& options, const TensorSink& sink = {},
                            const ProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr);

  // Prompt embeddings [L, hidden] for a raw prompt (template applied, 34 tokens dropped, truncated to
  // max_sequence_length with a warning). Loads the text encoder on first use.
  Tensor encode_prompt(const std::string& prompt, int max_sequence_length, const TensorSink& sink = {},
                       const std::string& name = "prompt");
  // Frees the text encoder's weights (done before denoising to keep peak memory low).
  void release_text_encoder();
  void release_transformer();

  const ModelDir& model() const { return model_; }

 private:
  void ensure_transformer();
  void ensure_vae();

  ModelDir model_;
  Backend& backend_;
  OffloadPlan offload_;
  std::unique_ptr<Qwen2Tokenizer> tokenizer_;
  std::unique_ptr<TensorStore> text_store_, transformer_store_, vae_store_;
  std::unique_ptr<TextEncoder> text_encoder_;
  std::unique_ptr<Mmdit> transformer_;
  std::unique_ptr<VaeDecoder> vae_;
};

// The A1111/ComfyUI-style description of a generation for the PNG `parameters` chunk.
std::string png_parameters_text(const GenerationOptions& options, const std::string& model_name);

// Floors a size to the model's multiple (16 = VAE factor 8 × patch 2), as diffusers does.
int floor_to_patch_multiple(int size);

}  // namespace qi

// qwen-image-vk public API: load a diffusers Qwen-Image directory once, generate images from prompts.
//
//   auto pipe = qwenimage::Pipeline::open("Qwen-Image");            // Vulkan on the first discrete GPU
//   qwenimage::Request req;
//   req.prompt = "A red fox in fresh snow";
//   qwenimage::Image img = pipe->generate(req);                     // img.rgb: height × width × 3 bytes
//   qwenimage::write_png("fox.png", img, req);
//
// Errors are exceptions derived from std::runtime_error with one clear message.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qwenimage {

struct PipelineOptions {
  std::string backend = "vulkan";  // "vulkan", "cpu" (fp32 reference) or "auto"
  std::string device;              // Vulkan device index or name substring; "" = first discrete GPU
  int cpu_threads = 0;             // 0 = all hardware threads
};

struct Request {
  std::string prompt;
  std::optional<std::string> negative_prompt = std::string(" ");  // CFG needs one (diffusers semantics)
  int width = 1328, height = 1328;  // must be multiples of 16
  int steps = 50;
  float cfg = 4.0f;                 // <= 1 disables CFG
  uint64_t seed = 0;                // torch.randn-compatible CPU generator
  std::vector<float> noise;         // optional initial noise [16, height/8, width/8]; overrides seed
  int max_sequence_length = 512;
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height × width × 3
};

class Pipeline {
 public:
  static std::unique_ptr<Pipeline> open(const std::string& model_dir, const PipelineOptions& options = {});
  virtual ~Pipeline() = default;
  // progress(step, steps) is called after each denoising step.
  virtual Image generate(const Request& request, const std::function<void(int, int)>& progress = {}) = 0;
};

// Writes an 8-bit RGB PNG atomically, with the request's parameters in a `parameters` text chunk.
void write_png(const std::string& path, const Image& image, const Request& request, const std::string& model_name = "Qwen-Image");

}  // namespace qwenimage

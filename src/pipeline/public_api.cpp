// The public API (include/qwenimage/qwenimage.h) on top of Generator.
#include "qwenimage/qwenimage.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "core/error.h"
#include "io/png_writer.h"
#include "pipeline/generation.h"

namespace qwenimage {

namespace {

qi::GenerationOptions to_options(const Request& r) {
  qi::GenerationOptions o;
  o.prompt = r.prompt;
  if (r.cfg > 1.0f) o.negative_prompt = r.negative_prompt;
  o.width = r.width;
  o.height = r.height;
  o.steps = r.steps;
  o.cfg = r.cfg;
  o.seed = r.seed;
  o.noise = r.noise;
  o.max_sequence_length = r.max_sequence_length;
  return o;
}

class PipelineImpl final : public Pipeline {
 public:
  PipelineImpl(const std::string& model_dir, const PipelineOptions& o) : model_(qi::ModelDir::open(model_dir)) {
    if (o.backend == "cpu" || (o.backend == "auto" && qi::list_vulkan_devices().empty())) {
      backend_ = qi::make_cpu_backend(o.cpu_threads);
    } else if (o.backend == "vulkan" || o.backend == "auto") {
      qi::VulkanOptions vo;
      vo.device = o.device;
      vo.verbose = false;
      backend_ = qi::make_vulkan_backend(vo);
    } else {
      throw qi::UsageError("unknown backend '" + o.backend + "' (vulkan, cpu or auto)");
    }
    generator_ = std::make_unique<qi::Generator>(model_, *backend_);
  }

  Image generate(const Request& r, const std::function<void(int, int)>& progress) override {
    const qi::GenerationOptions o = to_options(r);
    qi::ProgressFn fn;
    if (progress) fn = [&](int step, int steps, double) { progress(step, steps); };
    qi::GenerationResult g = generator_->generate(o, {}, fn);
    return Image{g.width, g.height, std::move(g.rgb)};
  }

 private:
  qi::ModelDir model_;
  std::unique_ptr<qi::Backend> backend_;
  std::unique_ptr<qi::Generator> generator_;
};

}  // namespace

std::unique_ptr<Pipeline> Pipeline::open(const std::string& model_dir, const PipelineOptions& options) {
  return std::make_unique<PipelineImpl>(model_dir, options);
}

void write_png(const std::string& path, const Image& image, const Request& r, const std::string& model_name) {
  qi::write_png_rgb8(path, image.width, image.height, image.rgb,
                     {{qi::kParametersTextKey, qi::png_parameters_text(to_options(r), model_name)}});
}

}  // namespace qwenimage

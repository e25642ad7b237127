#include "pipeline/generation.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "io/tensor_loading.h"
#include "model/mmdit.h"
#include "model/text_encoder.h"
#include "model/vae_decoder.h"
#include "pipeline/scheduler.h"
#include "pipeline/torch_rng.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"

namespace qi {

namespace {

// VAE spatial factor 8 × patch size 2 (spec §2.2).
constexpr int kPixelsPerPatch = 16;
// diffusers refuses max_sequence_length above this (spec §2.1).
constexpr int kMaxSequenceLengthLimit = 1024;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Times a stage and records the backend's peak memory during it.
class StageTimer {
 public:
  StageTimer(Backend& b, std::vector<StageReport>& out, std::string name) : b_(b), out_(out), name_(std::move(name)) {
    b_.flush();
    b_.reset_peak_memory();
    b_.begin_stage(name_);
    t0_ = Clock::now();
  }
  ~StageTimer() {
    b_.end_stage();
    b_.flush();
    out_.push_back({name_, seconds_since(t0_), b_.memory_stats().peak});
  }

 private:
  Backend& b_;
  std::vector<StageReport>& out_;
  std::string name_;
  Clock::time_point t0_;
};

// Threads that fault in the mapped weight files ahead of the uploads.
constexpr unsigned kPrefetchThreads = 2;

// Builds a model from `store` while background threads read the tensors it is about to load (`keys`) into the
// page cache, so reading from disk overlaps with uploading to the device; logs the throughput. The rest of
// the files (a text encoder's lm_head and vision tower, a VAE's encoder) is not read.
template <class Model, class... Args>
std::unique_ptr<Model> load_overlapped(const char* what, const TensorStore& store, const std::vector<std::string>& keys,
                                       Args&&... args) {
  const auto t0 = Clock::now();
  std::thread prefetch;
  if (!store.files().empty()) prefetch = std::thread([&store, &keys] { prefetch_store(store, keys, kPrefetchThreads); });
  std::unique_ptr<Model> model;
  try {
    model = std::make_unique<Model>(std::forward<Args>(args)...);
  } catch (...) {
    if (prefetch.joinable()) prefetch.join();
    throw;
  }
  if (prefetch.joinable()) prefetch.join();
  const double s = seconds_since(t0), gb = double(store_bytes(store, keys)) / 1e9;
  char line[160];
  std::snprintf(line, sizeof line, "%s: %.3f GB of weights loaded in %.2f s (%.2f GB/s)", what, gb, s, s > 0 ? gb / s : 0.0);
  log_info(line);
  return model;
}

// What streaming transformer blocks moved during the denoising stage.
void log_streaming(const WeightStream& ws, const WeightStream::Stats& before, const StageReport& stage) {
  const WeightStream::Stats& now = ws.stats();
  const double gb = double(now.bytes - before.bytes) / 1e9;
  char line[200];
  std::snprintf(line, sizeof line,
                "transformer: %.2f GB of streamed block weights copied to the device during %s (%llu block loads, "
                "%.2f GB/s averaged over the stage)",
                gb, stage.name.c_str(), static_cast<unsigned long long>(now.loads - before.loads),
                stage.seconds > 0 ? gb / stage.seconds : 0.0);
  log_info(line);
}

void check_finite(Backend& b, const Tensor& t, const std::string& where) {
  for (float v : b.to_host_f32(t))
    if (!std::isfinite(v)) throw RuntimeFailure("NaN/Inf in the latents " + where + "; no image written");
}

}  // namespace

int floor_to_patch_multiple(int size) { return size / kPixelsPerPatch * kPixelsPerPatch; }

std::string png_parameters_text(const GenerationOptions& o, const std::string& model_name) {
  GenerationParameters p;
  p.prompt = o.prompt;
  p.negative_prompt = o.negative_prompt.value_or("");
  p.steps = o.steps;
  p.sampler = "FlowMatch Euler";
  p.cfg_scale = o.negative_prompt ? o.cfg : 1.0;
  p.seed = o.seed;
  p.width = o.width;
  p.height = o.height;
  p.model = model_name;
  return a1111_parameters(p);
}

Generator::Generator(const ModelDir& model, Backend& backend, const OffloadPlan& offload)
    : model_(model), backend_(backend), offload_(offload) {}
Generator::~Generator() = default;

Tensor Generator::encode_prompt(const std::string& prompt, int max_sequence_length, const TensorSink& sink,
                                const std::string& name) {
  if (max_sequence_length < 1 || max_sequence_length > kMaxSequenceLengthLimit)
    throw UsageError("max_sequence_length must be in [1, " + std::to_string(kMaxSequenceLengthLimit) + "]");
  if (!tokenizer_) tokenizer_ = Qwen2Tokenizer::load(model_.tokenizer_dir());
  if (!text_encoder_) {
    text_store_ = std::make_unique<TensorStore>(model_.text_encoder_weights());
    text_encoder_ = load_overlapped<TextEncoder>(
        "text encoder", *text_store_, TextEncoder::keys_read_at_load(model_.text_encoder, *text_store_),
        model_.text_encoder, *text_store_, backend_, offload_.text_encoder);
  }
  std::vector<int32_t> ids = qi::encode_prompt(*tokenizer_, prompt);
  const size_t drop = kPromptTemplateDropIndex;
  // The encoder is causal, so encoding only the tokens that survive truncation gives the same states.
  if (ids.size() > drop + size_t(max_sequence_length)) {
    log_warn("the " + name + " is " + std::to_string(ids.size() - drop) + " tokens long; truncated to " +
             std::to_string(max_sequence_length) + " (--max-sequence-length), as diffusers does");
    ids.resize(drop + size_t(max_sequence_length));
  }
  if (sink) {
    Tensor id_tensor = backend_.from_host(ids.data(), DType::I32, {int64_t(ids.size())}, DType::I32);
    sink("tokens." + name + ".input_ids", id_tensor);
  }
  Tensor states = text_encoder_->encode(ids, sink, "text_encoder." + name);
  Tensor embeds = backend_.slice(states, 0, int64_t(drop), int64_t(ids.size() - drop));
  emit(sink, "prompt_embeds." + name, embeds);
  return embeds;
}

void Generator::release_text_encoder() {
  text_encoder_.reset();
  text_store_.reset();
}

void Generator::release_transformer() {
  transformer_.reset();
  transformer_store_.reset();
}

void Generator::ensure_transformer() {
  if (transformer_) return;
  transformer_store_ = std::make_unique<TensorStore>(model_.transformer_weights());
  transformer_ = load_overlapped<Mmdit>("transformer", *transformer_store_, Mmdit::keys_read_at_load(model_.transformer),
                                        model_.transformer, *transformer_store_, backend_, offload_.transformer);
  // Every weight has been copied (to the device, or to host memory for streamed blocks): the store is not
  // read again, and for --random-weights it holds the whole model in RAM.
  transformer_store_.reset();
  if (transformer_->upload_stats().overflowed)
    log_warn("transformer: " + std::to_string(transformer_->upload_stats().overflowed) +
             " weight values do not fit the GPU storage format (they became ±inf)");
}

void Generator::ensure_vae() {
  if (vae_) return;
  vae_store_ = std::make_unique<TensorStore>(model_.vae_weights());
  vae_ = load_overlapped<VaeDecoder>("vae", *vae_store_, VaeDecoder::keys_read_at_load(model_.vae), model_.vae,
                                     *vae_store_, backend_);
}

GenerationResult Generator::generate(const GenerationOptions& o, const TensorSink& sink, const ProgressFn& progress,
                                     const std::atomic<bool>* cancel) {
  if (o.width % kPixelsPerPatch || o.height % kPixelsPerPatch || o.width <= 0 || o.height <= 0)
    throw UsageError("width and height must be positive multiples of 16");
  if (o.steps < 1) throw UsageError("steps must be at least 1");
  const int z = model_.vae.z_dim;
  const int64_t h = o.height / 8, w = o.width / 8, hp = h / 2, wp = w / 2, N = hp * wp;
  const bool cfg = o.negative_prompt.has_value() && o.cfg > 1.0f;
  auto cancelled = [&] { return cancel && cancel->load(); };

  GenerationResult result;
  result.width = o.width;
  result.height = o.height;

  Tensor cond, uncond;
  {
    StageTimer timer(backend_, result.stages, "text encoding");
    cond = encode_prompt(o.prompt, o.max_sequence_length, sink, "prompt");
    if (cfg) uncond = encode_prompt(*o.negative_prompt, o.max_sequence_length, sink, "negative");
    release_text_encoder();
  }
  if (cancelled()) throw Cancelled();

  {
    StageTimer timer(backend_, result.stages, "transformer load");
    ensure_transformer();
  }

  Tensor x;
  const WeightStream::Stats streamed_before =
      transformer_->weight_stream() ? transformer_->weight_stream()->stats() : WeightStream::Stats{};
  {
    StageTimer timer(backend_, result.stages, "denoising");
    std::vector<float> noise = o.noise.empty() ? torch_randn({z, h, w}, o.seed) : o.noise;
    if (int64_t(noise.size()) != int64_t(z) * h * w)
      throw InputError("initial noise has " + std::to_string(noise.size()) + " values; expected [" +
                       std::to_string(z) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]");
    Tensor noise_t = backend_.from_host_f32(noise, {z, h, w});
    emit(sink, "latents.initial.unpacked", noise_t);
    x = backend_.pack_patches(noise_t);
    emit(sink, "latents.initial", x);

    FlowMatchSchedule sched = flow_match_schedule(model_.scheduler, o.steps, N, o.sigmas);
    if (sink) {
      sink("scheduler.sigmas", backend_.from_host_f32(sched.sigmas, {int64_t(sched.sigmas.size())}));
      sink("scheduler.timesteps", backend_.from_host_f32(sched.timesteps, {int64_t(sched.timesteps.size())}));
    }
    const Mmdit::Context ctx_c = transformer_->prepare(cond, hp, wp);
    const Mmdit::Context ctx_u = cfg ? transformer_->prepare(uncond, hp, wp) : Mmdit::Context{};
    const auto t0 = Clock::now();
    // Run one after the other, the forwards of a step share its modulation vectors (computed by the first).
    Mmdit::Modulation modulation;
    const Mmdit::Context* batch[] = {&ctx_c, &ctx_u};
    for (int i = 0; i < o.steps; ++i) {
      // fp32 pipeline: the model sees t/1000 with t = 1000·σ in fp32 (spec §2.7, no bf16 quantisation).
      const float t_model = model_timestep_fp32(sched.timesteps[size_t(i)]);
      const std::string step = "transformer.step" + std::to_string(i);
      if (sink) sink(step + ".cond.timestep", backend_.from_host_f32({t_model}, {1}));
      if (sink && cfg) sink(step + ".uncond.timestep", backend_.from_host_f32({t_model}, {1}));
      // The block outputs of the first call only (the conditional pass of step 0).
      const TensorSink block_sink = i == 0 ? sink : TensorSink{};
      Tensor vc, vu;
      if (cfg && o.batch_cfg) {
        const std::string prefixes[] = {step + ".cond"};
        std::vector<Tensor> v = transformer_->forward_batch(x, t_model, batch, block_sink, prefixes);
        vc = v[0];
        vu = v[1];
      } else {
        vc = transformer_->forward(x, t_model, ctx_c, block_sink, step + ".cond", &modulation);
        if (cfg) vu = transformer_->forward(x, t_model, ctx_u, {}, step + ".uncond", &modulation);
      }
      emit(sink, step + ".cond.output", vc);
      if (cfg) emit(sink, step + ".uncond.output", vu);
      const float dt = sched.sigmas[size_t(i) + 1] - sched.sigmas[size_t(i)];
      x = backend_.guided_euler_step(x, vc, vu, o.cfg, dt);
      emit(sink, "latents.after_step" + std::to_string(i), x);
      check_finite(backend_, x, "after denoising step " + std::to_string(i + 1) + " (transformer)");
      if (progress) progress(i + 1, o.steps, seconds_since(t0));
      if (cancelled()) throw Cancelled();
    }
  }

  if (const WeightStream* ws = transformer_->weight_stream()) log_streaming(*ws, streamed_before, result.stages.back());
  if (o.release_transformer_before_decode) release_transformer();
  {
    StageTimer timer(backend_, result.stages, "decoding");
    ensure_vae();
    Tensor lat = backend_.unpack_patches(x, z, h, w).reshape({z, 1, h, w});
    Tensor img = o.vae_tiling ? decode_tiled(*vae_, backend_, lat, *o.vae_tiling) : vae_->decode(lat, sink);
    Tensor rgb = backend_.to_rgb8(img.reshape({3, img.dim(2), img.dim(3)}));
    emit(sink, "image.uint8", rgb);
    result.rgb.resize(size_t(rgb.numel()));
    backend_.to_host(rgb, result.rgb.data());
  }
  return result;
}

}  // namespace qi

#include "cli/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "io/weight_map.h"

namespace qi::cli {

namespace {

constexpr uint64_t kF32 = 4;  // activations are fp32 on both backends

// Live activation tensors of a transformer block, in units of [tokens, hidden] fp32: the residual stream,
// its normalized/modulated copy, q, k, v, the attention output and its projection (7), plus the MLP's
// hidden layer at 4× width (4) and its output (1). The attention itself is blocked (scores for a block of
// query rows at a time), so no tokens² term.
constexpr uint64_t kTransformerLiveHidden = 12;
// True CFG runs the conditional and the unconditional pass and keeps both predictions: ×2.
constexpr uint64_t kCfgPasses = 2;
// The text encoder's live [tokens, hidden] tensors (residual, norm, q/k/v/o) plus its MLP (intermediate
// width, gate and up): counted separately below.
constexpr uint64_t kTextLiveHidden = 6;
constexpr uint64_t kTextLiveIntermediate = 3;
// The VAE decoder's widest stage: base_dim channels at full resolution. A residual block there holds its
// input, the conv output, the normalized copy and the causal-conv cache: 4 tensors of that size.
constexpr uint64_t kVaeLiveFullResTensors = 4;
// Allocator slack, staging buffers and fragmentation: 10 % on top (MemoryEstimate::describe says so).
constexpr double kOverhead = 1.10;

// Random weights are generated as bf16 (io/random_weights.h).
constexpr uint64_t kRandomWeightBytes = 2;

uint64_t param_count(const std::vector<ExpectedTensor>& tensors) {
  uint64_t n = 0;
  for (const auto& t : tensors) n += uint64_t(shape_numel(t.shape));
  return n;
}

// Weight bytes of one component: the stored tensors' sizes, or the expected tensors for random weights
// (which are never generated just to be counted).
template <class OpenStore>
uint64_t weight_bytes(const ModelDir& model, const std::vector<ExpectedTensor>& expected, OpenStore open_store) {
  if (model.random_weights_seed) return param_count(expected) * kRandomWeightBytes;
  const TensorStore store = open_store();
  uint64_t bytes = 0;  // keys the model never reads (lm_head, the vision tower) are never loaded
  for (const std::string& name : store.names())
    if (!is_ignored_text_encoder_key(name)) bytes += store.get(name).bytes;
  return bytes;
}

}  // namespace

std::string format_gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(1ull << 30));
  return buf;
}

std::string MemoryEstimate::describe() const {
  return format_gib(peak_bytes) + " (the largest stage plus 10 % allocator overhead; text encoder " + format_gib(text_encoder_bytes) + ", transformer " +
         format_gib(transformer_bytes) + ", VAE " + format_gib(vae_bytes) + ")";
}

MemoryEstimate estimate_generation_memory(const ModelDir& model, const EstimateInputs& in) {
  const uint64_t w = uint64_t(std::max(in.width, 0)), h = uint64_t(std::max(in.height, 0));
  const uint64_t text_tokens = uint64_t(std::max(in.max_sequence_length, 0));
  const uint64_t pixels_per_token = uint64_t(8 * model.transformer.patch_size);  // VAE factor × patch
  const uint64_t image_tokens = (w / pixels_per_token) * (h / pixels_per_token);
  MemoryEstimate e;

  const TextEncoderConfig& te = model.text_encoder;
  e.text_encoder_bytes =
      weight_bytes(model, expected_text_encoder_tensors(te, "model."), [&] { return model.text_encoder_weights(); }) +
      text_tokens * (kTextLiveHidden * uint64_t(te.hidden_size) + kTextLiveIntermediate * uint64_t(te.intermediate_size)) * kF32;

  const uint64_t tokens = image_tokens + text_tokens;
  const uint64_t transformer_weights = weight_bytes(model, expected_transformer_tensors(model.transformer),
                                                    [&] { return model.transformer_weights(); });
  e.transformer_bytes = transformer_weights +
                        kCfgPasses * tokens * kTransformerLiveHidden * uint64_t(model.transformer.hidden()) * kF32;

  e.vae_bytes = weight_bytes(model, expected_vae_tensors(model.vae, false), [&] { return model.vae_weights(); }) +
                kVaeLiveFullResTensors * uint64_t(model.vae.base_dim) * w * h * kF32;
  if (in.transformer_resident_during_decode) e.vae_bytes += transformer_weights;

  e.peak_bytes = uint64_t(double(std::max({e.text_encoder_bytes, e.transformer_bytes, e.vae_bytes})) * kOverhead);
  return e;
}

uint64_t system_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

}  // namespace qi::cli

#include "cli/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/log.h"
#include "io/weight_map.h"
#include "model/weight_stream.h"

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

// Weights of one component as (outside the repeated blocks, inside them): the stored tensors' sizes, or the
// expected tensors for random weights (which are never generated just to be counted). Keys the model never
// puts on the device (lm_head and the vision tower, never loaded; the embedding table, looked up on the
// host) are left out.
struct WeightSplit {
  uint64_t other = 0, blocks = 0;
};
template <class OpenStore, class IsBlockKey>
WeightSplit weight_bytes(const ModelDir& model, const std::vector<ExpectedTensor>& expected, OpenStore open_store,
                         IsBlockKey is_block_key) {
  WeightSplit w;
  auto count = [&](const std::string& key, uint64_t bytes) {
    if (is_ignored_text_encoder_key(key) || key.find("embed_tokens.") != std::string::npos) return;
    (is_block_key(key) ? w.blocks : w.other) += bytes;
  };
  if (model.random_weights_seed) {
    for (const auto& t : expected) count(t.key, uint64_t(shape_numel(t.shape)) * kRandomWeightBytes);
    return w;
  }
  const TensorStore store = open_store();
  for (const std::string& name : store.names()) count(name, store.get(name).bytes);
  return w;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

StageMemory stage(const WeightSplit& w, int blocks, uint64_t activations) {
  StageMemory m;
  m.weight_bytes = w.other;
  m.blocks = blocks;
  m.block_bytes = blocks > 0 ? w.blocks / uint64_t(blocks) : 0;
  m.weight_bytes += w.blocks - m.block_bytes * uint64_t(blocks);  // (blocks are identical: nothing)
  m.activation_bytes = activations;
  return m;
}

uint64_t with_overhead(uint64_t bytes) { return uint64_t(double(bytes) * kOverhead); }

// The ring sizes the planner tries, most useful first: 2 slots let the next block's copy run during the
// current block; 1 saves another block's memory but each copy waits for the previous block's reads.
constexpr int kRingSlots[] = {2, 1};

// The placement of a stage's `blocks` for which fits(placement) holds: every block resident when they fit,
// else the most resident blocks that fit with a ring, else everything streamed through one slot.
template <class Fits>
BlockOffload plan_stage(int blocks, Fits fits) {
  if (blocks == 0 || fits(BlockOffload{})) return {};
  for (int slots : kRingSlots) {
    // Streaming saves memory only while more blocks stream than the ring holds.
    for (int resident = blocks - slots - 1; resident >= 0; --resident)
      if (fits(BlockOffload{resident, slots})) return {resident, slots};
  }
  return blocks > 1 ? BlockOffload{0, 1} : BlockOffload{};
}

}  // namespace

std::string format_gib(uint64_t bytes) {
  constexpr double kMiB = double(1ull << 20), kGiB = double(1ull << 30);
  char buf[32];
  // Below a tenth of a GiB (small models, tight budgets) in MiB, so that no size prints as 0.0.
  if (double(bytes) < 0.1 * kGiB)
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / kMiB);
  else
    std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / kGiB);
  return buf;
}

uint64_t StageMemory::device_weight_bytes(const BlockOffload& o) const {
  int on_device = blocks;
  if (o.streams(blocks)) on_device = o.resident_blocks + std::min(o.slots, blocks - o.resident_blocks);
  return weight_bytes + uint64_t(on_device) * block_bytes;
}

uint64_t StageMemory::host_bytes(const BlockOffload& o) const {
  return o.streams(blocks) ? uint64_t(blocks - o.resident_blocks) * block_bytes : 0;
}

bool MemoryEstimate::streams() const {
  return offload.text_encoder.streams(text_encoder_stage.blocks) || offload.transformer.streams(transformer_stage.blocks);
}

std::string MemoryEstimate::describe() const {
  return format_gib(peak_bytes) + " (the largest stage plus 10 % allocator overhead; text encoder " + format_gib(text_encoder_bytes) + ", transformer " +
         format_gib(transformer_bytes) + ", VAE " + format_gib(vae_bytes) + ")";
}

std::string MemoryEstimate::describe_offload() const {
  std::string out;
  auto add = [&](const char* what, const StageMemory& m, const BlockOffload& o) {
    if (!o.streams(m.blocks)) return;
    if (!out.empty()) out += "; ";
    out += std::string(what) + " " + std::to_string(o.resident_blocks) + " of " + std::to_string(m.blocks) +
           " resident, " + std::to_string(m.blocks - o.resident_blocks) + " streamed from host memory (" +
           format_gib(m.host_bytes(o)) + ") through " + std::to_string(o.slots) + " device slot" +
           (o.slots > 1 ? "s" : "");
  };
  add("text encoder layers:", text_encoder_stage, offload.text_encoder);
  add("transformer blocks:", transformer_stage, offload.transformer);
  return out;
}

MemoryEstimate estimate_generation_memory(const ModelDir& model, const EstimateInputs& in) {
  const uint64_t w = uint64_t(std::max(in.width, 0)), h = uint64_t(std::max(in.height, 0));
  const uint64_t text_tokens = uint64_t(std::max(in.max_sequence_length, 0));
  const uint64_t pixels_per_token = uint64_t(8 * model.transformer.patch_size);  // VAE factor × patch
  const uint64_t image_tokens = (w / pixels_per_token) * (h / pixels_per_token);
  MemoryEstimate e;
  e.transformer_resident_during_decode = in.transformer_resident_during_decode;

  const TextEncoderConfig& te = model.text_encoder;
  const WeightSplit te_weights =
      weight_bytes(model, expected_text_encoder_tensors(te, "model."), [&] { return model.text_encoder_weights(); },
                   [](const std::string& key) { return key.find("layers.") != std::string::npos; });
  e.text_encoder_stage =
      stage(te_weights, te.num_hidden_layers,
            text_tokens * (kTextLiveHidden * uint64_t(te.hidden_size) + kTextLiveIntermediate * uint64_t(te.intermediate_size)) * kF32);

  const uint64_t tokens = image_tokens + text_tokens;
  const WeightSplit dit_weights =
      weight_bytes(model, expected_transformer_tensors(model.transformer), [&] { return model.transformer_weights(); },
                   [](const std::string& key) { return starts_with(key, "transformer_blocks."); });
  e.transformer_stage = stage(dit_weights, model.transformer.num_layers,
                              kCfgPasses * tokens * kTransformerLiveHidden * uint64_t(model.transformer.hidden()) * kF32);

  const WeightSplit vae_weights =
      weight_bytes(model, expected_vae_tensors(model.vae, false), [&] { return model.vae_weights(); },
                   [](const std::string&) { return false; });
  // Tiled, the decoder's activations are one tile's (the blended image lives in host memory until it is
  // uploaded for the RGB conversion: 3 channels, small beside them).
  const uint64_t tile = uint64_t(std::max(in.vae_tile_pixels, 0));
  const uint64_t vae_w = tile ? std::min(w, tile) : w, vae_h = tile ? std::min(h, tile) : h;
  e.vae_stage = stage(vae_weights, 0, kVaeLiveFullResTensors * uint64_t(model.vae.base_dim) * vae_w * vae_h * kF32);
  return with_offload(e, {});
}

MemoryEstimate with_offload(MemoryEstimate e, const OffloadPlan& offload) {
  e.offload = offload;
  // In a batch the transformer's weights stay while the next image's prompts are encoded and while every
  // image but the last is decoded.
  const uint64_t kept = e.transformer_resident_during_decode ? e.transformer_stage.device_weight_bytes(offload.transformer) : 0;
  e.text_encoder_bytes = e.text_encoder_stage.device_bytes(offload.text_encoder) + kept;
  e.transformer_bytes = e.transformer_stage.device_bytes(offload.transformer);
  e.vae_bytes = e.vae_stage.device_bytes() + kept;
  e.peak_bytes = with_overhead(std::max({e.text_encoder_bytes, e.transformer_bytes, e.vae_bytes}));
  const uint64_t te_host = e.text_encoder_stage.host_bytes(offload.text_encoder);
  const uint64_t dit_host = e.transformer_stage.host_bytes(offload.transformer);
  e.host_bytes = e.transformer_resident_during_decode ? te_host + dit_host : std::max(te_host, dit_host);
  return e;
}

MemoryEstimate plan_offload(const MemoryEstimate& resident, uint64_t ceiling) {
  const StageMemory &te = resident.text_encoder_stage, &dit = resident.transformer_stage, &vae = resident.vae_stage;
  const bool batch = resident.transformer_resident_during_decode;
  OffloadPlan plan;
  plan.transformer = plan_stage(dit.blocks, [&](const BlockOffload& o) {
    const uint64_t bytes = dit.device_bytes(o);
    return with_overhead(batch ? std::max(bytes, vae.device_bytes() + dit.device_weight_bytes(o)) : bytes) <= ceiling;
  });
  const uint64_t kept = batch ? dit.device_weight_bytes(plan.transformer) : 0;
  plan.text_encoder =
      plan_stage(te.blocks, [&](const BlockOffload& o) { return with_overhead(te.device_bytes(o) + kept) <= ceiling; });
  return with_offload(resident, plan);
}

MemoryEstimate place_weights(const MemoryEstimate& resident, std::optional<double> budget_gib,
                             const DeviceMemory& device, const std::string& what) {
  constexpr double kGiB = double(1ull << 30);
  const uint64_t budget = budget_gib ? std::max<uint64_t>(uint64_t(*budget_gib * kGiB), 1) : 0;  // 0: none
  const uint64_t available = device.available;
  const bool may_stream = budget || (!device.system_ram && available > 0);
  uint64_t ceiling = budget ? budget : available;
  if (budget && available && !device.system_ram) ceiling = std::min(ceiling, available);
  MemoryEstimate e = resident;
  if (may_stream && resident.peak_bytes > ceiling) e = plan_offload(resident, ceiling);
  if (budget && e.peak_bytes > budget)
    throw RuntimeFailure(what + " needs about " + e.describe() + " of device memory even with every transformer block " +
                         "and text-encoder layer streamed from host memory: more than --vram-budget " +
                         format_gib(budget) + ". Options: a larger --vram-budget, a smaller --width/--height, or a " +
                         "shorter --max-sequence-length");
  // On the CPU backend and lavapipe the streamed weights sit in the same RAM as the "device" memory.
  const uint64_t needed = e.peak_bytes + (device.system_ram ? e.host_bytes : 0);
  if (available != 0 && needed > available)
    throw RuntimeFailure(what + " needs about " + (device.system_ram && e.host_bytes ? format_gib(needed) + ": " : "") +
                         e.describe() + " of memory" +
                         (may_stream ? " with the transformer blocks that do not fit streamed from host memory "
                                       "(--vram-budget)"
                                     : "") +
                         "; the " + device.backend_name + " backend has " + format_gib(available) +
                         ". Options: a smaller --width/--height, a shorter --max-sequence-length, or a backend "
                         "with more memory (--backend cpu uses system RAM, --device picks another GPU)");
  if (!e.streams()) {
    if (budget) log_info("--vram-budget " + format_gib(budget) + ": every weight fits (estimate " + e.describe() + ")");
    return e;
  }
  if (!device.system_ram && device.host_ram != 0 && e.host_bytes > device.host_ram)
    throw RuntimeFailure(what + " streams " + format_gib(e.host_bytes) + " of weights from host memory, more than " +
                         "this machine's " + format_gib(device.host_ram) + " of RAM");
  log_info((budget ? "--vram-budget " + format_gib(budget) : "the model does not fit the device's " + format_gib(available)) +
           ": " + e.describe_offload() + "; device memory estimate " + e.describe());
  return e;
}

uint64_t system_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

}  // namespace qi::cli

// The Qwen2.5-VL language model run text-only as Qwen-Image's prompt encoder (spec §5): token embeddings,
// decoder layers with GQA and half-split RoPE, SwiGLU MLPs, final RMSNorm. The vision tower and lm_head are
// never loaded.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/tensor_sink.h"
#include "model/weight_stream.h"
#include "ops/backend.h"

namespace qi {

class TextEncoder {
 public:
  // Checks the store against the expected tensors (both key layouts accepted) and uploads the layers;
  // offload: which layers stay on the device and which stream from host memory (default: all resident).
  TextEncoder(const TextEncoderConfig& config, const TensorStore& store, Backend& backend,
              const BlockOffload& offload = {});

  // The tensors of `store` the constructor reads whole: every expected one but the embedding table (1.1 GB at
  // full size), of which encode() reads one row per prompt token. A loader may read these ahead.
  static std::vector<std::string> keys_read_at_load(const TextEncoderConfig& config, const TensorStore& store);

  // Hidden states after the final norm for every token: [T, hidden]. The sink receives
  // "<prefix>.hidden_states.{0..layers}" (embeddings, each layer, the last one after the final norm).
  Tensor encode(const std::vector<int32_t>& ids, const TensorSink& sink = {}, const std::string& prefix = "") const;

  const TextEncoderConfig& config() const { return config_; }
  const WeightUploadStats& upload_stats() const { return stats_; }
  const WeightStream* weight_stream() const { return layers_.stream(); }
  std::string offload_summary() const { return layers_.describe("text encoder"); }

 private:
  struct Layer {
    Tensor input_norm, q_w, q_b, k_w, k_b, v_w, v_b, o_w, post_norm, gate_w, up_w, down_w;
  };
  // The weights of a layer that stream, in the order encode() reads them.
  static std::vector<Tensor*> streamed_weights(Layer& l);
  // x·Wᵀ with the given epilogue; first lets the weight stream record one queued copy.
  Tensor apply(const Tensor& w, const Tensor& x, const MatmulArgs& args = {}) const;
  TextEncoderConfig config_;
  const TensorStore& store_;
  Backend& backend_;
  std::string prefix_;
  BlockSet<Layer> layers_;
  Tensor final_norm_;
  WeightUploadStats stats_;
};

}  // namespace qi

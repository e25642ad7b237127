// The Qwen-Image MMDiT (QwenImageTransformer2DModel, spec §3): img_in, txt_norm + txt_in, timestep MLP,
// dual-stream blocks with AdaLN modulation, per-head QK RMSNorm, 3-axis interleaved RoPE and joint
// attention (text first), GELU-tanh MLPs and gated residuals, then norm_out and proj_out. Sizes come from
// the config; nothing is hard-coded.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/tensor_sink.h"
#include "model/weight_stream.h"
#include "ops/backend.h"

namespace qi {

class Mmdit {
 public:
  // offload: which blocks stay on the device and which stream from host memory (default: all resident).
  Mmdit(const TransformerConfig& config, const TensorStore& store, Backend& backend, const BlockOffload& offload = {});

  // The tensors the constructor reads (all it expects). A loader may read these ahead.
  static std::vector<std::string> keys_read_at_load(const TransformerConfig& config);

  // Per-call inputs that depend only on the image size and the text (RoPE tables), built once per prompt.
  struct Context {
    int64_t hp = 0, wp = 0, text_len = 0;
    Tensor image_rope, text_rope;  // [N, hd/2, 2], [L, hd/2, 2]
    Tensor text;                   // txt_in(txt_norm(prompt embeddings)): [L, D]
  };
  // prompt_embeds [L, joint_attention_dim].
  Context prepare(const Tensor& prompt_embeds, int64_t hp, int64_t wp) const;

  // A timestep's modulation vectors: every block's six per stream and norm_out's two. They depend on the
  // timestep and the weights only, so the two forwards of a guided step (same timestep, two prompts) can
  // share them: a forward given a Modulation of another timestep (or an empty one) computes them into it, one
  // given a Modulation of its timestep reuses them.
  struct Modulation {
    bool filled = false;
    float timestep = 0.0f;
    std::vector<std::vector<Tensor>> img, txt;  // [block][chunk]
    std::vector<Tensor> out;
  };

  // Velocity prediction [N, 64] for packed latents [N, in_channels] at model timestep t (= sigma, i.e. the
  // pipeline's t/1000). The sink receives "<prefix>.block{j}.{txt,img}" after each block. With streamed
  // blocks a forward pass also moves the ring of weight slots along (not thread-safe, like the backend).
  // `modulation` (optional): the step's modulation vectors, computed into it or reused from it (above).
  Tensor forward(const Tensor& latents, float timestep, const Context& ctx, const TensorSink& sink = {},
                 const std::string& prefix = "", Modulation* modulation = nullptr) const;
  // The forwards of several prompts (contexts of one patch grid) on the same latents and timestep as one
  // batch: the two of a guided step in one pass over the weights. The texts are padded to the longest with
  // zero rows that the attention masks out as keys; each prompt's velocity is what forward() returns for it.
  // The sink receives "<prefixes[b]>.block{j}.{txt,img}" of each prompt b that has a prefix (its own rows).
  std::vector<Tensor> forward_batch(const Tensor& latents, float timestep, std::span<const Context* const> contexts,
                                    const TensorSink& sink = {}, std::span<const std::string> prefixes = {},
                                    Modulation* modulation = nullptr) const;

  const TransformerConfig& config() const { return config_; }
  const WeightUploadStats& upload_stats() const { return stats_; }
  // The streamed blocks' ring (nullptr when every block is resident) and a line saying what streams.
  const WeightStream* weight_stream() const { return blocks_.stream(); }
  std::string offload_summary() const { return blocks_.describe("transformer"); }

 private:
  struct Linear {
    Tensor w, b;
  };
  struct Stream {  // one side (image or text) of a dual-stream block
    Linear mod, q, k, v, out, mlp_in, mlp_out;
    Tensor norm_q, norm_k;
  };
  struct Block {
    Stream img, txt;
  };
  Linear linear(class WeightLoader& w, const std::string& key) const;
  // The weights of a block that stream, in the order their copies are recorded (see mmdit.cpp).
  static std::vector<Tensor*> streamed_weights(Block& b);
  // x·Wᵀ + b with the given epilogue, after recording `copies` queued weight-stream copies.
  Tensor apply(const Linear& l, const Tensor& x, MatmulArgs args = {}, int copies = 0) const;
  // A stream's gated feed-forward sub-block on its residual stream x (Backend::modulated_mlp), after
  // recording `copies` queued weight-stream copies.
  Tensor feed_forward(const Stream& s, const Tensor& x, const Tensor& shift, const Tensor& scale, const Tensor& gate,
                      int copies = 0) const;

  // Runs one stream's half of a block up to the attention inputs, from its residual stream x and the
  // attention's modulation.
  AttentionOperands project_qkv(const Stream& s, const Tensor& x, const Tensor& shift, const Tensor& scale, int64_t batch,
                                int64_t len, const Tensor& rope, int copies) const;

  TransformerConfig config_;
  Backend& backend_;
  Linear img_in_, txt_in_, time_1_, time_2_, norm_out_, proj_out_;
  Tensor txt_norm_;
  BlockSet<Block> blocks_;
  WeightUploadStats stats_;
};

}  // namespace qi

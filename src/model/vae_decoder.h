// The Qwen-Image VAE decoder (AutoencoderKLQwenImage, a Wan-2.1 derivative; spec §4): de-normalisation,
// post_quant_conv, conv_in, mid block (res, single-head attention over all pixels, res), up blocks with
// nearest 2× upsampling, channel RMS norms, SiLU, conv_out, clamp.
//
// Two paths over the same weights:
//  * single-frame (text-to-image): every causal 3×3×3 conv is a 2-D conv with its last temporal tap
//    (spec §4.1), and the temporal upsampling convs never run;
//  * general: causal 3-D convolutions over T latent frames, run as one causal sequence. This equals
//    diffusers' frame-by-frame decode with its feature cache: every causal conv sees the two previous
//    frames, and each temporal upsampler keeps the first frame as is and runs its time_conv (frame count
//    ×2) causally over the later frames only (its "Rep" rule). T latent frames give 1 + 4·(T−1) images.
#pragma once
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/tensor_sink.h"
#include "ops/backend.h"

namespace qi {

class VaeDecoder {
 public:
  enum class Path { SingleFrame, Causal3d };
  VaeDecoder(const VaeConfig& config, const TensorStore& store, Backend& backend, Path path = Path::SingleFrame);

  // The tensors the constructor reads (the decoder's; an encoder in the files is not read). A loader may read
  // these ahead.
  static std::vector<std::string> keys_read_at_load(const VaeConfig& config);

  // latents [z_dim, T, h, w] (normalised, as the transformer produces them) -> image [3, T', 8h, 8w], not yet
  // clamped (Backend::to_rgb8 clamps to [-1, 1]).
  // The sink receives "vae.post_quant_conv", "vae.decoder.conv_in", "vae.decoder.mid_block",
  // "vae.decoder.up_blocks.{i}", "vae.decoder.out" (before the clamp).
  Tensor decode(const Tensor& latents, const TensorSink& sink = {}) const;

  const VaeConfig& config() const { return config_; }
  Path path() const { return path_; }

 private:
  struct Conv {
    Tensor w, b;
    int pad[3] = {0, 0, 0};
  };
  struct ResBlock {
    Tensor norm1, norm2;
    Conv conv1, conv2, shortcut;  // shortcut.w undefined when in == out
  };
  struct Attention {
    Tensor norm, qkv_w, qkv_b, proj_w, proj_b;
  };
  struct UpBlock {
    std::vector<ResBlock> res;
    bool upsample = false;
    Conv resample;   // 2-D 3×3 conv after nearest 2× upsampling
    Conv time_conv;  // upsample3d's causal (3,1,1) conv doubling the frames; Causal3d path only
  };

  Conv causal_conv(class WeightLoader& w, const std::string& key, int pad) const;
  ResBlock res_block(class WeightLoader& w, const std::string& key) const;
  Tensor conv(const Tensor& x, const Conv& c) const;
  Tensor run_res(const Tensor& x, const ResBlock& r) const;
  Tensor run_attention(const Tensor& x, const Attention& a) const;
  Tensor temporal_upsample(const Tensor& x, const Conv& time_conv) const;

  VaeConfig config_;
  Backend& backend_;
  Path path_;
  Tensor std_, mean_;  // de-normalisation, [z_dim]
  Conv post_quant_, conv_in_, conv_out_;
  ResBlock mid_res0_, mid_res1_;
  Attention mid_attn_;
  std::vector<UpBlock> up_;
  Tensor norm_out_;
};

// Decoder channel widths (spec §4.6): [base·dim_mult.back()] + base·reversed(dim_mult).
std::vector<int> vae_decoder_dims(const VaeConfig& c);

}  // namespace qi

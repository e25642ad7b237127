#include "model/vae_decoder.h"

#include <cmath>

#include "core/error.h"
#include "io/weight_map.h"
#include "model/weight_loader.h"

namespace qi {

std::vector<int> vae_decoder_dims(const VaeConfig& c) {
  std::vector<int> dims = {c.base_dim * c.dim_mult.back()};
  for (auto it = c.dim_mult.rbegin(); it != c.dim_mult.rend(); ++it) dims.push_back(c.base_dim * *it);
  return dims;
}

VaeDecoder::Conv VaeDecoder::causal_conv(WeightLoader& w, const std::string& key, int pad) const {
  Conv c;
  c.b = w.vector(key + ".bias");
  const TensorView& v = w.view(key + ".weight");
  const bool three_d = v.shape.size() == 5 && v.shape[2] > 1;
  if (path_ == Path::SingleFrame && three_d) {
    c.w = w.conv_last_tap(key + ".weight");
    c.pad[0] = 0;
  } else {
    c.w = w.conv(key + ".weight");
    c.pad[0] = three_d ? pad : 0;
  }
  c.pad[1] = c.pad[2] = pad;
  return c;
}

VaeDecoder::ResBlock VaeDecoder::res_block(WeightLoader& w, const std::string& key) const {
  ResBlock r;
  r.norm1 = w.vector(key + ".norm1.gamma");
  r.norm2 = w.vector(key + ".norm2.gamma");
  r.conv1 = causal_conv(w, key + ".conv1", 1);
  r.conv2 = causal_conv(w, key + ".conv2", 1);
  if (w.view(key + ".conv1.weight").shape[0] != w.view(key + ".conv1.weight").shape[1])
    r.shortcut = causal_conv(w, key + ".conv_shortcut", 0);
  return r;
}

std::vector<std::string> VaeDecoder::keys_read_at_load(const VaeConfig& config) {
  return expected_keys(expected_vae_tensors(config, false));
}

VaeDecoder::VaeDecoder(const VaeConfig& config, const TensorStore& store, Backend& backend, Path path)
    : config_(config), backend_(backend), path_(path) {
  check_tensors(store, expected_vae_tensors(config, false), is_vae_encoder_key, "vae");
  WeightLoader w(store, backend, "vae");
  // diffusers de-normalises as z / (1/std) + mean (spec §2.8); multiplying by std is the same up to one
  // rounding of the fp32 reciprocal.
  std_ = backend.from_host_f32(config.latents_std, {int64_t(config.latents_std.size())});
  mean_ = backend.from_host_f32(config.latents_mean, {int64_t(config.latents_mean.size())});

  post_quant_ = causal_conv(w, "post_quant_conv", 0);
  conv_in_ = causal_conv(w, "decoder.conv_in", 1);
  mid_res0_ = res_block(w, "decoder.mid_block.resnets.0");
  mid_res1_ = res_block(w, "decoder.mid_block.resnets.1");
  const std::string a = "decoder.mid_block.attentions.0.";
  mid_attn_.norm = w.vector(a + "norm.gamma");
  mid_attn_.qkv_w = w.matrix_from_conv1x1(a + "to_qkv.weight");
  mid_attn_.qkv_b = w.vector(a + "to_qkv.bias");
  mid_attn_.proj_w = w.matrix_from_conv1x1(a + "proj.weight");
  mid_attn_.proj_b = w.vector(a + "proj.bias");

  const size_t stages = config.dim_mult.size();
  for (size_t s = 0; s < stages; ++s) {
    UpBlock ub;
    const std::string p = "decoder.up_blocks." + std::to_string(s) + ".";
    for (int j = 0; j < config.num_res_blocks + 1; ++j) ub.res.push_back(res_block(w, p + "resnets." + std::to_string(j)));
    ub.upsample = s + 1 < stages;
    if (ub.upsample) {
      ub.resample.w = w.conv(p + "upsamplers.0.resample.1.weight");
      ub.resample.b = w.vector(p + "upsamplers.0.resample.1.bias");
      ub.resample.pad[1] = ub.resample.pad[2] = 1;
      // The decoder upsamples in time where the encoder downsampled, in reverse order.
      const bool temporal = config.temperal_downsample[stages - 2 - s];
      if (temporal && path == Path::Causal3d) {
        ub.time_conv.w = w.conv(p + "upsamplers.0.time_conv.weight");
        ub.time_conv.b = w.vector(p + "upsamplers.0.time_conv.bias");
        ub.time_conv.pad[0] = 1;
      }
    }
    up_.push_back(std::move(ub));
  }
  norm_out_ = w.vector("decoder.norm_out.gamma");
  conv_out_ = causal_conv(w, "decoder.conv_out", 1);
}

Tensor VaeDecoder::conv(const Tensor& x, const Conv& c) const {
  Conv3dArgs args;
  for (int i = 0; i < 3; ++i) args.pad[i] = c.pad[i];
  args.causal = true;
  return backend_.conv3d(x, c.w, c.b, args);
}

Tensor VaeDecoder::run_res(const Tensor& x, const ResBlock& r) const {
  Tensor h = backend_.unary(backend_.channel_rms_norm(x, r.norm1), UnaryOp::Silu);
  h = conv(h, r.conv1);
  h = backend_.unary(backend_.channel_rms_norm(h, r.norm2), UnaryOp::Silu);
  h = conv(h, r.conv2);
  const Tensor shortcut = r.shortcut.w.defined() ? conv(x, r.shortcut) : x;
  return backend_.binary(h, shortcut, BinaryOp::Add);
}

// Single-head attention over all pixels of each frame (spec §4.4), 1×1 convs done as GEMMs on the
// token-major transpose.
Tensor VaeDecoder::run_attention(const Tensor& x, const Attention& a) const {
  const int64_t C = x.dim(0), T = x.dim(1), P = x.dim(2) * x.dim(3);
  Tensor u = backend_.channel_rms_norm(x, a.norm);
  AttentionArgs args;
  args.scale = float(1.0 / std::sqrt(double(C)));
  Tensor out;
  for (int64_t t = 0; t < T; ++t) {
    Tensor frame = T == 1 ? u.reshape({C, P}) : backend_.slice(u, 1, t, 1).reshape({C, P});
    Tensor qkv = backend_.matmul(backend_.transpose(frame), a.qkv_w, {.bias = a.qkv_b});  // [P, 3C]
    Tensor q = backend_.slice(qkv, -1, 0, C).reshape({1, P, 1, C});
    Tensor k = backend_.slice(qkv, -1, C, C).reshape({1, P, 1, C});
    Tensor v = backend_.slice(qkv, -1, 2 * C, C).reshape({1, P, 1, C});
    Tensor o = backend_.attention(q, k, v, args).reshape({P, C});
    o = backend_.transpose(backend_.matmul(o, a.proj_w, {.bias = a.proj_b})).reshape({C, 1, x.dim(2), x.dim(3)});
    out = t == 0 ? o : backend_.concat(out, o, 1);
  }
  return backend_.binary(out, x, BinaryOp::Add);
}

// upsample3d's time path (see the header): frame 0 unchanged; frames 1..T−1 through the causal time_conv
// [2C, C, 3, 1, 1], whose two channel halves become two consecutive frames each.
Tensor VaeDecoder::temporal_upsample(const Tensor& x, const Conv& time_conv) const {
  const int64_t C = x.dim(0), T = x.dim(1);
  Tensor later = conv(backend_.slice(x, 1, 1, T - 1), time_conv);  // [2C, T−1, H, W]
  Tensor first_half = backend_.slice(later, 0, 0, C), second_half = backend_.slice(later, 0, C, C);
  Tensor out = backend_.slice(x, 1, 0, 1);
  for (int64_t t = 0; t + 1 < T; ++t) {
    out = backend_.concat(out, backend_.slice(first_half, 1, t, 1), 1);
    out = backend_.concat(out, backend_.slice(second_half, 1, t, 1), 1);
  }
  return out;
}

Tensor VaeDecoder::decode(const Tensor& latents, const TensorSink& sink) const {
  if (latents.rank() != 4 || latents.dim(0) != config_.z_dim)
    throw InputError("vae: latents " + latents.describe() + " are not [" + std::to_string(config_.z_dim) + ", T, h, w]");
  if (path_ == Path::SingleFrame && latents.dim(1) != 1)
    throw InputError("vae: the single-frame decoder got " + std::to_string(latents.dim(1)) + " frames");
  const int64_t C = latents.dim(0), rest = latents.numel() / C;

  // De-normalise per channel: z·std + mean. Channels are the first axis, so work on the transpose where
  // the channel is the (broadcast) last axis.
  Tensor z = backend_.transpose(latents.reshape({C, rest}));
  z = backend_.binary(backend_.binary(z, std_, BinaryOp::Mul), mean_, BinaryOp::Add);
  Tensor x = backend_.transpose(z).reshape(latents.shape());

  x = conv(x, post_quant_);
  emit(sink, "vae.post_quant_conv", x);
  x = conv(x, conv_in_);
  emit(sink, "vae.decoder.conv_in", x);
  x = run_res(x, mid_res0_);
  x = run_attention(x, mid_attn_);
  x = run_res(x, mid_res1_);
  emit(sink, "vae.decoder.mid_block", x);
  for (size_t s = 0; s < up_.size(); ++s) {
    for (const ResBlock& r : up_[s].res) x = run_res(x, r);
    if (up_[s].upsample) {
      if (up_[s].time_conv.w.defined() && x.dim(1) > 1) x = temporal_upsample(x, up_[s].time_conv);
      x = conv(backend_.upsample_nearest2x(x), up_[s].resample);
    }
    emit(sink, "vae.decoder.up_blocks." + std::to_string(s), x);
  }
  x = backend_.unary(backend_.channel_rms_norm(x, norm_out_), UnaryOp::Silu);
  x = conv(x, conv_out_);
  emit(sink, "vae.decoder.out", x);
  return x;
}

}  // namespace qi

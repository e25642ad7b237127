#include "io/weight_map.h"

#include <map>

#include "core/error.h"

namespace qi {

namespace {

// AdaLN modulation per stream: shift, scale and gate for the attention and for the MLP (spec §3.5).
constexpr int64_t kModulationParams = 6;
// norm_out's AdaLayerNormContinuous emits a scale and a shift.
constexpr int64_t kNormOutParams = 2;
// q, k, v stacked in the VAE attention's to_qkv.
constexpr int64_t kQkv = 3;
// The VAE decoder always emits RGB (diffusers hard-codes conv_out's 3 output channels).
constexpr int64_t kImageChannels = 3;
// The VAE encoder emits mean and log-variance.
constexpr int64_t kMeanAndLogvar = 2;
// Decoder upsamplers' time_conv doubles the frame count by emitting two frames' channels.
constexpr int64_t kTimeUpsampleFactor = 2;
constexpr int64_t kConvKernel = 3;  // every non-1×1 VAE convolution is 3 wide (3×3×3, 3×3, or 3×1×1 in time)

class KeyList {
 public:
  void add(std::string key, Shape shape) { list_.push_back({std::move(key), std::move(shape)}); }
  // Linear layer: weight [out, in] and, unless bias is false, bias [out].
  void linear(const std::string& prefix, int64_t out, int64_t in, bool bias = true) {
    add(prefix + ".weight", {out, in});
    if (bias) add(prefix + ".bias", {out});
  }
  // Convolution with bias: weight [out, in, kernel...].
  void conv(const std::string& prefix, int64_t out, int64_t in, const Shape& kernel) {
    Shape shape = {out, in};
    shape.insert(shape.end(), kernel.begin(), kernel.end());
    add(prefix + ".weight", std::move(shape));
    add(prefix + ".bias", {out});
  }
  std::vector<ExpectedTensor> take() { return std::move(list_); }

 private:
  std::vector<ExpectedTensor> list_;
};

const Shape kConv3d = {kConvKernel, kConvKernel, kConvKernel};
const Shape kConv2d = {kConvKernel, kConvKernel};
const Shape kPointwise3d = {1, 1, 1};
const Shape kPointwise2d = {1, 1};
const Shape kTimeConv = {kConvKernel, 1, 1};

// QwenImageResidualBlock (spec §4.3): gammas are [C,1,1,1].
void vae_residual(KeyList& k, const std::string& p, int64_t in, int64_t out) {
  k.add(p + ".norm1.gamma", {in, 1, 1, 1});
  k.conv(p + ".conv1", out, in, kConv3d);
  k.add(p + ".norm2.gamma", {out, 1, 1, 1});
  k.conv(p + ".conv2", out, out, kConv3d);
  if (in != out) k.conv(p + ".conv_shortcut", out, in, kPointwise3d);
}

// QwenImageAttentionBlock (spec §4.4): 2-D 1×1 convs, gamma [C,1,1].
void vae_attention(KeyList& k, const std::string& p, int64_t c) {
  k.add(p + ".norm.gamma", {c, 1, 1});
  k.conv(p + ".to_qkv", kQkv * c, c, kPointwise2d);
  k.conv(p + ".proj", c, c, kPointwise2d);
}

void vae_mid_block(KeyList& k, const std::string& p, int64_t c) {
  vae_residual(k, p + ".resnets.0", c, c);
  vae_attention(k, p + ".attentions.0", c);
  vae_residual(k, p + ".resnets.1", c, c);
}

void vae_decoder(KeyList& k, const VaeConfig& c) {
  const int64_t z = c.z_dim;
  const size_t stages = c.dim_mult.size();
  // diffusers: dims = [base·m for m in [dim_mult[-1]] + dim_mult[::-1]]
  std::vector<int64_t> dims = {int64_t(c.base_dim) * c.dim_mult.back()};
  for (size_t i = stages; i-- > 0;) dims.push_back(int64_t(c.base_dim) * c.dim_mult[i]);

  k.conv("post_quant_conv", z, z, kPointwise3d);
  k.conv("decoder.conv_in", dims[0], z, kConv3d);
  vae_mid_block(k, "decoder.mid_block", dims[0]);
  for (size_t i = 0; i < stages; ++i) {
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    // Every stage after the first receives the previous upsampler's halved channels.
    int64_t in = i > 0 ? dims[i] / 2 : dims[i];
    const int64_t out = dims[i + 1];
    for (int j = 0; j <= c.num_res_blocks; ++j, in = out) vae_residual(k, p + ".resnets." + std::to_string(j), in, out);
    if (i + 1 == stages) continue;
    k.conv(p + ".upsamplers.0.resample.1", out / 2, out, kConv2d);
    // The decoder upsamples in time where the encoder downsampled, in reverse stage order.
    if (c.temperal_downsample[stages - 2 - i])
      k.conv(p + ".upsamplers.0.time_conv", kTimeUpsampleFactor * out, out, kTimeConv);
  }
  k.add("decoder.norm_out.gamma", {dims.back(), 1, 1, 1});
  k.conv("decoder.conv_out", kImageChannels, dims.back(), kConv3d);
}

void vae_encoder(KeyList& k, const VaeConfig& c) {
  const int64_t z2 = kMeanAndLogvar * c.z_dim;
  const size_t stages = c.dim_mult.size();
  // diffusers: dims = [base·m for m in [1] + dim_mult]
  std::vector<int64_t> dims = {c.base_dim};
  for (int m : c.dim_mult) dims.push_back(int64_t(c.base_dim) * m);

  k.conv("encoder.conv_in", dims[0], c.input_channels, kConv3d);
  int block = 0;
  for (size_t i = 0; i < stages; ++i) {
    int64_t in = dims[i];
    const int64_t out = dims[i + 1];
    for (int j = 0; j < c.num_res_blocks; ++j, in = out)
      vae_residual(k, "encoder.down_blocks." + std::to_string(block++), in, out);
    if (i + 1 == stages) continue;
    const std::string p = "encoder.down_blocks." + std::to_string(block++);
    k.conv(p + ".resample.1", out, out, kConv2d);
    if (c.temperal_downsample[i]) k.conv(p + ".time_conv", out, out, kTimeConv);
  }
  vae_mid_block(k, "encoder.mid_block", dims.back());
  k.add("encoder.norm_out.gamma", {dims.back(), 1, 1, 1});
  k.conv("encoder.conv_out", z2, dims.back(), kConv3d);
  k.conv("quant_conv", z2, z2, kPointwise3d);
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace

std::vector<std::string> expected_keys(const std::vector<ExpectedTensor>& expected, const std::string& except) {
  std::vector<std::string> keys;
  for (const ExpectedTensor& e : expected)
    if (e.key != except) keys.push_back(e.key);
  return keys;
}

std::vector<ExpectedTensor> expected_transformer_tensors(const TransformerConfig& c) {
  const int64_t d = c.hidden(), ffn = c.ffn_hidden(), joint = c.joint_attention_dim;
  const int64_t patch_out = int64_t(c.patch_size) * c.patch_size * c.out_channels;
  KeyList k;
  k.linear("time_text_embed.timestep_embedder.linear_1", d, c.timestep_channels);
  k.linear("time_text_embed.timestep_embedder.linear_2", d, d);
  k.add("txt_norm.weight", {joint});
  k.linear("img_in", d, c.in_channels);
  k.linear("txt_in", d, joint);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    k.linear(p + "img_mod.1", kModulationParams * d, d);
    k.linear(p + "txt_mod.1", kModulationParams * d, d);
    for (const char* proj : {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"})
      k.linear(p + "attn." + proj, d, d);
    for (const char* norm : {"norm_q", "norm_k", "norm_added_q", "norm_added_k"})
      k.add(p + "attn." + norm + ".weight", {c.attention_head_dim});
    for (const char* mlp : {"img_mlp", "txt_mlp"}) {
      k.linear(p + mlp + ".net.0.proj", ffn, d);
      k.linear(p + mlp + ".net.2", d, ffn);
    }
  }
  k.linear("norm_out.linear", kNormOutParams * d, d);
  k.linear("proj_out", patch_out, d);
  return k.take();
}

std::vector<ExpectedTensor> expected_vae_tensors(const VaeConfig& c, bool include_encoder) {
  KeyList k;
  if (include_encoder) vae_encoder(k, c);
  vae_decoder(k, c);
  return k.take();
}

std::vector<ExpectedTensor> expected_text_encoder_tensors(const TextEncoderConfig& c, const std::string& prefix) {
  const int64_t hidden = c.hidden_size, head_dim = c.head_dim();
  const int64_t q_dim = int64_t(c.num_attention_heads) * head_dim, kv_dim = int64_t(c.num_key_value_heads) * head_dim;
  KeyList k;
  k.add(prefix + kTextEmbeddingKey, {c.vocab_size, hidden});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    k.add(p + "input_layernorm.weight", {hidden});
    k.linear(p + "self_attn.q_proj", q_dim, hidden);
    k.linear(p + "self_attn.k_proj", kv_dim, hidden);
    k.linear(p + "self_attn.v_proj", kv_dim, hidden);
    k.linear(p + "self_attn.o_proj", hidden, q_dim, /*bias=*/false);
    k.add(p + "post_attention_layernorm.weight", {hidden});
    k.linear(p + "mlp.gate_proj", c.intermediate_size, hidden, /*bias=*/false);
    k.linear(p + "mlp.up_proj", c.intermediate_size, hidden, /*bias=*/false);
    k.linear(p + "mlp.down_proj", hidden, c.intermediate_size, /*bias=*/false);
  }
  k.add(prefix + "norm.weight", {hidden});
  return k.take();
}

std::string text_encoder_prefix(const TensorStore& store) {
  for (const char* prefix : {"model.language_model.", "model."})
    if (store.has(std::string(prefix) + kTextEmbeddingKey)) return prefix;
  throw InputError("text encoder weights in " + store.location().string() +
                   " hold neither model.language_model.embed_tokens.weight (transformers 5 layout) nor "
                   "model.embed_tokens.weight (legacy layout)");
}

bool is_ignored_text_encoder_key(const std::string& key) {
  return starts_with(key, "lm_head.") || starts_with(key, "model.visual.") || starts_with(key, "visual.");
}

bool is_vae_encoder_key(const std::string& key) {
  return starts_with(key, "encoder.") || starts_with(key, "quant_conv.");
}

void check_tensors(const TensorStore& store, const std::vector<ExpectedTensor>& expected, IgnorePredicate ignored,
                   const std::string& component) {
  std::vector<std::string> problems;
  std::map<std::string, const Shape*> wanted;
  for (const auto& e : expected) {
    wanted.emplace(e.key, &e.shape);
    if (!store.has(e.key)) {
      problems.push_back("missing " + e.key + " (expected " + shape_str(e.shape) + ")");
      continue;
    }
    const TensorView& v = store.get(e.key);
    const std::string where = e.key + " in " + v.file.filename().string();
    if (v.shape != e.shape)
      problems.push_back(where + " has shape " + shape_str(v.shape) + ", expected " + shape_str(e.shape));
    if (!is_float(v.dtype))
      problems.push_back(where + " has dtype " + std::string(dtype_name(v.dtype)) + ", expected F32, F16 or BF16");
  }
  for (const auto& name : store.names()) {
    if (wanted.count(name) || (ignored && ignored(name))) continue;
    const TensorView& v = store.get(name);
    problems.push_back("unexpected " + name + " " + shape_str(v.shape) + " in " + v.file.filename().string());
  }
  if (problems.empty()) return;
  std::string message = component + " weights in " + store.location().string() + " do not match its config (" +
                        std::to_string(problems.size()) + (problems.size() == 1 ? " problem):" : " problems):");
  for (const auto& p : problems) message += "\n  " + p;
  throw InputError(message);
}

}  // namespace qi

#include "model/text_encoder.h"

#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "io/weight_map.h"
#include "model/rope_tables.h"
#include "model/weight_loader.h"

namespace qi {

std::vector<Tensor*> TextEncoder::streamed_weights(Layer& l) {
  return {&l.q_w, &l.k_w, &l.v_w, &l.o_w, &l.gate_w, &l.up_w, &l.down_w};
}

Tensor TextEncoder::apply(const Tensor& w, const Tensor& x, const MatmulArgs& args) const {
  layers_.pump();
  return backend_.matmul(x, w, args);
}

std::vector<std::string> TextEncoder::keys_read_at_load(const TextEncoderConfig& config, const TensorStore& store) {
  const std::string prefix = text_encoder_prefix(store);
  return expected_keys(expected_text_encoder_tensors(config, prefix), prefix + kTextEmbeddingKey);
}

TextEncoder::TextEncoder(const TextEncoderConfig& config, const TensorStore& store, Backend& backend,
                         const BlockOffload& offload)
    : config_(config),
      store_(store),
      backend_(backend),
      layers_(backend, offload, config.num_hidden_layers, &TextEncoder::streamed_weights) {
  prefix_ = text_encoder_prefix(store);
  check_tensors(store, expected_text_encoder_tensors(config, prefix_), is_ignored_text_encoder_key, "text_encoder");
  WeightLoader w(store, backend, "text_encoder");
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = prefix_ + "layers." + std::to_string(l) + ".";
    w.set_host(layers_.host(l));
    Layer L;
    L.input_norm = w.vector(p + "input_layernorm.weight");
    L.q_w = w.matrix(p + "self_attn.q_proj.weight");
    L.q_b = w.vector(p + "self_attn.q_proj.bias");
    L.k_w = w.matrix(p + "self_attn.k_proj.weight");
    L.k_b = w.vector(p + "self_attn.k_proj.bias");
    L.v_w = w.matrix(p + "self_attn.v_proj.weight");
    L.v_b = w.vector(p + "self_attn.v_proj.bias");
    L.o_w = w.matrix(p + "self_attn.o_proj.weight");
    L.post_norm = w.vector(p + "post_attention_layernorm.weight");
    L.gate_w = w.matrix(p + "mlp.gate_proj.weight");
    L.up_w = w.matrix(p + "mlp.up_proj.weight");
    L.down_w = w.matrix(p + "mlp.down_proj.weight");
    layers_.push_back(std::move(L));
  }
  final_norm_ = w.vector(prefix_ + "norm.weight");
  stats_ = w.stats();
  if (layers_.stream()) log_info(offload_summary());
}

Tensor TextEncoder::encode(const std::vector<int32_t>& ids, const TensorSink& sink, const std::string& prefix) const {
  const int64_t T = int64_t(ids.size());
  const int64_t hidden = config_.hidden_size, hd = config_.head_dim();
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  if (T == 0) throw InputError("text encoder: empty token sequence");

  // Embedding lookup on the host: the table (152064 × 3584) never needs to live on the device.
  WeightLoader w(store_, backend_, "text_encoder");
  std::vector<float> emb(size_t(T * hidden));
  for (int64_t t = 0; t < T; ++t) {
    if (ids[size_t(t)] < 0 || ids[size_t(t)] >= config_.vocab_size)
      throw InputError("text encoder: token id " + std::to_string(ids[size_t(t)]) + " outside the vocabulary");
    std::vector<float> row = w.host_rows_f32(prefix_ + kTextEmbeddingKey, ids[size_t(t)], 1);
    std::copy(row.begin(), row.end(), emb.begin() + t * hidden);
  }
  Tensor x = backend_.from_host_f32(emb, {T, hidden});
  emit(sink, prefix + ".hidden_states.0", x);

  const std::vector<float> rope = halfsplit_rope_table(T, int(hd), config_.rope_theta);
  const Tensor rope_table = backend_.from_host_f32(rope, {T, hd / 2, 2});
  AttentionArgs attn;
  attn.scale = float(1.0 / std::sqrt(double(hd)));
  attn.causal = true;

  Layer staged;  // a streamed layer with its device slot's weights
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_.get(l, staged);
    Tensor h = backend_.rms_norm(x, L.input_norm, config_.rms_norm_eps);
    Tensor q = apply(L.q_w, h, {.bias = L.q_b}).reshape({1, T, heads, hd});
    Tensor k = apply(L.k_w, h, {.bias = L.k_b}).reshape({1, T, kv_heads, hd});
    Tensor v = apply(L.v_w, h, {.bias = L.v_b}).reshape({1, T, kv_heads, hd});
    q = backend_.rope(q, rope_table, RopeStyle::HalfSplit);
    k = backend_.rope(k, rope_table, RopeStyle::HalfSplit);
    Tensor a = backend_.attention(q, k, v, attn).reshape({T, hidden});
    x = apply(L.o_w, a, {.residual = x});

    h = backend_.rms_norm(x, L.post_norm, config_.rms_norm_eps);
    Tensor gate = apply(L.gate_w, h, {.act = Activation::Silu});
    Tensor up = apply(L.up_w, h);
    x = apply(L.down_w, backend_.binary(gate, up, BinaryOp::Mul), {.residual = x});
    if (l + 1 < layers_.size()) emit(sink, prefix + ".hidden_states." + std::to_string(l + 1), x);
  }
  x = backend_.rms_norm(x, final_norm_, config_.rms_norm_eps);
  emit(sink, prefix + ".hidden_states." + std::to_string(layers_.size()), x);
  return x;
}

}  // namespace qi

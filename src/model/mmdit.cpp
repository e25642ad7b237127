#include "model/mmdit.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "io/weight_map.h"
#include "model/rope_tables.h"
#include "model/weight_loader.h"

namespace qi {

namespace {
// Modulation chunk order of a block (spec §3.5): shift, scale, gate for attention, then for the MLP.
enum ModChunk { kShift1 = 0, kScale1, kGate1, kShift2, kScale2, kGate2, kModChunks };
// norm_out's chunk order is scale first, then shift (spec §3.8).
enum OutChunk { kOutScale = 0, kOutShift, kOutChunks };
// diffusers Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0, scale=1000), max period 10000.
constexpr float kTimestepScale = 1000.0f;
constexpr float kTimestepMaxPeriod = 10000.0f;
// Weight streaming: the next block's matrices are copied while this block runs, each copy recorded just
// before one of the block's large matmuls, the image-stream GEMMs (N×3072 by 3072×3072 for q/k/v/out,
// N×3072 by 3072×12288 and back for the MLP), so that a GPU can run it while the GEMM computes: two
// weights before each projection (the image and text weights of that projection, 2×19 MB; the six of q, k
// and v before their one modulated_matmul_many), three for each MLP matmul (an MLP weight of each stream and a
// modulation weight, 2×75 + 113 MB; the six before the one modulated_mlp). 4·2 + 2·3 = 14: every streamed
// weight, in the order below.
constexpr int kCopiesBeforeProjection = 2, kCopiesBeforeMlp = 3;
}  // namespace

Mmdit::Linear Mmdit::linear(WeightLoader& w, const std::string& key) const {
  return {w.matrix(key + ".weight"), w.vector(key + ".bias")};
}

std::vector<Tensor*> Mmdit::streamed_weights(Block& b) {
  return {&b.img.q.w,   &b.txt.q.w,      &b.img.k.w,      &b.txt.k.w,     &b.img.v.w,       &b.txt.v.w,       &b.img.out.w,
          &b.txt.out.w, &b.img.mlp_in.w, &b.txt.mlp_in.w, &b.img.mod.w,   &b.img.mlp_out.w, &b.txt.mlp_out.w, &b.txt.mod.w};
}

Tensor Mmdit::apply(const Linear& l, const Tensor& x, MatmulArgs args, int copies) const {
  if (copies) blocks_.pump(copies);
  args.bias = l.b;
  return backend_.matmul(x, l.w, args);
}

Tensor Mmdit::feed_forward(const Stream& s, const Tensor& x, const Tensor& shift, const Tensor& scale, const Tensor& gate,
                           int copies) const {
  if (copies) blocks_.pump(copies);
  const MlpWeights w{s.mlp_in.w, s.mlp_in.b, s.mlp_out.w, s.mlp_out.b, Activation::GeluTanh};
  return backend_.modulated_mlp(x, shift, scale, config_.norm_eps, w, gate);
}

std::vector<std::string> Mmdit::keys_read_at_load(const TransformerConfig& config) {
  return expected_keys(expected_transformer_tensors(config));
}

Mmdit::Mmdit(const TransformerConfig& config, const TensorStore& store, Backend& backend, const BlockOffload& offload)
    : config_(config), backend_(backend), blocks_(backend, offload, config.num_layers, &Mmdit::streamed_weights) {
  check_tensors(store, expected_transformer_tensors(config), nullptr, "transformer");
  WeightLoader w(store, backend, "transformer");
  img_in_ = linear(w, "img_in");
  txt_in_ = linear(w, "txt_in");
  txt_norm_ = w.vector("txt_norm.weight");
  time_1_ = linear(w, "time_text_embed.timestep_embedder.linear_1");
  time_2_ = linear(w, "time_text_embed.timestep_embedder.linear_2");
  norm_out_ = linear(w, "norm_out.linear");
  proj_out_ = linear(w, "proj_out");
  for (int i = 0; i < config.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    w.set_host(blocks_.host(i));
    Block b;
    b.img.mod = linear(w, p + "img_mod.1");
    b.txt.mod = linear(w, p + "txt_mod.1");
    b.img.q = linear(w, p + "attn.to_q");
    b.img.k = linear(w, p + "attn.to_k");
    b.img.v = linear(w, p + "attn.to_v");
    b.txt.q = linear(w, p + "attn.add_q_proj");
    b.txt.k = linear(w, p + "attn.add_k_proj");
    b.txt.v = linear(w, p + "attn.add_v_proj");
    b.img.out = linear(w, p + "attn.to_out.0");
    b.txt.out = linear(w, p + "attn.to_add_out");
    b.img.norm_q = w.vector(p + "attn.norm_q.weight");
    b.img.norm_k = w.vector(p + "attn.norm_k.weight");
    b.txt.norm_q = w.vector(p + "attn.norm_added_q.weight");
    b.txt.norm_k = w.vector(p + "attn.norm_added_k.weight");
    b.img.mlp_in = linear(w, p + "img_mlp.net.0.proj");
    b.img.mlp_out = linear(w, p + "img_mlp.net.2");
    b.txt.mlp_in = linear(w, p + "txt_mlp.net.0.proj");
    b.txt.mlp_out = linear(w, p + "txt_mlp.net.2");
    blocks_.push_back(std::move(b));
  }
  stats_ = w.stats();
  if (blocks_.stream()) log_info(offload_summary());
}

Mmdit::Context Mmdit::prepare(const Tensor& prompt_embeds, int64_t hp, int64_t wp) const {
  if (prompt_embeds.rank() != 2 || prompt_embeds.dim(1) != config_.joint_attention_dim)
    throw InputError("transformer: prompt embeddings " + prompt_embeds.describe() + " do not match joint_attention_dim " +
                     std::to_string(config_.joint_attention_dim));
  Context c;
  c.hp = hp;
  c.wp = wp;
  c.text_len = prompt_embeds.dim(0);
  const int64_t pairs = config_.attention_head_dim / 2;
  MmditRopeTables t = mmdit_rope_tables(config_.axes_dims_rope, config_.rope_theta, hp, wp, c.text_len);
  c.image_rope = backend_.from_host_f32(t.image, {hp * wp, pairs, 2});
  c.text_rope = backend_.from_host_f32(t.text, {c.text_len, pairs, 2});
  Tensor txt = backend_.rms_norm(prompt_embeds, txt_norm_, config_.norm_eps);
  c.text = apply(txt_in_, txt);
  return c;
}

AttentionOperands Mmdit::project_qkv(const Stream& s, const Tensor& x, const Tensor& shift, const Tensor& scale,
                                     int64_t batch, int64_t len, const Tensor& rope, int copies) const {
  const int64_t H = config_.num_attention_heads, hd = config_.attention_head_dim;
  // One call for the three projections of the modulated x (a backend prepares it once); the weight copies
  // that would have been recorded before each of them go before it.
  constexpr int kProjections = 3;
  if (copies) blocks_.pump(kProjections * copies);
  const Tensor w[kProjections] = {s.q.w, s.k.w, s.v.w};
  const MatmulArgs args[kProjections] = {{.bias = s.q.b}, {.bias = s.k.b}, {.bias = s.v.b}};
  const std::vector<Tensor> y = backend_.modulated_matmul_many(x, shift, scale, config_.norm_eps, w, args);
  // The per-head Q/K norm and RoPE go with the operands: the attention applies them (a backend may fold
  // them into its operand packing).
  return AttentionOperands{y[0].reshape({batch, len, H, hd}), y[1].reshape({batch, len, H, hd}),
                           y[2].reshape({batch, len, H, hd}),
                           {s.norm_q, s.norm_k, rope, config_.norm_eps, RopeStyle::Interleaved}};
}

Tensor Mmdit::forward(const Tensor& latents, float timestep, const Context& ctx, const TensorSink& sink,
                      const std::string& prefix, Modulation* modulation) const {
  const Context* contexts[] = {&ctx};
  const std::string prefixes[] = {prefix};
  return forward_batch(latents, timestep, contexts, sink, prefixes, modulation).front();
}

std::vector<Tensor> Mmdit::forward_batch(const Tensor& latents, float timestep, std::span<const Context* const> contexts,
                                         const TensorSink& sink, std::span<const std::string> prefixes,
                                         Modulation* modulation) const {
  if (contexts.empty()) throw InputError("transformer: a batch needs at least one prompt");
  const Context& first = *contexts.front();
  const int64_t D = config_.hidden(), N = first.hp * first.wp, B = int64_t(contexts.size());
  if (latents.rank() != 2 || latents.dim(0) != N || latents.dim(1) != config_.in_channels)
    throw InputError("transformer: latents " + latents.describe() + " do not match the " + std::to_string(first.hp) +
                     "x" + std::to_string(first.wp) + " patch grid");
  // The batch's text length L (the longest prompt's; its RoPE table covers the shorter ones', whose positions
  // are its first ones) and the key mask when a prompt is shorter: its padding rows are no keys.
  const Context* longest = &first;
  for (const Context* c : contexts) {
    if (c->hp != first.hp || c->wp != first.wp)
      throw InputError("transformer: the prompts of a batch must share one patch grid");
    if (c->text_len > longest->text_len) longest = c;
  }
  const int64_t L = longest->text_len;
  const float eps = config_.norm_eps;
  AttentionArgs attn;
  attn.scale = float(1.0 / std::sqrt(double(config_.attention_head_dim)));
  if (std::any_of(contexts.begin(), contexts.end(), [&](const Context* c) { return c->text_len < L; })) {
    std::vector<float> mask(size_t(B * (L + N)), 1.0f);  // keys text first, then image (joint_attention)
    for (int64_t b = 0; b < B; ++b)
      std::fill(mask.begin() + b * (L + N) + contexts[size_t(b)]->text_len, mask.begin() + b * (L + N) + L, 0.0f);
    attn.key_mask = backend_.from_host_f32(mask, {B, L + N});
  }

  // The modulation vectors: reused from `modulation` where it holds this timestep's, else computed from the
  // timestep embedding temb [1, D] (every modulation uses SiLU(temb)) and, given `modulation`, kept there.
  // One set serves the whole batch (one timestep).
  const bool reuse = modulation && modulation->filled && modulation->timestep == timestep &&
                     modulation->img.size() == blocks_.size() && modulation->txt.size() == blocks_.size();
  Modulation computed;
  Tensor silu_temb;
  if (!reuse) {
    Tensor t = backend_.from_host_f32({timestep}, {1});
    Tensor e = backend_.timestep_embedding(t, config_.timestep_channels, kTimestepScale, kTimestepMaxPeriod);
    Tensor temb = apply(time_1_, e, {.act = Activation::Silu});
    temb = apply(time_2_, temb);
    silu_temb = backend_.unary(temb, UnaryOp::Silu);
    computed.filled = true;
    computed.timestep = timestep;
  }
  const Modulation& mods = reuse ? *modulation : computed;

  // The streams of the batch, prompt after prompt: the image rows [B·N, D] (every prompt sees the same
  // latents) and the text rows [B·L, D], each prompt's padded to L.
  Tensor img = apply(img_in_, latents), txt;
  if (B > 1) {
    const Tensor one = img;
    for (int64_t b = 1; b < B; ++b) img = backend_.concat(img, one, 0);
  }
  for (int64_t b = 0; b < B; ++b) {
    const Context& c = *contexts[size_t(b)];
    Tensor rows = c.text;
    if (c.text_len < L)
      rows = backend_.concat(rows, backend_.from_host_f32(std::vector<float>(size_t((L - c.text_len) * D), 0.0f),
                                                          {L - c.text_len, D}), 0);
    txt = b == 0 ? rows : backend_.concat(txt, rows, 0);
  }
  // Each prompt's rows of the streams for the sink (slices only when there is one).
  auto emit_block = [&](size_t bi) {
    if (!sink) return;
    for (int64_t b = 0; b < B && size_t(b) < prefixes.size(); ++b) {
      const std::string name = prefixes[size_t(b)] + ".block" + std::to_string(bi);
      const int64_t len = contexts[size_t(b)]->text_len;
      emit(sink, name + ".txt", B == 1 ? txt : backend_.slice(txt, 0, b * L, len));
      emit(sink, name + ".img", B == 1 ? img : backend_.slice(img, 0, b * N, N));
    }
  };

  Block staged;  // a streamed block with its device slot's weights
  for (size_t bi = 0; bi < blocks_.size(); ++bi) {
    const Block& b = blocks_.get(bi, staged);
    const bool last = bi + 1 == blocks_.size();
    if (!reuse) {
      computed.img.push_back(backend_.chunk(apply(b.img.mod, silu_temb), -1, kModChunks));
      computed.txt.push_back(backend_.chunk(apply(b.txt.mod, silu_temb), -1, kModChunks));
    }
    const std::vector<Tensor>& mod_img = mods.img[bi];
    const std::vector<Tensor>& mod_txt = mods.txt[bi];

    // Joint attention, text first; the modulated norms feed the projections directly. Each activation is
    // let go as soon as it has been read (q, k and v after the attention, its image output after the
    // projection), so that the peak of the block (the MLP's) holds only what is still needed.
    AttentionSplit o;
    {
      const AttentionOperands qkv_img = project_qkv(b.img, img, mod_img[kShift1], mod_img[kScale1], B, N,
                                                    first.image_rope, kCopiesBeforeProjection);
      const AttentionOperands qkv_txt =
          project_qkv(b.txt, txt, mod_txt[kShift1], mod_txt[kScale1], B, L, longest->text_rope, 0);
      o = backend_.joint_attention(qkv_txt, qkv_img, attn);
    }
    img = apply(b.img.out, o.second.reshape({B * N, D}), {.residual = img, .gate = mod_img[kGate1].reshape({D})},
                kCopiesBeforeProjection);
    o.second = Tensor();

    // The copies recorded before each of the two MLP matmuls go before the one feed-forward call.
    img = feed_forward(b.img, img, mod_img[kShift2], mod_img[kScale2], mod_img[kGate2].reshape({D}),
                       2 * kCopiesBeforeMlp);

    // After the last block only the image stream is read (spec §3.5): its text-side tail is skipped unless
    // a sink wants to see it.
    if (!last || sink) {
      Tensor o_txt = o.first.reshape({B * L, D});
      txt = apply(b.txt.out, o_txt, {.residual = txt, .gate = mod_txt[kGate1].reshape({D})});
      txt = feed_forward(b.txt, txt, mod_txt[kShift2], mod_txt[kScale2],
                         mod_txt[kGate2].reshape({D}));
    }
    emit_block(bi);
  }

  if (!reuse) computed.out = backend_.chunk(apply(norm_out_, silu_temb), -1, kOutChunks);
  Tensor y = backend_.layer_norm_modulate(img, mods.out[kOutShift], mods.out[kOutScale], eps);
  static_assert(kOutChunks == 2 && kModChunks == 6, "modulation layouts of spec §3.5 / §3.8");
  if (modulation && !reuse) *modulation = std::move(computed);
  y = apply(proj_out_, y);
  if (B == 1) return {y};
  std::vector<Tensor> velocities;
  for (int64_t b = 0; b < B; ++b) velocities.push_back(backend_.slice(y, 0, b * N, N));
  return velocities;
}

}  // namespace qi

// `qwen-image-vk bench kernels`: every op on the model's real shapes, timed with device timestamps
// (Backend::op_timings), medians over repeats after warm-up, with TFLOP/s or GB/s and the ratio to the
// cuBLAS/SDPA rates in ../shared/reference/anchors.json where the shape has one.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/bench_commands.h"
#include "bench/bench_support.h"
#include "cli/args.h"
#include "cli/backend_choice.h"
#include "core/error.h"

namespace qi::bench {

namespace {

// Text tokens in the anchors' attention shapes (S4352 = 4096 + 256, S7145 = 6889 + 256).
constexpr int64_t kAnchorTextTokens = 256;
constexpr int64_t kImageTokens512 = 1024;   // (512/16)²
constexpr int64_t kImageTokens1024 = 4096;  // (1024/16)²
constexpr int64_t kImageTokens1328 = 6889;  // (1328/16)²
constexpr int kDefaultRepeats = 10;
constexpr int kWarmups = 2;

struct Case {
  std::string op, shape;
  double flops = 0, bytes = 0;     // work of one run
  std::string anchor_key;          // key in anchors.json ("" = none)
  std::function<void()> run;
};

struct Result {
  Case c;
  std::string variant;  // "" = the automatic choice
  double median_ms = 0;
  // Where one run's device time went when the op recorded several timed parts (e.g. matmul and its
  // activation packing): op name and median ms.
  std::vector<std::pair<std::string, double>> parts;
};

// Ops whose every variant is timed (the others run their automatic choice).
bool times_every_variant(const std::string& op) {
  return op == "matmul" || op == "modulated_matmul" || op == "modulated_mlp" || op == "attention" || op == "joint_attention" || op == "conv3d";
}

Tensor random_tensor(Backend& b, const Shape& shape, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = u(rng);
  return b.from_host_f32(v, shape);
}

Tensor random_weight(Backend& b, const Shape& shape, std::mt19937& rng) {
  std::normal_distribution<float> n(0.0f, 0.02f);
  std::vector<uint16_t> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = f32_to_bf16(n(rng));
  return b.upload_weight(v.data(), DType::BF16, shape);
}

// The anchor rate (TFLOP/s) for a key, or 0.
double anchor_rate(const nlohmann::json& anchors, const std::string& key) {
  if (key.empty() || anchors.is_null()) return 0;
  const auto& ref = anchors.value("cublas_and_sdpa_on_H100_80GB_HBM3", nlohmann::json::object());
  for (const char* table : {"matmul_bf16_TFLOPs", "sdpa_bf16_TFLOPs"})
    if (ref.contains(table) && ref[table].contains(key)) return ref[table][key].get<double>();
  return 0;
}

struct GemmShape {
  int64_t M, N, K;
};

// One timed GEMM y[M, N] = x[M, K] · w[N, K]ᵀ + bias (bf16 weights, as the model's).
Case gemm_case(Backend& b, const GemmShape& s, const std::string& what, Activation act, std::mt19937& rng) {
  Tensor x = random_tensor(b, {s.M, s.K}, rng), w = random_weight(b, {s.N, s.K}, rng);
  Tensor bias = random_tensor(b, {s.N}, rng, 0.1f);
  Case c;
  c.op = "matmul";
  c.anchor_key = std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K);
  c.shape = what.empty() ? c.anchor_key : c.anchor_key + " " + what;
  c.flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
  c.run = [&b, x, w, bias, act] { b.matmul(x, w, {.bias = bias, .act = act}); };
  return c;
}

// "MxNxK[,MxNxK...]" (--matmul-shapes).
std::vector<GemmShape> parse_gemm_shapes(const std::string& list) {
  std::vector<GemmShape> shapes;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    long long m = 0, n = 0, k = 0;
    char tail = 0;
    if (std::sscanf(item.c_str(), "%lldx%lldx%lld%c", &m, &n, &k, &tail) != 3 || m <= 0 || n <= 0 || k <= 0)
      throw UsageError("--matmul-shapes: '" + item + "' is not MxNxK with positive sizes");
    shapes.push_back({m, n, k});
    start = end + 1;
  }
  return shapes;
}

// What to build cases for: the ops --only names (every op when empty) and the GEMM shapes of
// --matmul-shapes (the model's when empty). Only the chosen cases allocate their tensors.
struct CaseChoice {
  std::string only;  // ",op,op,", or "" for every op
  std::vector<GemmShape> gemm_shapes;
  bool wants(const std::string& op) const { return only.empty() || only.find("," + op + ",") != std::string::npos; }
};

std::vector<Case> make_cases(Backend& b, bool small, const CaseChoice& choice, std::mt19937& rng) {
  std::vector<Case> cases;
  const int64_t D = 3072, F = 12288, heads = 24, hd = 128;
  const std::vector<int64_t> token_counts = small ? std::vector<int64_t>{64} : std::vector<int64_t>{kImageTokens1024, kImageTokens1328};
  const int64_t dim = small ? 256 : D, ffn = small ? 1024 : F;

  const std::vector<int64_t> gemm_token_counts =
      small ? token_counts : std::vector<int64_t>{kImageTokens512, kImageTokens1024, kImageTokens1328};
  if (choice.wants("matmul") && !choice.gemm_shapes.empty()) {
    for (const GemmShape& s : choice.gemm_shapes) cases.push_back(gemm_case(b, s, "", Activation::None, rng));
  } else if (choice.wants("matmul")) {
    struct G {
      const char* what;
      int64_t N, K;
      Activation act;
    };
    for (int64_t M : gemm_token_counts)
      for (const G& g : {G{"qkv/out proj", dim, dim, Activation::None}, G{"mlp up (gelu)", ffn, dim, Activation::GeluTanh},
                         G{"mlp down", dim, ffn, Activation::None}})
        cases.push_back(gemm_case(b, {M, g.N, g.K}, g.what, g.act, rng));
    // The skinny modulation GEMM: one row against a 3072×18432 weight (bandwidth-bound).
    const int64_t N = 6 * dim;
    Tensor x = random_tensor(b, {1, dim}, rng), w = random_weight(b, {N, dim}, rng);
    Case c;
    c.op = "matmul";
    c.shape = "1x" + std::to_string(N) + "x" + std::to_string(dim) + " modulation";
    c.flops = 2.0 * double(N) * double(dim);
    c.bytes = double(N) * double(dim) * 2;
    c.run = [&b, x, w] { b.matmul(x, w); };
    cases.push_back(c);
  }
  for (int64_t M : choice.wants("modulated_matmul") ? token_counts : std::vector<int64_t>{}) {
    // The image stream's Q/K/V projections of its modulated norm: layer_norm_modulate and three GEMMs, with
    // the norm fused into the GEMMs' input pass where the backend does that.
    Tensor x = random_tensor(b, {M, dim}, rng), shift = random_tensor(b, {1, dim}, rng),
           scale = random_tensor(b, {1, dim}, rng);
    std::vector<Tensor> w;
    for (int i = 0; i < 3; ++i) w.push_back(random_weight(b, {dim, dim}, rng));
    Case c;
    c.op = "modulated_matmul";
    c.shape = std::to_string(M) + "x" + std::to_string(dim) + " -> 3x" + std::to_string(dim) + " (qkv)";
    c.flops = 3 * 2.0 * double(M) * double(dim) * double(dim);
    c.run = [&b, x, shift, scale, w] {
      const MatmulArgs args[3];
      b.modulated_matmul_many(x, shift, scale, 1e-6f, w, args);
    };
    cases.push_back(c);
  }
  for (int64_t M : choice.wants("modulated_mlp") ? token_counts : std::vector<int64_t>{}) {
    // The image stream's gated feed-forward sub-block: modulated norm, up projection with GELU, down
    // projection with the gated residual.
    Tensor x = random_tensor(b, {M, dim}, rng), shift = random_tensor(b, {1, dim}, rng),
           scale = random_tensor(b, {1, dim}, rng), gate = random_tensor(b, {dim}, rng);
    const MlpWeights w{random_weight(b, {ffn, dim}, rng), random_tensor(b, {ffn}, rng),
                       random_weight(b, {dim, ffn}, rng), random_tensor(b, {dim}, rng), Activation::GeluTanh};
    Case c;
    c.op = "modulated_mlp";
    c.shape = std::to_string(M) + "x" + std::to_string(dim) + " ffn " + std::to_string(ffn);
    c.flops = 2 * 2.0 * double(M) * double(dim) * double(ffn);
    c.run = [&b, x, shift, scale, gate, w] { b.modulated_mlp(x, shift, scale, 1e-6f, w, gate); };
    cases.push_back(c);
  }
  for (int64_t M : choice.wants("attention") ? token_counts : std::vector<int64_t>{}) {
    const int64_t S = M + (small ? 16 : kAnchorTextTokens), H = small ? 4 : heads;
    Tensor q = random_tensor(b, {1, S, H, hd}, rng), k = random_tensor(b, {1, S, H, hd}, rng),
           v = random_tensor(b, {1, S, H, hd}, rng);
    Case c;
    c.op = "attention";
    c.shape = "S" + std::to_string(S) + " heads" + std::to_string(H) + " d" + std::to_string(hd);
    c.flops = 4.0 * double(H) * double(S) * double(S) * double(hd);
    c.anchor_key = "heads" + std::to_string(H) + "_d" + std::to_string(hd) + "_S" + std::to_string(S);
    AttentionArgs a;
    a.scale = float(1.0 / std::sqrt(double(hd)));
    c.run = [&b, q, k, v, a] { b.attention(q, k, v, a); };
    cases.push_back(c);
  }
  for (int64_t M : choice.wants("joint_attention") ? token_counts : std::vector<int64_t>{}) {
    // The same sequences as the attention cases, given as the MMDiT gives them: text and image operands
    // apart, the output split the same way (what concat ×3 + attention + slice ×2 did before).
    const int64_t L = small ? 16 : kAnchorTextTokens, S = M + L, H = small ? 4 : heads;
    auto operands = [&](int64_t len) {
      return AttentionOperands{random_tensor(b, {1, len, H, hd}, rng), random_tensor(b, {1, len, H, hd}, rng),
                               random_tensor(b, {1, len, H, hd}, rng)};
    };
    const AttentionOperands text = operands(L), image = operands(M);
    Case c;
    c.op = "joint_attention";
    c.shape = "S" + std::to_string(L) + "+" + std::to_string(M) + " heads" + std::to_string(H) + " d" + std::to_string(hd);
    c.flops = 4.0 * double(H) * double(S) * double(S) * double(hd);
    c.anchor_key = "heads" + std::to_string(H) + "_d" + std::to_string(hd) + "_S" + std::to_string(S);
    AttentionArgs a;
    a.scale = float(1.0 / std::sqrt(double(hd)));
    c.run = [&b, text, image, a] { b.joint_attention(text, image, a); };
    cases.push_back(c);
    // The same with the MMDiT's per-head Q/K norm and RoPE for the attention to apply (rms_norm_rope of q and
    // k, folded into the operand packing where the backend can).
    auto with_norm = [&](AttentionOperands o, int64_t len) {
      std::vector<float> table(size_t(len * hd), 0.5f);
      o.norm = QkNormRope{random_tensor(b, {hd}, rng), random_tensor(b, {hd}, rng), b.from_host_f32(table, {len, hd / 2, 2})};
      return o;
    };
    const AttentionOperands text_n = with_norm(text, L), image_n = with_norm(image, M);
    Case cn = c;
    cn.shape += " + qk norm/rope";
    cn.anchor_key.clear();
    cn.run = [&b, text_n, image_n, a] { b.joint_attention(text_n, image_n, a); };
    cases.push_back(cn);
  }
  const char* const row_ops[] = {"layer_norm_modulate", "rms_norm", "rope", "rms_norm_rope", "unary gelu",
                                 "binary add"};
  if (std::any_of(std::begin(row_ops), std::end(row_ops), [&](const char* op) { return choice.wants(op); })) {
    // Row-wise memory-bound ops on the image stream.
    const int64_t M = token_counts.back();
    Tensor x = random_tensor(b, {M, dim}, rng), shift = random_tensor(b, {1, dim}, rng), scale = random_tensor(b, {1, dim}, rng);
    Tensor w = random_tensor(b, {hd}, rng);
    Tensor qk = random_tensor(b, {1, M, dim / hd, hd}, rng);
    std::vector<float> table(size_t(M * hd));
    for (auto& t : table) t = 0.5f;
    Tensor rope_table = b.from_host_f32(table, {M, hd / 2, 2});
    const double row_bytes = double(M) * double(dim) * 4;
    cases.push_back({"layer_norm_modulate", std::to_string(M) + "x" + std::to_string(dim), 0, 2 * row_bytes, "",
                     [&b, x, shift, scale] { b.layer_norm_modulate(x, shift, scale, 1e-6f); }});
    cases.push_back({"rms_norm", std::to_string(M) + "x" + std::to_string(dim / hd) + "x" + std::to_string(hd), 0,
                     2 * row_bytes, "", [&b, qk, w] { b.rms_norm(qk, w, 1e-6f); }});
    cases.push_back({"rope", std::to_string(M) + "x" + std::to_string(dim / hd) + "x" + std::to_string(hd), 0,
                     2 * row_bytes, "", [&b, qk, rope_table] { b.rope(qk, rope_table, RopeStyle::Interleaved); }});
    // The MMDiT's Q/K norm and RoPE fused: x read and y written once, as each of the two ops above does alone.
    cases.push_back({"rms_norm_rope", std::to_string(M) + "x" + std::to_string(dim / hd) + "x" + std::to_string(hd), 0,
                     2 * row_bytes, "", [&b, qk, w, rope_table] {
                       b.rms_norm_rope(qk, w, 1e-6f, rope_table, RopeStyle::Interleaved);
                     }});
    cases.push_back({"unary gelu", std::to_string(M) + "x" + std::to_string(dim), 0, 2 * row_bytes, "",
                     [&b, x] { b.unary(x, UnaryOp::GeluTanh); }});
    cases.push_back({"binary add", std::to_string(M) + "x" + std::to_string(dim), 0, 3 * row_bytes, "",
                     [&b, x] { b.binary(x, x, BinaryOp::Add); }});
  }
  if (choice.wants("chunk")) {  // a block's six modulation vectors out of one GEMV output
    constexpr int kParts = 6;
    Tensor m = random_tensor(b, {1, kParts * dim}, rng);
    cases.push_back({"chunk", "1x" + std::to_string(kParts * dim) + " into " + std::to_string(kParts), 0,
                     2.0 * double(kParts * dim) * 4, "", [&b, m] { b.chunk(m, -1, kParts); }});
  }
  if (choice.wants("conv3d")) {  // VAE decoder convolutions at 1024² (single frame: 3×3 kernels, last temporal tap).
    struct V {
      int64_t C_in, C_out, side;
    };
    const std::vector<V> convs = small ? std::vector<V>{{32, 32, 32}}
                                       : std::vector<V>{{384, 384, 128}, {384, 384, 256}, {192, 192, 512}, {96, 96, 1024}};
    for (const V& v : convs) {
      Tensor x = random_tensor(b, {v.C_in, 1, v.side, v.side}, rng);
      Tensor w = random_tensor(b, {v.C_out, v.C_in, 1, 3, 3}, rng, 0.05f), bias = random_tensor(b, {v.C_out}, rng);
      Conv3dArgs a;
      a.pad[1] = a.pad[2] = 1;
      Case c;
      c.op = "conv3d";
      c.shape = std::to_string(v.C_in) + "->" + std::to_string(v.C_out) + " 3x3 @" + std::to_string(v.side) + "²";
      c.flops = 2.0 * double(v.C_out) * double(v.C_in) * 9 * double(v.side * v.side);
      c.run = [&b, x, w, bias, a] { b.conv3d(x, w, bias, a); };
      cases.push_back(c);
    }
  }
  if (choice.wants("attention") && !small) {  // VAE mid-block attention: one head of 384 over 128² pixels.
    const int64_t P = 128 * 128, C = 384;
    Tensor q = random_tensor(b, {1, P, 1, C}, rng);
    AttentionArgs a;
    a.scale = float(1.0 / std::sqrt(double(C)));
    cases.push_back({"attention", "VAE mid S16384 heads1 d384", 4.0 * double(P) * double(P) * double(C), 0, "",
                     [&b, q, a] { b.attention(q, q, q, a); }});
  }
  if (choice.wants("attention") && !small) {
    // Text encoder (Qwen2.5-VL): causal, 28 query heads on 4 KV heads of 128, over a 256-token prompt. The
    // FLOP count is the visible half of the score matrix.
    constexpr int64_t kTokens = 256, kQueryHeads = 28, kKvHeads = 4, kHeadDim = 128;
    Tensor q = random_tensor(b, {1, kTokens, kQueryHeads, kHeadDim}, rng);
    Tensor kv = random_tensor(b, {1, kTokens, kKvHeads, kHeadDim}, rng);
    AttentionArgs a;
    a.scale = float(1.0 / std::sqrt(double(kHeadDim)));
    a.causal = true;
    cases.push_back({"attention", "text encoder S256 heads28/4 d128 causal",
                     2.0 * double(kTokens) * double(kTokens) * double(kQueryHeads) * double(kHeadDim), 0, "",
                     [&b, q, kv, a] { b.attention(q, kv, kv, a); }});
  }
  // Device ceilings (e.g. the tensor cores' register-only multiply-add rate): the bound the kernels above
  // are measured against.
  for (const Backend::CeilingKernel& k : choice.wants("ceiling") ? b.ceiling_kernels() : std::vector<Backend::CeilingKernel>{}) {
    Case c;
    c.op = "ceiling";
    c.shape = k.name;
    c.flops = k.flops;
    c.run = [&b, name = k.name] { b.run_ceiling_kernel(name); };
    cases.insert(cases.begin(), c);
  }
  std::erase_if(cases, [&](const Case& c) { return !choice.wants(c.op); });  // the row-wise group is built whole
  return cases;
}

}  // namespace

int bench_kernels(const std::vector<std::string>& argv) {
  cli::Args args(argv, {"--backend", "--device", "--threads", "--json", "--anchors", "--repeats", "--only", "--matmul-shapes"},
                 {"--help", "--small"});
  if (args.has("--help")) {
    std::printf(
        "usage: qwen-image-vk bench kernels [--backend vulkan|cpu] [--device N] [--small] [--repeats N]\n"
        "                                   [--only OP[,OP...]] [--matmul-shapes MxNxK[,...]] [--anchors FILE]\n"
        "                                   [--json FILE]\n\n"
        "Times every op on the model's real shapes (GEMMs at the 512², 1024² and 1328² token counts, joint attention\n"
        "24 heads x 128, VAE convolutions at 1024²) with device timestamps: median of N runs after %d warm-ups.\n"
        "Prints TFLOP/s or GB/s and the ratio to the cuBLAS/SDPA figure of anchors.json for the same shape;\n"
        "matmul, attention and conv3d are timed once per shader variant the device has.\n"
        "--small uses tiny shapes (for CPU devices such as lavapipe, chosen automatically there).\n"
        "--only times just the named ops (e.g. --only matmul,attention; 'ceiling' names the device's ceiling kernels,\n"
        "such as the tensor cores' register-only multiply-add rate).\n"
        "--matmul-shapes times these GEMMs (x[M, K] times bf16 w[N, K] transposed, with bias) instead of the model's.\n",
        kWarmups);
    return 0;
  }
  auto backend = cli::make_backend(args, true);
  Backend& b = *backend;
  // A CPU device (the CPU backend, lavapipe) would take minutes per model-sized case, and has no clocks to ramp.
  const bool cpu_device = cli::backend_memory_is_system_ram(b, args);
  const bool small = args.has("--small") || cpu_device;
  const double warmup_seconds = clock_warmup_seconds(b, args);
  const int repeats = int(args.get_int("--repeats", 1, 1000).value_or(kDefaultRepeats));
  const nlohmann::json anchors = load_anchors(args);

  std::mt19937 rng(12345);
  CaseChoice choice;
  if (auto only = args.get("--only")) choice.only = "," + *only + ",";
  if (auto list = args.get("--matmul-shapes")) choice.gemm_shapes = parse_gemm_shapes(*list);
  std::vector<Case> cases = make_cases(b, small, choice, rng);
  if (cases.empty()) throw UsageError("--only " + args.get_or("--only", "") + " names no op of this benchmark");
  b.flush();
  const auto warm_start = std::chrono::steady_clock::now();
  while (!cases.empty() && std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count() <
                               warmup_seconds) {
    cases.front().run();
    b.flush();
  }
  std::vector<Result> results;
  for (const Case& c : cases) {
    const bool each = times_every_variant(c.op) && b.variants(c.op).size() > 1;
    const std::vector<std::string> variants = each ? b.variants(c.op) : std::vector<std::string>{""};
    for (const std::string& variant : variants) {
      if (each) b.select_variant(c.op, variant);
      for (int i = 0; i < kWarmups; ++i) c.run();
      b.flush();
      std::vector<double> ms;
      std::map<std::string, std::vector<double>> part_ms;
      for (int r = 0; r < repeats; ++r) {
        b.set_profiling(false);
        b.set_profiling(true);  // restarts the accumulation
        c.run();
        b.flush();
        double total = 0;
        for (const auto& t : b.op_timings()) {
          total += t.total_ms;
          part_ms[t.op].push_back(t.total_ms);
        }
        ms.push_back(total);
      }
      b.set_profiling(false);
      Result result{c, variant, median(ms), {}};
      if (part_ms.size() > 1)
        for (const auto& [op, v] : part_ms) result.parts.emplace_back(op, median(v));
      results.push_back(result);
    }
    if (each) b.select_variant(c.op, "");
  }

  std::printf("device: %s\n%-32s %-34s %10s %12s %10s %12s\n", b.name().c_str(), "op/variant", "shape", "ms", "TFLOP/s",
              "GB/s", "vs anchor");
  nlohmann::json out = nlohmann::json::array();
  for (const Result& r : results) {
    const double s = r.median_ms / 1e3;
    const double tflops = s > 0 ? r.c.flops / s / 1e12 : 0, gbps = s > 0 ? r.c.bytes / s / 1e9 : 0;
    const double anchor = anchor_rate(anchors, r.c.anchor_key);
    char ratio[32] = "";
    if (anchor > 0) std::snprintf(ratio, sizeof ratio, "%.3fx", tflops / anchor);
    const std::string label = r.variant.empty() ? r.c.op : r.c.op + "/" + r.variant;
    std::printf("%-32s %-34s %10.3f %12.2f %10.1f %12s\n", label.c_str(), r.c.shape.c_str(), r.median_ms, tflops, gbps, ratio);
    nlohmann::json parts = nlohmann::json::object();
    for (const auto& [op, ms] : r.parts) {
      std::printf("%-32s %-34s %10.3f\n", ("  of which " + op).c_str(), "", ms);
      parts[op] = ms;
    }
    out.push_back({{"op", r.c.op}, {"variant", r.variant}, {"shape", r.c.shape}, {"median_ms", r.median_ms}, {"tflops", tflops}, {"gbps", gbps},
                   {"anchor_key", r.c.anchor_key}, {"anchor_tflops", anchor}, {"ratio", anchor > 0 ? tflops / anchor : 0},
                   {"parts_ms", parts}});
  }
  if (auto path = args.get("--json")) {
    std::ofstream f(*path);
    f << nlohmann::json{{"device", b.name()}, {"repeats", repeats}, {"results", out}}.dump(1) << "\n";
    if (!f) throw InputError("cannot write " + *path);
  }
  return 0;
}

}  // namespace qi::bench

// Every op of the Vulkan backend against the CPU reference backend, on shapes that exercise the shaders'
// edges (sizes that are not multiples of the tiles, batching, GQA, masks, every weight format, padding and
// caches). Both backends poison their allocations, so an element an op fails to write shows up as NaN.
// (The full cross-backend parity harness lives in tests/ops; this is the Vulkan backend's own check.)
#include <cmath>
#include <cstring>

#include "vulkan/vulkan_test_util.h"

namespace qi::test {
namespace {

// fp32 results computed in a different order than the reference.
constexpr double kRelL2 = 1e-5, kMaxAbsRel = 1e-4;
// fp16 operands (10-bit mantissa) with fp32 accumulation.
constexpr double kHalfRelL2 = 3e-3, kHalfMaxAbsRel = 3e-2;

struct Pair {
  Tensor cpu, gpu;
};

class VulkanOps : public VulkanTest {
 protected:
  void SetUp() override {
    VulkanTest::SetUp();
    cpu = make_cpu_backend(2);
    gpu = make_vulkan_backend(test_vulkan_options());
    cpu->set_poison_allocations(true);
    gpu->set_poison_allocations(true);
  }

  Pair from_values(const std::vector<float>& v, const Shape& s) {
    return {cpu->from_host_f32(v, s), gpu->from_host_f32(v, s)};
  }
  Pair act(const Shape& s, float magnitude = 1.0f) { return from_values(random_floats(rng, shape_numel(s), magnitude), s); }
  // A weight in F32, F16 or BF16 (random values rounded to the format), uploaded to both backends.
  Pair weight(const Shape& s, DType dt, float magnitude = 1.0f) {
    std::vector<float> v = random_floats(rng, shape_numel(s), magnitude);
    if (dt == DType::F32) return {cpu->upload_weight(v.data(), dt, s), gpu->upload_weight(v.data(), dt, s)};
    std::vector<uint16_t> raw(v.size());
    for (size_t i = 0; i < v.size(); ++i) raw[i] = dt == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
    return {cpu->upload_weight(raw.data(), dt, s), gpu->upload_weight(raw.data(), dt, s)};
  }
  void check(const Tensor& c, const Tensor& g, const std::string& what, double rel_l2 = kRelL2,
             double max_abs_rel = kMaxAbsRel) {
    ASSERT_EQ(c.shape(), g.shape()) << what;
    ASSERT_EQ(c.dtype(), g.dtype()) << what;
    expect_close(gpu->to_host_f32(g), cpu->to_host_f32(c), rel_l2, max_abs_rel, what);
  }
  void check_exact(const Tensor& c, const Tensor& g, const std::string& what) {
    ASSERT_EQ(c.shape(), g.shape()) << what;
    ASSERT_EQ(c.dtype(), g.dtype()) << what;
    std::vector<uint8_t> a(c.bytes()), b(g.bytes());
    cpu->to_host(c, a.data());
    gpu->to_host(g, b.data());
    EXPECT_EQ(a, b) << what;
  }

  std::unique_ptr<Backend> cpu, gpu;
  std::mt19937_64 rng{20250801};
};

TEST_F(VulkanOps, Matmul) {
  struct Case {
    Shape x;
    int64_t n;
    DType w;
    bool bias;
    Activation act;
    bool residual;
    bool gate_per_item;
    float magnitude;
  };
  const std::vector<Case> cases = {
      {{1, 3}, 5, DType::F32, false, Activation::None, false, false, 1.0f},
      {{37, 70}, 45, DType::BF16, true, Activation::GeluTanh, false, false, 1.0f},
      {{2, 33, 64}, 65, DType::F16, true, Activation::Silu, true, true, 1.0f},
      {{130, 300}, 129, DType::F32, true, Activation::None, true, false, 1.0f},
      {{3, 17, 40}, 24, DType::BF16, false, Activation::None, true, false, 1.0f},
      {{9, 48}, 31, DType::F32, true, Activation::GeluTanh, false, false, 1e7f},  // activations past fp16 range
      {{2, 9, 48}, 31, DType::BF16, true, Activation::None, true, true, 1e7f},
  };
  for (const std::string& variant : gpu->variants("matmul")) {
    gpu->select_variant("matmul", variant);
    for (const Case& c : cases) {
      const int64_t k = c.x.back(), items = c.x.size() == 3 ? c.x[0] : 1;
      Shape ys = c.x;
      ys.back() = c.n;
      Pair x = act(c.x, c.magnitude), w = weight({c.n, k}, c.w), b = weight({c.n}, c.w), r = act(ys, c.magnitude);
      Pair g = act(c.gate_per_item ? Shape{items, c.n} : Shape{c.n});
      MatmulArgs ac, ag;
      ac.act = ag.act = c.act;
      if (c.bias) ac.bias = b.cpu, ag.bias = b.gpu;
      if (c.residual) ac.residual = r.cpu, ag.residual = r.gpu, ac.gate = g.cpu, ag.gate = g.gpu;
      // Tensor-core variants compute F16/BF16-weight products with fp16 operands.
      const bool half_operands = variant != "scalar" && c.w != DType::F32;
      check(cpu->matmul(x.cpu, w.cpu, ac), gpu->matmul(x.gpu, w.gpu, ag),
            "matmul[" + variant + "] " + shape_str(c.x) + " n=" + std::to_string(c.n) + " " +
                std::string(dtype_name(c.w)),
            half_operands ? kHalfRelL2 : kRelL2, half_operands ? kHalfMaxAbsRel : kMaxAbsRel);
    }
    // Residual without gate.
    Pair x = act({5, 20}), w = weight({7, 20}, DType::F32), r = act({5, 7});
    check(cpu->matmul(x.cpu, w.cpu, {.residual = r.cpu}), gpu->matmul(x.gpu, w.gpu, {.residual = r.gpu}),
          "matmul[" + variant + "] residual only");
  }
  gpu->select_variant("matmul", "");
}

// matmul_many prepares its input once for several weights (the Q, K and V projections): each product must be
// exactly what matmul gives, whatever the variant, with weights of different formats, widths and epilogues.
TEST_F(VulkanOps, MatmulManyEqualsSeparateMatmuls) {
  for (const std::string& variant : gpu->variants("matmul")) {
    gpu->select_variant("matmul", variant);
    for (float magnitude : {1.0f, 1e7f}) {
      Pair x = act({2, 70, 64}, magnitude);
      const Tensor w[] = {weight({48, 64}, DType::BF16).gpu, weight({130, 64}, DType::F16).gpu,
                          weight({9, 64}, DType::F32).gpu};
      Pair bias = weight({130}, DType::F16), residual = act({2, 70, 9}, magnitude);
      const MatmulArgs args[] = {{.act = Activation::GeluTanh}, {.bias = bias.gpu}, {.residual = residual.gpu}};
      const std::vector<Tensor> many = gpu->matmul_many(x.gpu, w, args);
      ASSERT_EQ(many.size(), 3u);
      for (size_t i = 0; i < many.size(); ++i) {
        const Tensor one = gpu->matmul(x.gpu, w[i], args[i]);
        ASSERT_EQ(one.shape(), many[i].shape());
        EXPECT_EQ(gpu->to_host_f32(one), gpu->to_host_f32(many[i]))
            << "matmul_many[" << variant << "] product " << i << " at magnitude " << magnitude;
      }
    }
  }
  gpu->select_variant("matmul", "");
  Pair x = act({3, 8});
  const Tensor w[] = {weight({4, 8}, DType::F32).gpu};
  EXPECT_THROW(gpu->matmul_many(x.gpu, w, {}), std::exception) << "one weight, no argument set";
}

TEST_F(VulkanOps, Attention) {
  struct Case {
    int64_t b, sq, sk, hq, hkv, d;
    bool causal, mask;
  };
  const std::vector<Case> cases = {
      {1, 5, 7, 2, 1, 8, false, false},   {2, 33, 40, 4, 2, 16, true, true}, {1, 70, 70, 2, 2, 128, false, true},
      {1, 9, 12, 1, 1, 384, false, false}, {1, 6, 3, 1, 1, 8, true, false},  // rows that see no key
      {1, 45, 45, 3, 3, 64, true, false},  {2, 3, 50, 2, 1, 100, false, true},
  };
  for (const std::string& variant : gpu->variants("attention")) {
    gpu->select_variant("attention", variant);
    // Tensor-core variants compute Q·Kᵀ and P·V with fp16 operands.
    const bool half_operands = variant != "scalar";
    for (const Case& c : cases) {
      Pair q = act({c.b, c.sq, c.hq, c.d}), k = act({c.b, c.sk, c.hkv, c.d}), v = act({c.b, c.sk, c.hkv, c.d});
      AttentionArgs ac, ag;
      ac.scale = ag.scale = 1.0f / std::sqrt(float(c.d));
      ac.causal = ag.causal = c.causal;
      if (c.mask) {
        std::vector<float> m(static_cast<size_t>(c.b * c.sk), 1.0f);
        for (int64_t j = 0; j < c.sk; j += 3) m[size_t(j)] = 0.0f;
        if (c.b > 1)
          for (int64_t j = 0; j < c.sk; ++j) m[size_t(c.sk + j)] = 0.0f;  // batch item 1 sees no key at all
        Pair mp = from_values(m, {c.b, c.sk});
        ac.key_mask = mp.cpu;
        ag.key_mask = mp.gpu;
      }
      check(cpu->attention(q.cpu, k.cpu, v.cpu, ac), gpu->attention(q.gpu, k.gpu, v.gpu, ag),
            "attention[" + variant + "] b=" + std::to_string(c.b) + " sq=" + std::to_string(c.sq) +
                " sk=" + std::to_string(c.sk) + " d=" + std::to_string(c.d),
            half_operands ? kHalfRelL2 : kRelL2, half_operands ? kHalfMaxAbsRel : kMaxAbsRel);
    }
  }
  gpu->select_variant("attention", "");
}

TEST_F(VulkanOps, Norms) {
  for (auto [shape, wdt, with_weight] : std::vector<std::tuple<Shape, DType, bool>>{
           {{3, 5, 128}, DType::F32, false}, {{7, 3072}, DType::BF16, true}, {{4, 2, 20}, DType::F16, true}}) {
    Pair x = act(shape, 30.0f), w = weight({shape.back()}, wdt);
    check(cpu->rms_norm(x.cpu, with_weight ? w.cpu : Tensor(), 1e-6f),
          gpu->rms_norm(x.gpu, with_weight ? w.gpu : Tensor(), 1e-6f), "rms_norm " + shape_str(shape));
  }
  for (auto [shape, items] : std::vector<std::pair<Shape, int64_t>>{{{2, 9, 96}, 2}, {{13, 3072}, 1}}) {
    Pair x = act(shape, 5.0f), shift = act({items, shape.back()}), scale = act({items, shape.back()});
    check(cpu->layer_norm_modulate(x.cpu, shift.cpu, scale.cpu, 1e-6f),
          gpu->layer_norm_modulate(x.gpu, shift.gpu, scale.gpu, 1e-6f), "layer_norm_modulate " + shape_str(shape));
  }
  // Rows with a large mean: the variance must keep its precision.
  std::vector<float> big = random_floats(rng, 4 * 64);
  for (float& v : big) v += 1000.0f;
  Pair x = from_values(big, {4, 64}), shift = act({1, 64}), scale = act({1, 64});
  check(cpu->layer_norm_modulate(x.cpu, shift.cpu, scale.cpu, 1e-6f),
        gpu->layer_norm_modulate(x.gpu, shift.gpu, scale.gpu, 1e-6f), "layer_norm_modulate large mean", 1e-4, 1e-3);
  for (auto [shape, gdt] : std::vector<std::pair<Shape, DType>>{{{16, 1, 6, 7}, DType::BF16}, {{384, 1, 3, 3}, DType::F32}}) {
    Pair xc = act(shape), g = weight({shape[0]}, gdt);
    check(cpu->channel_rms_norm(xc.cpu, g.cpu), gpu->channel_rms_norm(xc.gpu, g.gpu), "channel_rms_norm " + shape_str(shape));
  }
}

TEST_F(VulkanOps, Rope) {
  for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit}) {
    Pair x = act({2, 5, 3, 16}), table = act({5, 8, 2});
    check(cpu->rope(x.cpu, table.cpu, style), gpu->rope(x.gpu, table.gpu, style),
          style == RopeStyle::Interleaved ? "rope interleaved" : "rope half-split");
  }
}

TEST_F(VulkanOps, RmsNormRope) {
  for (auto [shape, wdt, with_weight] : std::vector<std::tuple<Shape, DType, bool>>{
           {{2, 5, 3, 16}, DType::F32, false}, {{1, 7, 4, 128}, DType::BF16, true}, {{1, 3, 2, 42}, DType::F16, true}}) {
    Pair x = act(shape, 30.0f), w = weight({shape.back()}, wdt), table = act({shape[1], shape[3] / 2, 2});
    for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit})
      check(cpu->rms_norm_rope(x.cpu, with_weight ? w.cpu : Tensor(), 1e-6f, table.cpu, style),
            gpu->rms_norm_rope(x.gpu, with_weight ? w.gpu : Tensor(), 1e-6f, table.gpu, style),
            "rms_norm_rope " + shape_str(shape) + (style == RopeStyle::Interleaved ? " interleaved" : " half-split"));
  }
}

TEST_F(VulkanOps, Conv3d) {
  struct Case {
    Shape x;
    int64_t cout, kt, kh, kw;
    int stride[3], pad[3];
    bool causal;
    int64_t cache_frames;
    DType w;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{5, 1, 6, 9}, 7, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, DType::BF16, true},  // the VAE's single frame
      {{5, 1, 6, 9}, 7, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 2, DType::F32, true},   // with a frame cache
      {{4, 2, 5, 5}, 3, 3, 1, 1, {1, 1, 1}, {1, 0, 0}, true, 1, DType::F32, false},
      {{3, 3, 8, 7}, 6, 3, 3, 3, {1, 2, 2}, {1, 1, 1}, true, 0, DType::F16, true},   // stride 2
      {{3, 4, 5, 6}, 2, 3, 3, 3, {2, 1, 1}, {1, 1, 1}, false, 0, DType::F32, true},  // non-causal
      {{70, 1, 4, 5}, 65, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, true, 0, DType::F16, true}, // 1×1×1
  };
  for (const Case& c : cases) {
    Pair x = act(c.x), w = weight({c.cout, c.x[0], c.kt, c.kh, c.kw}, c.w), b = weight({c.cout}, c.w);
    Conv3dArgs ac, ag;
    for (int i = 0; i < 3; ++i) {
      ac.stride[i] = ag.stride[i] = c.stride[i];
      ac.pad[i] = ag.pad[i] = c.pad[i];
    }
    ac.causal = ag.causal = c.causal;
    if (c.cache_frames) {
      Pair cache = act({c.x[0], c.cache_frames, c.x[2], c.x[3]});
      ac.cache = cache.cpu;
      ag.cache = cache.gpu;
    }
    check(cpu->conv3d(x.cpu, w.cpu, c.bias ? b.cpu : Tensor(), ac), gpu->conv3d(x.gpu, w.gpu, c.bias ? b.gpu : Tensor(), ag),
          "conv3d x " + shape_str(c.x) + " k " + std::to_string(c.kt) + "x" + std::to_string(c.kh) + "x" +
              std::to_string(c.kw) + " cache " + std::to_string(c.cache_frames));
  }
}

TEST_F(VulkanOps, ElementWise) {
  for (float magnitude : {1.0f, 30.0f, 1e7f}) {
    Pair x = act({1000}, magnitude);
    check(cpu->unary(x.cpu, UnaryOp::Silu), gpu->unary(x.gpu, UnaryOp::Silu), "silu");
    check(cpu->unary(x.cpu, UnaryOp::GeluTanh), gpu->unary(x.gpu, UnaryOp::GeluTanh), "gelu_tanh");
  }
  Pair a = act({7, 33}), b = act({7, 33}), row = act({33});
  check(cpu->binary(a.cpu, b.cpu, BinaryOp::Add), gpu->binary(a.gpu, b.gpu, BinaryOp::Add), "add");
  check(cpu->binary(a.cpu, b.cpu, BinaryOp::Mul), gpu->binary(a.gpu, b.gpu, BinaryOp::Mul), "mul");
  check(cpu->binary(a.cpu, row.cpu, BinaryOp::Add), gpu->binary(a.gpu, row.gpu, BinaryOp::Add), "add row");
  check(cpu->binary(a.cpu, row.cpu, BinaryOp::Mul), gpu->binary(a.gpu, row.gpu, BinaryOp::Mul), "mul row");
  check(cpu->scale(a.cpu, -1.5f, 0.25f), gpu->scale(a.gpu, -1.5f, 0.25f), "scale");
  Pair v = act({3, 1, 5, 7});
  check_exact(cpu->upsample_nearest2x(v.cpu), gpu->upsample_nearest2x(v.gpu), "upsample_nearest2x");
}

TEST_F(VulkanOps, LayoutOpsOnEveryElementSize) {
  for (DType dt : {DType::F32, DType::F16, DType::U8}) {
    auto raw = [&](const Shape& s) {
      std::vector<uint8_t> bytes(size_t(shape_numel(s)) * dtype_size(dt));
      for (auto& byte : bytes) byte = uint8_t(rng());
      if (dt == DType::F16)  // keep finite halves
        for (size_t i = 1; i < bytes.size(); i += 2) bytes[i] &= 0x3b;
      if (dt == DType::F32)
        for (size_t i = 3; i < bytes.size(); i += 4) bytes[i] &= 0x3f;
      return Pair{cpu->from_host(bytes.data(), dt, s, dt), gpu->from_host(bytes.data(), dt, s, dt)};
    };
    const std::string name(dtype_name(dt));
    Pair a = raw({3, 5, 7}), b = raw({3, 2, 7}), c = raw({3, 5, 3}), d = raw({1, 5, 7});
    check_exact(cpu->concat(a.cpu, b.cpu, 1), gpu->concat(a.gpu, b.gpu, 1), "concat axis 1 " + name);
    check_exact(cpu->concat(a.cpu, c.cpu, -1), gpu->concat(a.gpu, c.gpu, -1), "concat axis -1 " + name);
    check_exact(cpu->concat(a.cpu, d.cpu, 0), gpu->concat(a.gpu, d.gpu, 0), "concat axis 0 " + name);
    check_exact(cpu->slice(a.cpu, 1, 1, 3), gpu->slice(a.gpu, 1, 1, 3), "slice axis 1 " + name);
    check_exact(cpu->slice(a.cpu, -1, 2, 5), gpu->slice(a.gpu, -1, 2, 5), "slice axis -1 " + name);
    check_exact(cpu->slice(a.cpu, 0, 2, 1), gpu->slice(a.gpu, 0, 2, 1), "slice axis 0 " + name);
    check_exact(cpu->transpose(a.cpu), gpu->transpose(a.gpu), "transpose " + name);
  }
  Pair lat = act({16, 6, 10});
  check_exact(cpu->pack_patches(lat.cpu), gpu->pack_patches(lat.gpu), "pack_patches");
  Pair packed = act({15, 64});
  check_exact(cpu->unpack_patches(packed.cpu, 16, 6, 10), gpu->unpack_patches(packed.gpu, 16, 6, 10), "unpack_patches");
}

TEST_F(VulkanOps, TimestepEmbedding) {
  // τ/1000 values the pipeline passes (angles up to 1000 rad).
  Pair t = from_values({0.0f, 0.25f, 0.98828125f, 1.0f, 0.02001953125f}, {5});
  Tensor c = cpu->timestep_embedding(t.cpu, 256, 1000.0f, 10000.0f);
  Tensor g = gpu->timestep_embedding(t.gpu, 256, 1000.0f, 10000.0f);
  auto want = cpu->to_host_f32(c), got = gpu->to_host_f32(g);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
  EXPECT_LE(worst, 1e-6) << "largest |error| of cos/sin features";
}

TEST_F(VulkanOps, ToRgb8RoundsHalfToEvenAndClamps) {
  std::vector<float> x = random_floats(rng, 3 * 5 * 9, 1.5f);
  // Exact ties: inputs whose fp32 value (clamp(x)·0.5 + 0.5)·255 is k + 0.5.
  int ties = 0;
  for (int k = 0; k < 255 && ties < int(x.size()) - 2; ++k) {
    float v = float((2 * k + 1) / 255.0 - 1.0);
    for (int step = 0; step < 8; ++step, v = std::nextafter(v, 2.0f))
      if ((v * 0.5f + 0.5f) * 255.0f == float(k) + 0.5f) {
        x[size_t(ties++)] = v;
        break;
      }
  }
  EXPECT_GT(ties, 10);
  x[x.size() - 1] = std::nanf("");
  x[x.size() - 2] = -std::numeric_limits<float>::infinity();
  Pair p = from_values(x, {3, 5, 9});
  check_exact(cpu->to_rgb8(p.cpu), gpu->to_rgb8(p.gpu), "to_rgb8");
}

TEST_F(VulkanOps, GuidedEulerStep) {
  Pair x = act({40, 64}), vc = act({40, 64}), vu = act({40, 64});
  check(cpu->guided_euler_step(x.cpu, vc.cpu, vu.cpu, 4.0f, -0.05f),
        gpu->guided_euler_step(x.gpu, vc.gpu, vu.gpu, 4.0f, -0.05f), "guided_euler_step");
  check(cpu->guided_euler_step(x.cpu, vc.cpu, Tensor(), 4.0f, -0.05f),
        gpu->guided_euler_step(x.gpu, vc.gpu, Tensor(), 4.0f, -0.05f), "euler_step without guidance");
  // A row whose guided velocity is zero gets rescale 0 (no NaN).
  std::vector<float> zeros(64, 0.0f);
  Pair z = from_values(zeros, {1, 64}), xz = act({1, 64});
  check(cpu->guided_euler_step(xz.cpu, z.cpu, z.cpu, 4.0f, -0.05f),
        gpu->guided_euler_step(xz.gpu, z.gpu, z.gpu, 4.0f, -0.05f), "guided_euler_step zero row");
}

}  // namespace
}  // namespace qi::test

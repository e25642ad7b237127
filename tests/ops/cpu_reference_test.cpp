// The CPU backend is the reference every other backend is checked against, so here it is checked against
// independent naive implementations written in double precision straight from the spec formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "ops/op_test_util.h"

namespace qi::test {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr Tolerance kFp32{1e-5, 1e-4};
// Activations of this size overflow fp16 (a known Qwen-Image failure); the CPU must stay exact.
constexpr float kHuge = 1e7f;

class CpuReference : public ::testing::Test {
 protected:
  void SetUp() override {
    be = make_cpu_backend(2);
    be->set_poison_allocations(true);
  }
  std::vector<float> run(const Tensor& t) { return be->to_host_f32(t); }

  std::unique_ptr<Backend> be;
  Rng rng{20250801};
};

double gelu_tanh_ref(double u) { return 0.5 * u * (1 + std::tanh(std::sqrt(2 / kPi) * (u + 0.044715 * u * u * u))); }
double silu_ref(double u) { return u / (1 + std::exp(-u)); }

// ---- matmul -----------------------------------------------------------------------------------------------

struct MatmulCase {
  int64_t batch, m, k, n;
  DType wdtype;
  bool bias;
  Activation act;
  bool residual, gate_per_item;
  float magnitude;
};

void check_matmul(CpuReference& t, Backend& be, Rng& rng, const MatmulCase& c) {
  const Shape xs = c.batch ? Shape{c.batch, c.m, c.k} : Shape{c.m, c.k};
  const int64_t items = c.batch ? c.batch : 1, rows = items * c.m;
  HostTensor x = random_tensor(rng, xs, c.magnitude);
  HostTensor w = random_weight(rng, {c.n, c.k}, c.wdtype);
  HostTensor b = random_weight(rng, {c.n}, c.wdtype);
  Shape ys = xs;
  ys.back() = c.n;
  HostTensor res = random_tensor(rng, ys, c.magnitude);
  HostTensor gate = random_tensor(rng, c.gate_per_item ? Shape{items, c.n} : Shape{c.n});
  MatmulArgs args;
  if (c.bias) args.bias = upload_as_weight(be, b);
  args.act = c.act;
  if (c.residual) args.residual = upload(be, res);
  if (c.residual) args.gate = upload(be, gate);
  std::vector<float> got = be.to_host_f32(be.matmul(upload(be, x), upload_as_weight(be, w), args));

  std::vector<float> want(size_t(rows * c.n));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < c.n; ++j) {
      double s = 0;
      for (int64_t i = 0; i < c.k; ++i) s += double(x.values[size_t(r * c.k + i)]) * w.values[size_t(j * c.k + i)];
      if (c.bias) s += b.values[size_t(j)];
      if (c.act == Activation::GeluTanh) s = gelu_tanh_ref(s);
      if (c.act == Activation::Silu) s = silu_ref(s);
      if (c.residual) {
        double g = gate.values[size_t((c.gate_per_item ? (r / c.m) * c.n : 0) + j)];
        s = res.values[size_t(r * c.n + j)] + g * s;
      }
      want[size_t(r * c.n + j)] = float(s);
    }
  expect_close(got, want, kFp32,
               "matmul " + shape_str(xs) + " x [" + std::to_string(c.n) + ", " + std::to_string(c.k) + "] " +
                   std::string(dtype_name(c.wdtype)));
}

TEST_F(CpuReference, MatmulPlainOddSizesAndAllWeightFormats) {
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    check_matmul(*this, *be, rng, {0, 1, 1, 1, d, false, Activation::None, false, false, 1});
    check_matmul(*this, *be, rng, {0, 7, 13, 5, d, false, Activation::None, false, false, 1});
    check_matmul(*this, *be, rng, {0, 37, 300, 129, d, true, Activation::None, false, false, 1});
  }
  check_matmul(*this, *be, rng, {0, 3, 1000, 17, DType::F32, false, Activation::None, false, false, 1});
}

TEST_F(CpuReference, MatmulEpilogues) {
  check_matmul(*this, *be, rng, {0, 19, 33, 45, DType::F32, true, Activation::GeluTanh, false, false, 1});
  check_matmul(*this, *be, rng, {0, 19, 33, 45, DType::BF16, true, Activation::Silu, false, false, 1});
  check_matmul(*this, *be, rng, {3, 11, 40, 21, DType::F32, true, Activation::None, true, true, 1});   // gate [B, N]
  check_matmul(*this, *be, rng, {2, 9, 24, 70, DType::F16, true, Activation::GeluTanh, true, false, 1});  // gate [N]
}

TEST_F(CpuReference, MatmulHugeActivationsStayExact) {
  check_matmul(*this, *be, rng, {0, 13, 257, 31, DType::F32, true, Activation::None, false, false, kHuge});
  check_matmul(*this, *be, rng, {2, 5, 96, 40, DType::BF16, true, Activation::None, true, true, kHuge});
}

TEST_F(CpuReference, MatmulResidualWithoutGate) {
  HostTensor x = random_tensor(rng, {4, 6}), w = random_tensor(rng, {5, 6}), r = random_tensor(rng, {4, 5});
  MatmulArgs args;
  args.residual = upload(*be, r);
  std::vector<float> got = run(be->matmul(upload(*be, x), upload_as_weight(*be, w), args));
  std::vector<float> want(20);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = r.values[size_t(i * 5 + j)];
      for (int k = 0; k < 6; ++k) s += double(x.values[size_t(i * 6 + k)]) * w.values[size_t(j * 6 + k)];
      want[size_t(i * 5 + j)] = float(s);
    }
  expect_close(got, want, kFp32, "matmul residual");
}

// ---- attention --------------------------------------------------------------------------------------------

struct AttentionCase {
  int64_t batch, sq, sk, hq, hkv, d;
  bool causal;
  bool mask;
  float qk_magnitude, v_magnitude;
};

// Full softmax in double over the visible keys; rows that see nothing are zeros (the documented convention).
std::vector<float> attention_ref(const HostTensor& q, const HostTensor& k, const HostTensor& v, const float* mask,
                                 const AttentionCase& c, double scale) {
  std::vector<float> out(size_t(c.batch * c.sq * c.hq * c.d), 0.0f);
  auto at = [&](const HostTensor& t, int64_t b, int64_t s, int64_t h, int64_t heads, int64_t seq, int64_t i) {
    return double(t.values[size_t(((b * seq + s) * heads + h) * c.d + i)]);
  };
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.hq; ++h) {
      const int64_t kh = h / (c.hq / c.hkv);
      for (int64_t i = 0; i < c.sq; ++i) {
        std::vector<double> s(size_t(c.sk), -std::numeric_limits<double>::infinity());
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < c.sk; ++j) {
          if (c.causal && j > i + (c.sk - c.sq)) continue;
          if (mask && mask[b * c.sk + j] == 0.0f) continue;
          double dot = 0;
          for (int64_t e = 0; e < c.d; ++e) dot += at(q, b, i, h, c.hq, c.sq, e) * at(k, b, j, kh, c.hkv, c.sk, e);
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        if (mx == -std::numeric_limits<double>::infinity()) continue;
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < c.d; ++e) {
          double o = 0;
          for (int64_t j = 0; j < c.sk; ++j) o += s[size_t(j)] / sum * at(v, b, j, kh, c.hkv, c.sk, e);
          out[size_t(((b * c.sq + i) * c.hq + h) * c.d + e)] = float(o);
        }
      }
    }
  return out;
}

void check_attention(Backend& be, Rng& rng, const AttentionCase& c, const std::vector<float>& mask_values = {}) {
  HostTensor q = random_tensor(rng, {c.batch, c.sq, c.hq, c.d}, c.qk_magnitude);
  HostTensor k = random_tensor(rng, {c.batch, c.sk, c.hkv, c.d}, c.qk_magnitude);
  HostTensor v = random_tensor(rng, {c.batch, c.sk, c.hkv, c.d}, c.v_magnitude);
  AttentionArgs args;
  args.scale = float(1.0 / std::sqrt(double(c.d)));
  args.causal = c.causal;
  std::vector<float> mask = mask_values;
  if (c.mask && mask.empty()) {
    mask.resize(size_t(c.batch * c.sk));
    std::bernoulli_distribution keep(0.7);
    for (float& m : mask) m = keep(rng) ? 1.0f : 0.0f;
  }
  if (c.mask) args.key_mask = be.from_host_f32(mask, {c.batch, c.sk});
  std::vector<float> got = be.to_host_f32(be.attention(upload(be, q), upload(be, k), upload(be, v), args));
  std::vector<float> want = attention_ref(q, k, v, c.mask ? mask.data() : nullptr, c, args.scale);
  expect_close(got, want, kFp32,
               "attention B" + std::to_string(c.batch) + " Sq" + std::to_string(c.sq) + " Sk" + std::to_string(c.sk) +
                   " H" + std::to_string(c.hq) + "/" + std::to_string(c.hkv) + " D" + std::to_string(c.d) +
                   (c.causal ? " causal" : "") + (c.mask ? " masked" : ""));
}

TEST_F(CpuReference, AttentionPlainGqaAndHeadDims) {
  check_attention(*be, rng, {1, 1, 1, 1, 1, 8, false, false, 1, 1});
  check_attention(*be, rng, {2, 5, 9, 6, 2, 8, false, false, 1, 1});      // GQA 3:1
  check_attention(*be, rng, {1, 70, 77, 4, 4, 24, false, false, 1, 1});   // blocks not multiples of 64
  check_attention(*be, rng, {1, 9, 130, 7, 1, 128, false, false, 1, 1});  // all heads share one kv head
  check_attention(*be, rng, {1, 20, 33, 1, 1, 384, false, false, 1, 1});  // VAE mid-block head dim
}

TEST_F(CpuReference, AttentionCausalIncludingSqNotSk) {
  check_attention(*be, rng, {2, 13, 13, 4, 2, 16, true, false, 1, 1});
  check_attention(*be, rng, {1, 5, 12, 2, 1, 16, true, false, 1, 1});   // query i sees keys <= i + 7
  check_attention(*be, rng, {1, 12, 5, 2, 2, 16, true, false, 1, 1});   // first 7 rows see nothing -> zeros
  check_attention(*be, rng, {1, 100, 100, 1, 1, 8, true, false, 1, 1}); // spans two query blocks
}

TEST_F(CpuReference, AttentionKeyMaskAndFullyMaskedRowsGiveZeros) {
  check_attention(*be, rng, {2, 11, 17, 3, 3, 16, false, true, 1, 1});
  check_attention(*be, rng, {2, 11, 17, 3, 1, 16, true, true, 1, 1});
  // Batch item 1 has every key masked: its outputs are all zeros.
  std::vector<float> mask(2 * 6, 1.0f);
  std::fill(mask.begin() + 6, mask.end(), 0.0f);
  mask[2] = 0.0f;
  check_attention(*be, rng, {2, 4, 6, 2, 2, 8, false, true, 1, 1}, mask);
}

TEST_F(CpuReference, AttentionHugeActivationsStayExact) {
  check_attention(*be, rng, {1, 9, 21, 4, 2, 64, false, false, 1, kHuge});
  check_attention(*be, rng, {1, 7, 7, 2, 2, 32, true, false, 30, kHuge});  // peaked softmax, huge values
}

// ---- norms ------------------------------------------------------------------------------------------------

TEST_F(CpuReference, RmsNormWithAndWithoutWeight) {
  for (DType wd : {DType::F32, DType::BF16}) {
    for (int64_t c : {1, 7, 128, 3584}) {
      HostTensor x = random_tensor(rng, {3, 5, c}, 3.0f), w = random_weight(rng, {c}, wd);
      const float eps = 1e-6f;
      for (bool with_weight : {false, true}) {
        std::vector<float> got = run(be->rms_norm(upload(*be, x), with_weight ? upload_as_weight(*be, w) : Tensor(), eps));
        std::vector<float> want(x.values.size());
        for (int64_t r = 0; r < 15; ++r) {
          double ss = 0;
          for (int64_t j = 0; j < c; ++j) ss += double(x.values[size_t(r * c + j)]) * x.values[size_t(r * c + j)];
          double inv = 1 / std::sqrt(ss / double(c) + eps);
          for (int64_t j = 0; j < c; ++j)
            want[size_t(r * c + j)] = float(x.values[size_t(r * c + j)] * inv * (with_weight ? w.values[size_t(j)] : 1.0));
        }
        expect_close(got, want, kFp32, "rms_norm C=" + std::to_string(c));
      }
    }
  }
}

TEST_F(CpuReference, LayerNormModulate) {
  struct Case { Shape x, mod; };
  for (const Case& c : {Case{{2, 9, 33}, {2, 33}}, Case{{17, 3072}, {1, 3072}}, Case{{5, 40}, {40}}}) {
    const int64_t ch = c.x.back(), rows = shape_numel(c.x) / ch, per_item = c.x.size() == 3 ? c.x[1] : rows;
    HostTensor x = random_tensor(rng, c.x, 2.0f), sh = random_tensor(rng, c.mod), sc = random_tensor(rng, c.mod);
    for (float& v : x.values) v += 5.0f;  // a mean far from zero
    const float eps = 1e-6f;
    std::vector<float> got = run(be->layer_norm_modulate(upload(*be, x), upload(*be, sh), upload(*be, sc), eps));
    std::vector<float> want(x.values.size());
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.values.data() + r * ch;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < ch; ++j) mean += xr[j];
      mean /= double(ch);
      for (int64_t j = 0; j < ch; ++j) var += (xr[j] - mean) * (xr[j] - mean);
      var /= double(ch);
      const int64_t item = r / per_item;
      for (int64_t j = 0; j < ch; ++j) {
        double ln = (xr[j] - mean) / std::sqrt(var + eps);
        want[size_t(r * ch + j)] =
            float(ln * (1 + double(sc.values[size_t(item * ch + j)])) + sh.values[size_t(item * ch + j)]);
      }
    }
    expect_close(got, want, kFp32, "layer_norm_modulate " + shape_str(c.x));
  }
}

TEST_F(CpuReference, ChannelRmsNormIncludingAllZeroPixel) {
  for (const Shape& s : {Shape{4, 1, 5, 3}, Shape{96, 2, 7, 9}, Shape{384, 1, 4, 4}}) {
    HostTensor x = random_tensor(rng, s), g = random_weight(rng, {s[0], 1, 1, 1}, DType::BF16);
    const int64_t c = s[0], pixels = shape_numel(s) / c;
    for (int64_t ch = 0; ch < c; ++ch) x.values[size_t(ch * pixels)] = 0.0f;  // pixel 0: ‖x‖ = 0 -> output 0
    std::vector<float> got = run(be->channel_rms_norm(upload(*be, x), upload_as_weight(*be, g)));
    std::vector<float> want(x.values.size());
    for (int64_t p = 0; p < pixels; ++p) {
      double ss = 0;
      for (int64_t ch = 0; ch < c; ++ch) ss += double(x.values[size_t(ch * pixels + p)]) * x.values[size_t(ch * pixels + p)];
      double norm = std::max(std::sqrt(ss), 1e-12);
      for (int64_t ch = 0; ch < c; ++ch)
        want[size_t(ch * pixels + p)] = float(x.values[size_t(ch * pixels + p)] / norm * std::sqrt(double(c)) * g.values[size_t(ch)]);
    }
    expect_close(got, want, kFp32, "channel_rms_norm " + shape_str(s));
  }
}

// ---- rope ---------------------------------------------------------------------------------------------------

TEST_F(CpuReference, RopeBothConventionsFromTheSpecFormulas) {
  for (int64_t d : {2, 8, 128}) {
    const int64_t batch = 2, seq = 5, heads = 3;
    HostTensor x = random_tensor(rng, {batch, seq, heads, d});
    std::vector<double> theta(size_t(seq * d / 2));
    std::uniform_real_distribution<double> angle(-10, 10);
    for (double& t : theta) t = angle(rng);
    std::vector<float> table;
    for (double t : theta) {
      table.push_back(float(std::cos(t)));
      table.push_back(float(std::sin(t)));
    }
    Tensor tab = be->from_host_f32(table, {seq, d / 2, 2});
    for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit}) {
      std::vector<float> got = run(be->rope(upload(*be, x), tab, style));
      std::vector<float> want(x.values.size());
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < seq; ++s)
          for (int64_t h = 0; h < heads; ++h) {
            const float* q = x.values.data() + ((b * seq + s) * heads + h) * d;
            float* o = want.data() + ((b * seq + s) * heads + h) * d;
            auto cs = [&](int64_t k) { return double(table[size_t((s * d / 2 + k) * 2)]); };
            auto sn = [&](int64_t k) { return double(table[size_t((s * d / 2 + k) * 2 + 1)]); };
            if (style == RopeStyle::Interleaved) {  // spec §3.4
              for (int64_t k = 0; k < d / 2; ++k) {
                o[2 * k] = float(q[2 * k] * cs(k) - q[2 * k + 1] * sn(k));
                o[2 * k + 1] = float(q[2 * k] * sn(k) + q[2 * k + 1] * cs(k));
              }
            } else {  // spec §5.3: q' = q ⊙ cos + rotate_half(q) ⊙ sin, cos/sin duplicated [f, f]
              for (int64_t j = 0; j < d; ++j) {
                const int64_t f = j % (d / 2);
                const double rotated = j < d / 2 ? -double(q[j + d / 2]) : double(q[j - d / 2]);
                o[j] = float(q[j] * cs(f) + rotated * sn(f));
              }
            }
          }
      expect_close(got, want, kFp32, std::string("rope ") + (style == RopeStyle::Interleaved ? "interleaved" : "half-split") + " D=" + std::to_string(d));
    }
  }
}

// ---- rms_norm_rope --------------------------------------------------------------------------------------------

// The fused op is defined as rope(rms_norm(x)): the same arithmetic in one pass, so at most float rounding apart.
TEST_F(CpuReference, RmsNormRopeEqualsRopeOfRmsNorm) {
  constexpr Tolerance kRounding{1e-7, 1e-6};
  struct Case {
    Shape x;
    float magnitude;
  };
  for (const Case& c : {Case{{2, 5, 3, 8}, 1.0f}, Case{{1, 6, 4, 128}, 3.0f}, Case{{1, 3, 2, 130}, kHuge}}) {
    const int64_t seq = c.x[1], d = c.x[3];
    HostTensor x = random_tensor(rng, c.x, c.magnitude);
    HostTensor table = random_tensor(rng, {seq, d / 2, 2});
    for (DType wd : {DType::F32, DType::BF16}) {
      HostTensor w = random_weight(rng, {d}, wd);
      for (bool with_weight : {false, true}) {
        for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit}) {
          const Tensor weight = with_weight ? upload_as_weight(*be, w) : Tensor();
          const Tensor tab = upload(*be, table);
          std::vector<float> got = run(be->rms_norm_rope(upload(*be, x), weight, 1e-6f, tab, style));
          std::vector<float> want = run(be->rope(be->rms_norm(upload(*be, x), weight, 1e-6f), tab, style));
          expect_close(got, want, kRounding,
                       "rms_norm_rope " + shape_str(c.x) + (with_weight ? " weight " + std::string(dtype_name(wd)) : "") +
                           (style == RopeStyle::Interleaved ? " interleaved" : " half-split"));
        }
      }
    }
  }
}

// ---- conv3d -------------------------------------------------------------------------------------------------

struct ConvCase {
  int64_t cin, t, h, w, cout, kt, kh, kw;
  int stride[3], pad[3];
  bool causal;
  int64_t cache_frames;
  DType wdtype;
  bool bias;
};

void check_conv(Backend& be, Rng& rng, const ConvCase& c) {
  HostTensor x = random_tensor(rng, {c.cin, c.t, c.h, c.w});
  HostTensor w = random_weight(rng, {c.cout, c.cin, c.kt, c.kh, c.kw}, c.wdtype);
  HostTensor b = random_weight(rng, {c.cout}, c.wdtype);
  HostTensor cache = random_tensor(rng, {c.cin, std::max<int64_t>(c.cache_frames, 1), c.h, c.w});
  Conv3dArgs args;
  for (int i = 0; i < 3; ++i) {
    args.stride[i] = c.stride[i];
    args.pad[i] = c.pad[i];
  }
  args.causal = c.causal;
  if (c.cache_frames > 0) args.cache = upload(be, cache);
  Tensor y = be.conv3d(upload(be, x), upload_as_weight(be, w), c.bias ? upload_as_weight(be, b) : Tensor(), args);

  // Direct sum over the padded input: time padded by 2·pad_t at the front (causal) or pad_t on both sides.
  const int64_t front = c.causal ? 2 * c.pad[0] : c.pad[0], back = c.causal ? 0 : c.pad[0];
  const int64_t to = (c.t + front + back - c.kt) / c.stride[0] + 1;
  const int64_t ho = (c.h + 2 * c.pad[1] - c.kh) / c.stride[1] + 1;
  const int64_t wo = (c.w + 2 * c.pad[2] - c.kw) / c.stride[2] + 1;
  ASSERT_EQ(y.shape(), (Shape{c.cout, to, ho, wo}));
  auto input = [&](int64_t ci, int64_t tp, int64_t ih, int64_t iw) -> double {
    if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) return 0;
    if (tp >= front && tp < front + c.t) return x.values[size_t(((ci * c.t + tp - front) * c.h + ih) * c.w + iw)];
    const int64_t cache_start = front - c.cache_frames;
    if (c.cache_frames > 0 && tp >= cache_start && tp < front)
      return cache.values[size_t(((ci * c.cache_frames + tp - cache_start) * c.h + ih) * c.w + iw)];
    return 0;
  };
  std::vector<float> want(size_t(c.cout * to * ho * wo));
  for (int64_t co = 0; co < c.cout; ++co)
    for (int64_t ot = 0; ot < to; ++ot)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow) {
          double s = c.bias ? b.values[size_t(co)] : 0.0;
          for (int64_t ci = 0; ci < c.cin; ++ci)
            for (int64_t kt = 0; kt < c.kt; ++kt)
              for (int64_t kh = 0; kh < c.kh; ++kh)
                for (int64_t kw = 0; kw < c.kw; ++kw)
                  s += w.values[size_t((((co * c.cin + ci) * c.kt + kt) * c.kh + kh) * c.kw + kw)] *
                       input(ci, ot * c.stride[0] + kt, oh * c.stride[1] - c.pad[1] + kh, ow * c.stride[2] - c.pad[2] + kw);
          want[size_t(((co * to + ot) * ho + oh) * wo + ow)] = float(s);
        }
  expect_close(be.to_host_f32(y), want, kFp32,
               "conv3d x [" + std::to_string(c.cin) + "," + std::to_string(c.t) + "," + std::to_string(c.h) + "," +
                   std::to_string(c.w) + "] k " + std::to_string(c.kt) + "x" + std::to_string(c.kh) + "x" +
                   std::to_string(c.kw) + " cache " + std::to_string(c.cache_frames));
}

TEST_F(CpuReference, Conv3dKernelsPaddingsStridesAndCache) {
  check_conv(*be, rng, {3, 1, 5, 7, 4, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, DType::F32, true});  // T2I frame
  check_conv(*be, rng, {5, 3, 6, 5, 7, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, DType::BF16, true});
  check_conv(*be, rng, {6, 2, 4, 4, 5, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, true, 0, DType::F32, false});  // 1×1×1
  check_conv(*be, rng, {4, 3, 3, 5, 8, 3, 1, 1, {1, 1, 1}, {1, 0, 0}, true, 0, DType::F16, true});   // time_conv
  check_conv(*be, rng, {3, 4, 9, 8, 2, 3, 3, 3, {2, 2, 2}, {1, 1, 1}, true, 0, DType::F32, true});   // stride 2
  check_conv(*be, rng, {3, 1, 9, 7, 2, 1, 3, 3, {1, 2, 2}, {0, 0, 0}, true, 0, DType::F32, true});   // downsample-like
  check_conv(*be, rng, {2, 3, 5, 5, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, false, 0, DType::F32, true});  // symmetric time
  check_conv(*be, rng, {2, 1, 4, 6, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 1, DType::F32, true});   // cache Tc = 1
  check_conv(*be, rng, {2, 2, 4, 3, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 2, DType::F32, true});   // cache Tc = 2
  check_conv(*be, rng, {3, 1, 3, 3, 2, 1, 5, 5, {1, 1, 1}, {0, 2, 2}, true, 0, DType::F32, false});  // pad > half
  check_conv(*be, rng, {40, 1, 17, 19, 33, 3, 3, 3, {1, 1, 1}, {1, 1, 1}, true, 0, DType::F32, true});  // many chunks
}

// ---- element-wise ----------------------------------------------------------------------------------------

TEST_F(CpuReference, UnaryGeluTanhAndSilu) {
  HostTensor x = random_tensor(rng, {7, 131}, 6.0f);
  x.values[0] = 0.0f;
  x.values[1] = 50.0f;
  x.values[2] = -50.0f;
  for (UnaryOp op : {UnaryOp::GeluTanh, UnaryOp::Silu}) {
    std::vector<float> got = run(be->unary(upload(*be, x), op)), want;
    for (float v : x.values) want.push_back(float(op == UnaryOp::Silu ? silu_ref(v) : gelu_tanh_ref(v)));
    expect_close(got, want, kFp32, op == UnaryOp::Silu ? "silu" : "gelu_tanh");
  }
}

TEST_F(CpuReference, BinaryFullAndRowBroadcastAndScale) {
  HostTensor a = random_tensor(rng, {3, 4, 7}), full = random_tensor(rng, {3, 4, 7}), row = random_tensor(rng, {7});
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Mul}) {
    for (const HostTensor* b : {&full, &row}) {
      std::vector<float> got = run(be->binary(upload(*be, a), upload(*be, *b), op)), want;
      for (size_t i = 0; i < a.values.size(); ++i) {
        double bv = b->values[i % b->values.size()];
        want.push_back(float(op == BinaryOp::Add ? a.values[i] + bv : a.values[i] * bv));
      }
      expect_close(got, want, kExact, "binary");
    }
  }
  std::vector<float> got = run(be->scale(upload(*be, a), 2.5f, -0.75f)), want;
  for (float v : a.values) want.push_back(2.5f * v - 0.75f);
  expect_close(got, want, kFp32, "scale");
}

TEST_F(CpuReference, UpsampleNearest2x) {
  HostTensor x = random_tensor(rng, {3, 2, 5, 7});
  std::vector<float> got = run(be->upsample_nearest2x(upload(*be, x)));
  std::vector<float> want;
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t i = 0; i < 10; ++i)
      for (int64_t j = 0; j < 14; ++j) want.push_back(x.values[size_t((p * 5 + i / 2) * 7 + j / 2)]);
  expect_close(got, want, kExact, "upsample_nearest2x");
}

// ---- layout ---------------------------------------------------------------------------------------------------

TEST_F(CpuReference, ConcatSliceTransposeForFloatsAndIntegers) {
  HostTensor a = random_tensor(rng, {2, 3, 4}), b = random_tensor(rng, {2, 5, 4});
  std::vector<float> cat = run(be->concat(upload(*be, a), upload(*be, b), -2)), want;
  for (int64_t i = 0; i < 2; ++i) {
    want.insert(want.end(), a.values.begin() + i * 12, a.values.begin() + (i + 1) * 12);
    want.insert(want.end(), b.values.begin() + i * 20, b.values.begin() + (i + 1) * 20);
  }
  expect_close(cat, want, kExact, "concat axis -2");

  std::vector<float> sl = run(be->slice(upload(*be, b), 1, 1, 3));
  want.clear();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t r = 1; r < 4; ++r)
      for (int64_t j = 0; j < 4; ++j) want.push_back(b.values[size_t((i * 5 + r) * 4 + j)]);
  expect_close(sl, want, kExact, "slice");

  std::vector<float> tr = run(be->transpose(upload(*be, b)));
  want.clear();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t r = 0; r < 5; ++r) want.push_back(b.values[size_t((i * 5 + r) * 4 + j)]);
  expect_close(tr, want, kExact, "transpose");

  std::vector<int32_t> ints(70);
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = int32_t(i * 7919 - 100000);
  Tensor ti = be->from_host(ints.data(), DType::I32, {7, 10}, DType::I32);
  std::vector<int32_t> back(70);
  be->to_host(be->transpose(be->transpose(ti)), back.data());
  EXPECT_EQ(back, ints);
  Tensor tcat = be->concat(ti, ti, 0);
  EXPECT_EQ(tcat.dtype(), DType::I32);
  std::vector<int32_t> half(70);
  be->to_host(be->slice(tcat, 0, 7, 7), half.data());
  EXPECT_EQ(half, ints);
  std::vector<uint8_t> bytes = {1, 2, 3, 4, 5, 6};
  Tensor tb = be->from_host(bytes.data(), DType::U8, {2, 3}, DType::U8);
  std::vector<uint8_t> tb_t(6);
  be->to_host(be->transpose(tb), tb_t.data());
  EXPECT_EQ(tb_t, (std::vector<uint8_t>{1, 4, 2, 5, 3, 6}));
}

TEST_F(CpuReference, PackAndUnpackPatchesFollowTheSpecIndexFormula) {
  const int64_t c = 5, h = 6, w = 10, hp = h / 2, wp = w / 2;
  HostTensor lat = random_tensor(rng, {c, h, w});
  std::vector<float> packed = run(be->pack_patches(upload(*be, lat)));
  std::vector<float> want(size_t(hp * wp * 4 * c));
  for (int64_t y = 0; y < hp; ++y)
    for (int64_t x = 0; x < wp; ++x)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx)  // packed[y·wp + x, c·4 + dy·2 + dx] = lat[c, 2y+dy, 2x+dx]
            want[size_t((y * wp + x) * 4 * c + ch * 4 + dy * 2 + dx)] =
                lat.values[size_t((ch * h + 2 * y + dy) * w + 2 * x + dx)];
  expect_close(packed, want, kExact, "pack_patches");
  std::vector<float> unpacked = run(be->unpack_patches(be->from_host_f32(want, {hp * wp, 4 * c}), c, h, w));
  expect_close(unpacked, lat.values, kExact, "unpack_patches");
}

// ---- embedding, image, guidance ---------------------------------------------------------------------------------

TEST_F(CpuReference, TimestepEmbeddingFromSpec) {
  std::vector<float> t = {0.0f, 0.02001953125f, 0.5f, 0.98828125f, 1.0f};
  const int dim = 256;
  std::vector<float> got = run(be->timestep_embedding(be->from_host_f32(t, {5}), dim, 1000.0f, 10000.0f));
  std::vector<float> want;
  for (float tv : t) {
    std::vector<double> a;
    for (int k = 0; k < dim / 2; ++k) a.push_back(1000.0 * (tv * std::exp(-std::log(10000.0) * k / (dim / 2))));
    for (double v : a) want.push_back(float(std::cos(v)));
    for (double v : a) want.push_back(float(std::sin(v)));
  }
  // The backend rounds the angles through fp32 as diffusers does; an angle near 1000 then carries an absolute
  // error of up to half an fp32 ulp (3e-5), which cos/sin pass on.
  expect_close(got, want, Tolerance{1e-4, 1e-4}, "timestep_embedding");
}

TEST_F(CpuReference, ToRgb8RoundsHalfToEvenAndClamps) {
  // Reference: the spec's fp32 expression, then an explicit round-half-to-even on its exact value.
  auto expected_u8 = [](float x) -> int {
    float v = std::clamp(x, -1.0f, 1.0f) * 0.5f + 0.5f;
    v = std::clamp(v, 0.0f, 1.0f) * 255.0f;
    double fl = std::floor(double(v)), frac = double(v) - fl;
    if (frac > 0.5 || (frac == 0.5 && std::fmod(fl, 2.0) != 0)) fl += 1;
    return int(fl);
  };
  std::vector<float> xs = {0.0f, -1.0f, 1.0f, 3.0f, -7.0f, 0.999f, -0.999f};
  int even_ties = 0, odd_ties = 0;
  for (float x : rgb8_tie_inputs(&even_ties, &odd_ties)) xs.push_back(x);
  ASSERT_GE(even_ties, 8) << "need exact ties that round down to an even value";
  ASSERT_GE(odd_ties, 8) << "need exact ties that round up from an odd value";
  HostTensor x = random_tensor(rng, {3, 1, int64_t((xs.size() + 2) / 3)});
  std::copy(xs.begin(), xs.end(), x.values.begin());
  Tensor y = be->to_rgb8(upload(*be, x));
  ASSERT_EQ(y.dtype(), DType::U8);
  const int64_t pixels = x.shape[2];
  ASSERT_EQ(y.shape(), (Shape{1, pixels, 3}));
  std::vector<uint8_t> got(size_t(y.numel()));
  be->to_host(y, got.data());
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < pixels; ++p)
      EXPECT_EQ(int(got[size_t(p * 3 + c)]), expected_u8(x.values[size_t(c * pixels + p)]))
          << "x = " << x.values[size_t(c * pixels + p)];
  EXPECT_EQ(expected_u8(0.0f), 128);
  std::vector<float> nan_pixel = {std::numeric_limits<float>::quiet_NaN(), 0.0f, 1.0f};
  std::vector<uint8_t> nan_out(3);
  be->to_host(be->to_rgb8(be->from_host_f32(nan_pixel, {3, 1, 1})), nan_out.data());
  EXPECT_EQ(nan_out, (std::vector<uint8_t>{0, 128, 255}));
}

TEST_F(CpuReference, GuidedEulerStepRescalesPerRow) {
  const int64_t n = 37, c = 64;
  HostTensor x = random_tensor(rng, {n, c}), vc = random_tensor(rng, {n, c}), vu = random_tensor(rng, {n, c});
  const float g = 4.0f, dt = -0.0213f;
  std::vector<float> got = run(be->guided_euler_step(upload(*be, x), upload(*be, vc), upload(*be, vu), g, dt));
  std::vector<float> want(size_t(n * c));
  for (int64_t r = 0; r < n; ++r) {
    std::vector<double> v(static_cast<size_t>(c));
    double nc = 0, nv = 0;
    for (int64_t j = 0; j < c; ++j) {
      const size_t i = size_t(r * c + j);
      v[size_t(j)] = vu.values[i] + double(g) * (double(vc.values[i]) - vu.values[i]);
      nc += double(vc.values[i]) * vc.values[i];
      nv += v[size_t(j)] * v[size_t(j)];
    }
    for (int64_t j = 0; j < c; ++j)
      want[size_t(r * c + j)] = float(x.values[size_t(r * c + j)] + dt * v[size_t(j)] * std::sqrt(nc) / std::sqrt(nv));
  }
  expect_close(got, want, kFp32, "guided_euler_step");

  std::vector<float> plain = run(be->guided_euler_step(upload(*be, x), upload(*be, vc), Tensor(), g, dt));
  for (size_t i = 0; i < want.size(); ++i) want[i] = float(x.values[i] + double(dt) * vc.values[i]);
  expect_close(plain, want, kFp32, "euler step without guidance");
}

}  // namespace
}  // namespace qi::test

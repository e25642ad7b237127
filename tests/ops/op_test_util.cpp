#include "ops/op_test_util.h"

#include <algorithm>
#include <cmath>

namespace qi::test {
namespace {

// Smallest random magnitude, as a fraction of the requested one: keeps every element clearly non-zero.
constexpr float kMinMagnitudeFraction = 0.1f;

}  // namespace

std::vector<float> random_values(Rng& rng, int64_t n, float magnitude) {
  // One 64-bit draw per value: the top bit is the sign, the next 24 bits a uniform fraction (fast enough for
  // the real-size weights of the parity cases).
  constexpr int kFractionBits = 24;
  constexpr double kFractionScale = 1.0 / double(1 << kFractionBits);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    const uint64_t bits = rng();
    const double fraction = double((bits >> (63 - kFractionBits)) & ((1u << kFractionBits) - 1)) * kFractionScale;
    const double mag = kMinMagnitudeFraction + (1.0 - kMinMagnitudeFraction) * fraction;
    x = float((bits >> 63) ? -mag : mag) * magnitude;
  }
  return v;
}

HostTensor random_tensor(Rng& rng, const Shape& shape, float magnitude) {
  return host_tensor(shape, random_values(rng, shape_numel(shape), magnitude));
}

HostTensor random_weight(Rng& rng, const Shape& shape, DType dtype, float magnitude) {
  HostTensor t = random_tensor(rng, shape, magnitude);
  t.dtype = dtype;
  if (dtype == DType::F16 || dtype == DType::BF16) {
    t.raw16.resize(t.values.size());
    for (size_t i = 0; i < t.values.size(); ++i) {
      t.raw16[i] = dtype == DType::F16 ? f32_to_f16(t.values[i]) : f32_to_bf16(t.values[i]);
      t.values[i] = dtype == DType::F16 ? f16_to_f32(t.raw16[i]) : bf16_to_f32(t.raw16[i]);
    }
  }
  return t;
}

HostTensor host_tensor(const Shape& shape, std::vector<float> values) {
  HostTensor t;
  t.shape = shape;
  t.values = std::move(values);
  if (int64_t(t.values.size()) != shape_numel(shape)) throw std::logic_error("host_tensor: size differs from shape");
  return t;
}

std::vector<float> rgb8_tie_inputs(int* even_floor_ties, int* odd_floor_ties) {
  constexpr int kUlpWindow = 64;  // floats searched on each side of the ideal input
  std::vector<float> xs;
  int even = 0, odd = 0;
  for (int k = 0; k < 255; ++k) {
    float x = float((2.0 * k + 1.0) / 255.0 - 1.0);
    for (int i = 0; i < kUlpWindow; ++i) x = std::nextafter(x, -2.0f);
    for (int i = 0; i < 2 * kUlpWindow; ++i, x = std::nextafter(x, 2.0f)) {
      float v = (std::clamp(x, -1.0f, 1.0f) * 0.5f + 0.5f) * 255.0f;
      if (v - std::floor(v) != 0.5f) continue;
      xs.push_back(x);
      (int(std::floor(v)) % 2 == 0 ? even : odd)++;
      break;
    }
  }
  if (even_floor_ties) *even_floor_ties = even;
  if (odd_floor_ties) *odd_floor_ties = odd;
  return xs;
}

Tensor upload(Backend& backend, const HostTensor& t) {
  if (t.dtype != DType::F32) return backend.from_host(t.raw16.data(), t.dtype, t.shape, DType::F32);
  return backend.from_host(t.values.data(), DType::F32, t.shape, DType::F32);
}

Tensor upload_as_weight(Backend& backend, const HostTensor& t) {
  if (t.dtype != DType::F32) return backend.upload_weight(t.raw16.data(), t.dtype, t.shape);
  return backend.upload_weight(t.values.data(), DType::F32, t.shape);
}

Diff expect_close(const std::vector<float>& actual, const std::vector<float>& expected, Tolerance tol,
                  const std::string& what) {
  Diff d = compare(actual, expected);
  double largest = 0;
  for (float e : expected) largest = std::max(largest, double(std::fabs(e)));
  EXPECT_FALSE(d.nonfinite) << what << ": non-finite output";
  EXPECT_LE(d.rel_l2, tol.rel_l2) << what << ": relative L2 error (max abs " << d.max_abs << ")";
  EXPECT_LE(d.max_abs, tol.max_abs_rel * largest) << what << ": max abs error (largest |expected| " << largest
                                                  << ", relative L2 " << d.rel_l2 << ")";
  return d;
}

}  // namespace qi::test

#include "ops/op_test_util.h"

#include <algorithm>
#include <cmath>

namespace qi::test {
namespace {

// Smallest random magnitude, as a fraction of the requested one: keeps every element clearly non-zero.
constexpr float kMinMagnitudeFraction = 0.1f;

}  // namespace

std::vector<float> random_values(Rng& rng, int64_t n, float magnitude) {
  std::uniform_real_distribution<float> dist(kMinMagnitudeFraction, 1.0f);
  std::bernoulli_distribution negative(0.5);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = (negative(rng) ? -1.0f : 1.0f) * dist(rng) * magnitude;
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

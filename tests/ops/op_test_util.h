// Helpers shared by the op tests: seeded random host tensors (never zero), uploads in every weight format,
// and a relative-L2 / max-abs check that explains itself when it fails.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/backend.h"
#include "support/test_support.h"

namespace qi::test {

using Rng = std::mt19937_64;

// Host data of one tensor. Weights in F16/BF16 keep their raw bits; `values` always holds the exact fp32
// value of every element (for F16/BF16 the widened raw bits), so references see what the backend sees.
struct HostTensor {
  Shape shape;
  DType dtype = DType::F32;
  std::vector<float> values;
  std::vector<uint16_t> raw16;  // F16 / BF16 only

  int64_t numel() const { return shape_numel(shape); }
};

// Uniform magnitudes in [0.1, 1]·magnitude with random signs: no element is zero.
std::vector<float> random_values(Rng& rng, int64_t n, float magnitude = 1.0f);
HostTensor random_tensor(Rng& rng, const Shape& shape, float magnitude = 1.0f);
// A weight in F32, F16 or BF16 (random fp32 values rounded to the format).
HostTensor random_weight(Rng& rng, const Shape& shape, DType dtype, float magnitude = 1.0f);
HostTensor host_tensor(const Shape& shape, std::vector<float> values);

// F32 activations via from_host, weights (F16/BF16 as raw bits) via upload_weight.
Tensor upload(Backend& backend, const HostTensor& t);
Tensor upload_as_weight(Backend& backend, const HostTensor& t);

// Inputs x whose fp32 to_rgb8 value (clamp(x·0.5 + 0.5, 0, 1)·255) is exactly k + 0.5: one per k where the
// floats around x = (2k+1)/255 − 1 produce such a tie. Counts of ties with an even and an odd floor are returned.
std::vector<float> rgb8_tie_inputs(int* even_floor_ties = nullptr, int* odd_floor_ties = nullptr);

struct Tolerance {
  double rel_l2 = 1e-5;
  // Largest element error allowed, relative to the largest |expected| (catches errors L2 would dilute).
  double max_abs_rel = 1e-4;
};
constexpr Tolerance kExact{0.0, 0.0};

// Checks actual against expected; returns the measured difference.
Diff expect_close(const std::vector<float>& actual, const std::vector<float>& expected, Tolerance tol,
                  const std::string& what);

}  // namespace qi::test

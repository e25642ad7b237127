#include "model/rope_tables.h"

#include <cmath>
#include <stdexcept>

namespace qi {

namespace {

// Inverse frequencies of one axis of `dim` features: 1 / θ^(2j/dim), j < dim/2, in fp32 (as torch does).
std::vector<float> inverse_frequencies(int dim, float theta) {
  std::vector<float> inv(size_t(dim / 2));
  for (int j = 0; j < dim / 2; ++j) inv[size_t(j)] = 1.0f / std::pow(theta, float(2 * j) / float(dim));
  return inv;
}

void put_angle(float* entry, float angle) {
  entry[0] = float(std::cos(double(angle)));
  entry[1] = float(std::sin(double(angle)));
}

}  // namespace

std::vector<float> halfsplit_rope_table(int64_t positions, int head_dim, float theta) {
  if (head_dim % 2) throw std::invalid_argument("rope: head_dim must be even");
  const std::vector<float> inv = inverse_frequencies(head_dim, theta);
  const int64_t pairs = head_dim / 2;
  std::vector<float> table(size_t(positions * pairs * 2));
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t j = 0; j < pairs; ++j) put_angle(&table[size_t((p * pairs + j) * 2)], float(p) * inv[size_t(j)]);
  return table;
}

MmditRopeTables mmdit_rope_tables(const std::array<int, 3>& axes_dims, float theta, int64_t hp, int64_t wp,
                                  int64_t text_len) {
  std::array<std::vector<float>, 3> inv;
  int64_t pairs = 0;
  for (int a = 0; a < 3; ++a) {
    if (axes_dims[size_t(a)] % 2) throw std::invalid_argument("rope: every axis dim must be even");
    inv[size_t(a)] = inverse_frequencies(axes_dims[size_t(a)], theta);
    pairs += axes_dims[size_t(a)] / 2;
  }
  // Writes the pairs of one token whose three axis positions are given.
  auto fill = [&](float* row, const std::array<int64_t, 3>& pos) {
    int64_t k = 0;
    for (int a = 0; a < 3; ++a)
      for (float f : inv[size_t(a)]) put_angle(row + 2 * k++, float(pos[size_t(a)]) * f);
  };

  MmditRopeTables t;
  t.image.resize(size_t(hp * wp * pairs * 2));
  // Centred grid positions (diffusers scale_rope=True): −⌈n/2⌉ … ⌊n/2⌋−1.
  const int64_t h_origin = hp - hp / 2, w_origin = wp - wp / 2;
  for (int64_t y = 0; y < hp; ++y)
    for (int64_t x = 0; x < wp; ++x)
      fill(&t.image[size_t((y * wp + x) * pairs * 2)], {0, y - h_origin, x - w_origin});

  t.text.resize(size_t(text_len * pairs * 2));
  const int64_t text_origin = std::max(hp / 2, wp / 2);
  for (int64_t i = 0; i < text_len; ++i) {
    int64_t p = text_origin + i;
    fill(&t.text[size_t(i * pairs * 2)], {p, p, p});
  }
  return t;
}

}  // namespace qi

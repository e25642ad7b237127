#include "io/random_weights.h"

#include <cmath>
#include <cstring>

#include "core/parallel_for.h"

namespace qi {

namespace {

constexpr double kNormWeightJitter = 0.1;
constexpr double kBiasStd = 0.02;
constexpr double kEmbeddingStd = 1.0;
// A uniform distribution on [-a, a] has std a/√3.
const double kUniformStdToHalfWidth = std::sqrt(3.0);
// Values generated per parallel work item.
constexpr int64_t kChunk = 1 << 20;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// splitmix64 finaliser: a high-quality 64-bit hash, so value i of tensor t is hash(seed, t, i).
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Spread {
  double center, half_width;
};

Spread spread_for(const ExpectedTensor& e) {
  const bool is_bias = ends_with(e.key, ".bias");
  // Norm scales: 1-D (or [C,1,1,1]) tensors of a *norm* module (norm_q, txt_norm, norm1.gamma, ...), not
  // the Linear inside norm_out.
  const bool is_norm = e.key.find("norm") != std::string::npos && !e.shape.empty() &&
                       shape_numel(e.shape) == e.shape[0] && !is_bias;
  const bool is_embedding = ends_with(e.key, "embed_tokens.weight");
  int64_t fan_in = 1;
  for (size_t i = 1; i < e.shape.size(); ++i) fan_in *= e.shape[i];
  const double std = is_bias ? kBiasStd
                     : is_norm ? kNormWeightJitter
                     : is_embedding ? kEmbeddingStd
                                    : 1.0 / std::sqrt(double(std::max<int64_t>(fan_in, 1)));
  return {is_norm ? 1.0 : 0.0, std * kUniformStdToHalfWidth};
}

}  // namespace

std::vector<TensorToWrite> random_weights(const std::vector<ExpectedTensor>& expected, uint64_t seed,
                                          size_t first_index) {
  // The tensors' memory is allocated (and zeroed, which faults its pages in) on every thread: one thread
  // zeroing 41 GB of transformer weights took longer than generating them.
  std::vector<TensorToWrite> out(expected.size());
  parallel_for(expected.size(), 0, [&](size_t t) {
    const ExpectedTensor& e = expected[t];
    out[t] = TensorToWrite{e.key, DType::BF16, e.shape, std::vector<uint8_t>(size_t(shape_numel(e.shape)) * 2)};
  });
  for (size_t t = 0; t < expected.size(); ++t) {
    const ExpectedTensor& e = expected[t];
    const int64_t n = shape_numel(e.shape);
    TensorToWrite& w = out[t];
    const Spread s = spread_for(e);
    const uint64_t stream = mix(seed ^ mix(uint64_t(first_index + t) + 1));
    uint8_t* dst = w.data.data();
    parallel_for(size_t((n + kChunk - 1) / kChunk), 0, [&](size_t chunk) {
      const int64_t begin = int64_t(chunk) * kChunk, end = std::min(n, begin + kChunk);
      for (int64_t i = begin; i < end; ++i) {
        // 53 random bits -> uniform in [-1, 1).
        const double u = double(mix(stream + uint64_t(i)) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        const uint16_t h = f32_to_bf16(float(s.center + s.half_width * u));
        std::memcpy(dst + 2 * i, &h, 2);
      }
    });
  }
  return out;
}

TensorStore random_weights_store(const std::string& location, const std::vector<ExpectedTensor>& expected, uint64_t seed) {
  return TensorStore::from_memory(location, random_weights(expected, seed));
}

}  // namespace qi

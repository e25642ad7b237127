#include "io/tensor_health.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/parallel_for.h"

namespace qi {

namespace {

// Elements per work item: big enough to amortise scheduling, small enough to split the largest matrices.
constexpr int64_t kChunkElements = int64_t(4) << 20;
// Independent float accumulators per block, so the compiler can vectorise the sums.
constexpr int kLanes = 8;
// Elements summed in float before the block total moves into double: keeps float rounding negligible.
constexpr int64_t kBlockElements = 1024;

struct Partial {
  int64_t zeros = 0, nans = 0, infs = 0;
  double sum = 0, sum_sq = 0, max_abs = 0;

  void merge(const Partial& o) {
    zeros += o.zeros;
    nans += o.nans;
    infs += o.infs;
    sum += o.sum;
    sum_sq += o.sum_sq;
    max_abs = std::max(max_abs, o.max_abs);
  }
};

template <DType D>
float load(const uint8_t* data, int64_t i) {
  if constexpr (D == DType::F32) {
    float f;
    std::memcpy(&f, data + 4 * i, 4);
    return f;
  } else if constexpr (D == DType::F16 || D == DType::BF16) {
    uint16_t h;
    std::memcpy(&h, data + 2 * i, 2);
    return D == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
  } else if constexpr (D == DType::I32) {
    int32_t v;
    std::memcpy(&v, data + 4 * i, 4);
    return float(v);
  } else {
    return float(data[i]);
  }
}

// Per-lane accumulators of one block (kBlockElements fits the 32-bit counters).
struct Lanes {
  float sum[kLanes] = {}, sum_sq[kLanes] = {}, max_abs[kLanes] = {};
  int32_t zeros[kLanes] = {}, nans[kLanes] = {}, infs[kLanes] = {};

  // Branch-free so that the lane loop vectorises: classification works on the bit pattern.
  void add(int lane, float v) {
    const uint32_t magnitude = f32_bits(v) & 0x7fffffffu;
    const bool nonfinite = magnitude >= 0x7f800000u;  // exponent all ones
    const bool nan = magnitude > 0x7f800000u;
    const float finite = nonfinite ? 0.0f : v;
    zeros[lane] += magnitude == 0;
    nans[lane] += nan;
    infs[lane] += nonfinite && !nan;
    sum[lane] += finite;
    sum_sq[lane] += finite * finite;
    max_abs[lane] = std::max(max_abs[lane], f32_from_bits(f32_bits(finite) & 0x7fffffffu));
  }

  void flush_into(Partial& p) const {
    for (int lane = 0; lane < kLanes; ++lane) {
      p.zeros += zeros[lane];
      p.nans += nans[lane];
      p.infs += infs[lane];
      p.sum += sum[lane];
      p.sum_sq += sum_sq[lane];
      p.max_abs = std::max(p.max_abs, double(max_abs[lane]));
    }
  }
};

template <DType D>
Partial scan(const uint8_t* data, int64_t begin, int64_t end) {
  Partial p;
  for (int64_t block = begin; block < end; block += kBlockElements) {
    const int64_t block_end = std::min(end, block + kBlockElements);
    Lanes lanes;
    int64_t i = block;
    for (; i + kLanes <= block_end; i += kLanes)
      for (int lane = 0; lane < kLanes; ++lane) lanes.add(lane, load<D>(data, i + lane));
    for (; i < block_end; ++i) lanes.add(0, load<D>(data, i));
    lanes.flush_into(p);
  }
  return p;
}

Partial scan(const TensorView& t, int64_t begin, int64_t end) {
  switch (t.dtype) {
    case DType::F32: return scan<DType::F32>(t.data, begin, end);
    case DType::F16: return scan<DType::F16>(t.data, begin, end);
    case DType::BF16: return scan<DType::BF16>(t.data, begin, end);
    case DType::I32: return scan<DType::I32>(t.data, begin, end);
    case DType::U8: return scan<DType::U8>(t.data, begin, end);
  }
  return {};
}

}  // namespace

std::string TensorHealth::problem() const {
  if (has_nonfinite()) return std::to_string(nans) + " NaN, " + std::to_string(infs) + " Inf";
  if (all_zero()) return "all zero";
  return "";
}

std::vector<TensorHealth> compute_tensor_health(const std::vector<const TensorView*>& tensors, unsigned threads) {
  struct Chunk {
    size_t tensor;
    int64_t begin, end;
  };
  std::vector<Chunk> chunks;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const int64_t n = tensors[t]->numel();
    for (int64_t b = 0; b < n; b += kChunkElements) chunks.push_back({t, b, std::min(n, b + kChunkElements)});
  }
  std::vector<Partial> partials(chunks.size());
  parallel_for(chunks.size(), threads,
               [&](size_t c) { partials[c] = scan(*tensors[chunks[c].tensor], chunks[c].begin, chunks[c].end); });

  std::vector<Partial> totals(tensors.size());
  for (size_t c = 0; c < chunks.size(); ++c) totals[chunks[c].tensor].merge(partials[c]);
  std::vector<TensorHealth> out(tensors.size());
  for (size_t t = 0; t < tensors.size(); ++t) {
    const Partial& p = totals[t];
    TensorHealth& h = out[t];
    h.count = tensors[t]->numel();
    h.zeros = p.zeros;
    h.nans = p.nans;
    h.infs = p.infs;
    h.max_abs = p.max_abs;
    const int64_t finite = h.count - h.nans - h.infs;
    if (finite > 0) {
      h.mean = p.sum / double(finite);
      h.stddev = std::sqrt(std::max(0.0, p.sum_sq / double(finite) - h.mean * h.mean));
    }
  }
  return out;
}

}  // namespace qi

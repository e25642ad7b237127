// Moves one component's weights from a TensorStore (memory-mapped files) onto a backend. GEMM weights go
// through Backend::upload_weight (the backend picks its storage format and counts fp16 overflows); small
// vectors (biases, norm weights) and convolution kernels are uploaded as exact F32.
#pragma once
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "ops/backend.h"

namespace qi {

class WeightLoader {
 public:
  WeightLoader(const TensorStore& store, Backend& backend, std::string component);

  // Where matrix() and matrix_from_conv1x1() put weights from now on: device memory (the default) or host
  // memory (Backend::upload_host_weight), for blocks that stream (model/weight_stream.h).
  void set_host(bool on) { host_ = on; }

  // A Linear weight [N, K] for matmul.
  Tensor matrix(const std::string& key);
  // A Linear weight stored with trailing unit dims (1×1 conv [N, K, 1, 1] or [N, K, 1, 1, 1]) as [N, K].
  Tensor matrix_from_conv1x1(const std::string& key);
  // Any tensor as F32 (biases, norm weights, gammas [C,1,1,1] flattened to [C]).
  Tensor vector(const std::string& key);
  // A conv kernel as F32 [O, I, kT, kH, kW] (2-D kernels [O, I, kH, kW] get kT = 1).
  Tensor conv(const std::string& key);
  // Single-frame fast path (spec §4.1): a causal 3-D kernel [O, I, kT, kH, kW] reduced to its last temporal
  // tap [O, I, 1, kH, kW]; with the causal front padding of one frame this is exactly the 3-D conv.
  Tensor conv_last_tap(const std::string& key);
  // The tensor as host floats (exact widening), e.g. for embedding-table lookups.
  std::vector<float> host_f32(const std::string& key) const;
  // Rows [first, first + count) of a 2-D tensor as host floats (embedding lookup without a full copy).
  std::vector<float> host_rows_f32(const std::string& key, int64_t first, int64_t count) const;

  const TensorView& view(const std::string& key) const { return store_.get(key); }
  const WeightUploadStats& stats() const { return stats_; }
  const std::string& component() const { return component_; }

 private:
  const TensorStore& store_;
  Backend& backend_;
  Tensor upload_matrix(const TensorView& v, const Shape& shape);

  std::string component_;
  WeightUploadStats stats_;
  bool host_ = false;
};

// Widens n elements of a float dtype (F32/F16/BF16) to fp32.
void widen_to_f32(const uint8_t* src, DType dtype, int64_t n, float* dst);

}  // namespace qi

// Health statistics of weight tensors: the cheap checks that catch silent load failures (zero-filled or
// truncated downloads, NaN/Inf from a bad conversion) before they surface as a black image.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace qi {

struct TensorHealth {
  int64_t count = 0;
  int64_t zeros = 0;
  int64_t nans = 0;
  int64_t infs = 0;
  double mean = 0;     // over the finite values
  double stddev = 0;   // population standard deviation of the finite values
  double max_abs = 0;  // largest finite magnitude
  bool all_zero() const { return count > 0 && zeros == count; }
  bool has_nonfinite() const { return nans + infs > 0; }
  // Why a tensor this unhealthy cannot be a trained weight ("all zero", "3 NaN, 1 Inf"); empty when healthy.
  std::string problem() const;
};

// Statistics of every tensor, computed on `threads` threads (0 = all cores); result i belongs to tensors[i].
std::vector<TensorHealth> compute_tensor_health(const std::vector<const TensorView*>& tensors, unsigned threads = 0);

}  // namespace qi

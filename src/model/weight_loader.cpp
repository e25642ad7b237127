#include "model/weight_loader.h"

#include <cstring>
#include <stdexcept>

#include "core/error.h"

namespace qi {

void widen_to_f32(const uint8_t* src, DType dtype, int64_t n, float* dst) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    default:
      throw InputError("tensor of dtype " + std::string(dtype_name(dtype)) + " where a float tensor was expected");
  }
}

WeightLoader::WeightLoader(const TensorStore& store, Backend& backend, std::string component)
    : store_(store), backend_(backend), component_(std::move(component)) {}

Tensor WeightLoader::matrix(const std::string& key) {
  const TensorView& v = store_.get(key);
  if (v.shape.size() != 2)
    throw InputError(component_ + ": " + key + " in " + v.file.string() + " should be 2-D, found " + shape_str(v.shape));
  return upload_matrix(v, v.shape);
}

Tensor WeightLoader::matrix_from_conv1x1(const std::string& key) {
  const TensorView& v = store_.get(key);
  if (v.shape.size() < 2 || shape_numel(v.shape) != v.shape[0] * v.shape[1])
    throw InputError(component_ + ": " + key + " in " + v.file.string() + " is not a 1x1 convolution: " +
                     shape_str(v.shape));
  return upload_matrix(v, {v.shape[0], v.shape[1]});
}

Tensor WeightLoader::upload_matrix(const TensorView& v, const Shape& shape) {
  return host_ ? backend_.upload_host_weight(v.data, v.dtype, shape, &stats_)
               : backend_.upload_weight(v.data, v.dtype, shape, &stats_);
}

Tensor WeightLoader::vector(const std::string& key) {
  std::vector<float> f = host_f32(key);
  return backend_.from_host(f.data(), DType::F32, {int64_t(f.size())}, DType::F32);
}

Tensor WeightLoader::conv(const std::string& key) {
  const TensorView& v = store_.get(key);
  Shape s = v.shape;
  if (s.size() == 4) s.insert(s.begin() + 2, 1);
  if (s.size() != 5)
    throw InputError(component_ + ": " + key + " in " + v.file.string() + " is not a conv kernel: " + shape_str(v.shape));
  std::vector<float> f = host_f32(key);
  return backend_.from_host(f.data(), DType::F32, s, DType::F32);
}

Tensor WeightLoader::conv_last_tap(const std::string& key) {
  const TensorView& v = store_.get(key);
  if (v.shape.size() != 5)
    throw InputError(component_ + ": " + key + " in " + v.file.string() + " is not a 3-D conv kernel: " +
                     shape_str(v.shape));
  const int64_t O = v.shape[0], I = v.shape[1], kT = v.shape[2], kHW = v.shape[3] * v.shape[4];
  std::vector<float> full = host_f32(key);
  std::vector<float> tap(size_t(O * I * kHW));
  for (int64_t oi = 0; oi < O * I; ++oi)
    std::memcpy(&tap[size_t(oi * kHW)], &full[size_t((oi * kT + (kT - 1)) * kHW)], size_t(kHW) * sizeof(float));
  return backend_.from_host(tap.data(), DType::F32, {O, I, 1, v.shape[3], v.shape[4]}, DType::F32);
}

std::vector<float> WeightLoader::host_f32(const std::string& key) const {
  const TensorView& v = store_.get(key);
  std::vector<float> out(size_t(v.numel()));
  widen_to_f32(v.data, v.dtype, v.numel(), out.data());
  return out;
}

std::vector<float> WeightLoader::host_rows_f32(const std::string& key, int64_t first, int64_t count) const {
  const TensorView& v = store_.get(key);
  if (v.shape.size() != 2 || first < 0 || count < 0 || first + count > v.shape[0])
    throw InputError(component_ + ": rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                     ") out of range for " + key + " " + shape_str(v.shape));
  const int64_t cols = v.shape[1];
  std::vector<float> out(size_t(count * cols));
  widen_to_f32(v.data + size_t(first * cols) * dtype_size(v.dtype), v.dtype, count * cols, out.data());
  return out;
}

}  // namespace qi

#include "core/tensor.h"

#include <sstream>

#include "core/error.h"

namespace qi {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), dtype_(dtype) {
  if (storage_ && storage_->bytes() < bytes())
    throw std::logic_error("tensor " + shape_str(shape_) + " does not fit its storage");
}

int64_t Tensor::dim(int axis) const {
  int r = rank();
  int a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) throw std::logic_error("axis " + std::to_string(axis) + " out of range for " + describe());
  return shape_[size_t(a)];
}

Tensor Tensor::reshape(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw std::logic_error("reshape " + describe() + " to " + shape_str(shape) + ": element count differs");
  return Tensor(storage_, std::move(shape), dtype_);
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_);
}

}  // namespace qi

// Tensor: a typed, shaped handle to contiguous storage owned by a backend. Tensors are cheap to copy
// (shared storage); reshape() gives a new view of the same storage. There are no strided views: ops that
// need a slice produce a copy, which keeps every kernel's indexing simple and every buffer binding aligned.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace qi {

class Backend;

// Storage for one tensor. Each backend derives its own (host memory, a Vulkan buffer slice, ...).
class Storage {
 public:
  virtual ~Storage() = default;
  virtual size_t bytes() const = 0;
  virtual Backend* backend() const = 0;
};

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, Shape shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return int(shape_.size()); }
  // Negative axes count from the end, as in numpy.
  int64_t dim(int axis) const;
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  size_t bytes() const { return size_t(numel()) * dtype_size(dtype_); }
  Storage* storage() const { return storage_.get(); }
  const std::shared_ptr<Storage>& storage_ptr() const { return storage_; }
  Backend* backend() const { return storage_ ? storage_->backend() : nullptr; }

  // Same storage, new shape (element count must match).
  Tensor reshape(Shape shape) const;
  // Product of all dims but the last: the number of rows when the last axis is the feature axis.
  int64_t rows() const { return shape_.empty() ? 1 : numel() / shape_.back(); }
  std::string describe() const;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::F32;
};

}  // namespace qi

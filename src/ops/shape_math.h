// Index arithmetic over contiguous shapes, shared by the backends' layout ops (concat, slice, ...).
#pragma once
#include <cstdint>
#include <optional>

#include "core/tensor.h"

namespace qi {

// A numpy-style axis (negative counts from the end) as 0..rank-1, or nullopt when out of range.
inline std::optional<int> normalized_axis(int rank, int axis) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) return std::nullopt;
  return a;
}

// Product of the dims before `axis` (the number of independent outer blocks).
inline int64_t outer_size(const Shape& s, int axis) {
  int64_t n = 1;
  for (int i = 0; i < axis; ++i) n *= s[size_t(i)];
  return n;
}

// Product of the dims from `axis` on (the elements of one outer block).
inline int64_t inner_size(const Shape& s, int axis) {
  int64_t n = 1;
  for (size_t i = size_t(axis); i < s.size(); ++i) n *= s[i];
  return n;
}

// The shape of a and b joined along `axis` (already normalised), or nullopt when their dtypes, ranks or
// other dims differ.
inline std::optional<Shape> concat_shape(const Tensor& a, const Tensor& b, int axis) {
  if (a.dtype() != b.dtype() || a.rank() != b.rank()) return std::nullopt;
  for (int i = 0; i < a.rank(); ++i)
    if (i != axis && a.dim(i) != b.dim(i)) return std::nullopt;
  Shape shape = a.shape();
  shape[size_t(axis)] += b.dim(axis);
  return shape;
}

// The shape of x with `length` elements from `start` along `axis` (already normalised), or nullopt when the
// range leaves the axis.
inline std::optional<Shape> slice_shape(const Tensor& x, int axis, int64_t start, int64_t length) {
  if (start < 0 || length < 0 || start + length > x.dim(axis)) return std::nullopt;
  Shape shape = x.shape();
  shape[size_t(axis)] = length;
  return shape;
}

}  // namespace qi

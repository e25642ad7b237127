// Data movement: concat, slice, transpose (any dtype, raw elements), nearest 2× upsampling and the 2×2 latent
// patch packing of spec §2.4.
#include <algorithm>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_ops.h"
#include "ops/shape_math.h"

namespace qi::cpu {
namespace {

constexpr int64_t kRowsPerTask = 64;
constexpr int64_t kTransposeTile = 32;  // square tiles keep both the read and the write side in cache

int normalise_axis(std::string_view op, const Tensor& t, int axis) {
  const std::optional<int> a = normalized_axis(t.rank(), axis);
  if (!a) fail(op, "axis " + std::to_string(axis) + " out of range for " + t.describe());
  return *a;
}


template <typename Element>
void transpose_matrices(const Element* in, Element* out, int64_t matrices, int64_t rows, int64_t cols, ThreadPool& pool) {
  const int64_t row_tiles = (rows + kTransposeTile - 1) / kTransposeTile;
  pool.parallel_for(matrices * row_tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t m = task / row_tiles;
      const int64_t r0 = (task % row_tiles) * kTransposeTile, r1 = std::min(rows, r0 + kTransposeTile);
      const Element* src = in + m * rows * cols;
      Element* dst = out + m * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += kTransposeTile) {
        const int64_t c1 = std::min(cols, c0 + kTransposeTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}

}  // namespace

Tensor concat(const CpuContext& ctx, const Tensor& a, const Tensor& b, int axis) {
  constexpr std::string_view op = "concat";
  check_tensor(ctx, op, "a", a);
  check_tensor(ctx, op, "b", b);
  const int ax = normalise_axis(op, a, axis);
  const std::optional<Shape> joined = concat_shape(a, b, ax);
  if (!joined) fail(op, "a " + a.describe() + " and b " + b.describe() + " differ outside axis " + std::to_string(axis));
  const Shape& shape = *joined;
  Tensor y = ctx.alloc(shape, a.dtype());
  const size_t elem = dtype_size(a.dtype());
  const int64_t outer = outer_size(shape, ax);
  const size_t a_bytes = size_t(inner_size(a.shape(), ax)) * elem, b_bytes = size_t(inner_size(b.shape(), ax)) * elem;
  const auto* ad = static_cast<const char*>(raw_data(a));
  const auto* bd = static_cast<const char*>(raw_data(b));
  auto* yd = static_cast<char*>(raw_data(y));
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(yd + size_t(o) * (a_bytes + b_bytes), ad + size_t(o) * a_bytes, a_bytes);
    std::memcpy(yd + size_t(o) * (a_bytes + b_bytes) + a_bytes, bd + size_t(o) * b_bytes, b_bytes);
  }
  return y;
}

Tensor slice(const CpuContext& ctx, const Tensor& x, int axis, int64_t start, int64_t length) {
  constexpr std::string_view op = "slice";
  check_tensor(ctx, op, "x", x);
  const int ax = normalise_axis(op, x, axis);
  const std::optional<Shape> sliced = slice_shape(x, ax, start, length);
  if (!sliced)
    fail(op, "range [" + std::to_string(start) + ", " + std::to_string(start + length) + ") outside axis " +
                 std::to_string(axis) + " of " + x.describe());
  const Shape& shape = *sliced;
  Tensor y = ctx.alloc(shape, x.dtype());
  const size_t elem = dtype_size(x.dtype());
  const size_t step = size_t(inner_size(x.shape(), ax + 1)) * elem;  // bytes per index along the axis
  const int64_t outer = outer_size(x.shape(), ax);
  const auto* xd = static_cast<const char*>(raw_data(x));
  auto* yd = static_cast<char*>(raw_data(y));
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(yd + size_t(o * length) * step, xd + size_t(o * x.dim(ax) + start) * step, size_t(length) * step);
  return y;
}

Tensor transpose(const CpuContext& ctx, const Tensor& x) {
  constexpr std::string_view op = "transpose";
  check_tensor(ctx, op, "x", x);
  check_min_rank(op, "x", x, 2);
  const int64_t rows = x.dim(-2), cols = x.dim(-1);
  Shape shape = x.shape();
  std::swap(shape[shape.size() - 2], shape[shape.size() - 1]);
  Tensor y = ctx.alloc(shape, x.dtype());
  const int64_t matrices = rows * cols > 0 ? x.numel() / (rows * cols) : 0;
  switch (dtype_size(x.dtype())) {
    case 1:
      transpose_matrices(static_cast<const uint8_t*>(raw_data(x)), static_cast<uint8_t*>(raw_data(y)), matrices, rows,
                         cols, ctx.pool);
      break;
    case 2:
      transpose_matrices(static_cast<const uint16_t*>(raw_data(x)), static_cast<uint16_t*>(raw_data(y)), matrices,
                         rows, cols, ctx.pool);
      break;
    default:
      transpose_matrices(static_cast<const uint32_t*>(raw_data(x)), static_cast<uint32_t*>(raw_data(y)), matrices,
                         rows, cols, ctx.pool);
      break;
  }
  return y;
}

Tensor upsample_nearest2x(const CpuContext& ctx, const Tensor& x) {
  constexpr std::string_view op = "upsample_nearest2x";
  check_f32(ctx, op, "x", x);
  check_min_rank(op, "x", x, 2);
  const int64_t w = x.dim(-1);
  Shape shape = x.shape();
  shape[shape.size() - 2] *= 2;
  shape[shape.size() - 1] *= 2;
  Tensor y = ctx.alloc(shape, DType::F32);
  const float* in = f32_data(x);
  float* out = f32_data(y);
  const int64_t in_rows = x.numel() > 0 ? x.numel() / w : 0;  // rows of all planes together
  ctx.pool.parallel_for(in_rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = in + r * w;
      float* dst = out + r * 4 * w;  // input row r becomes output rows 2r and 2r + 1
      for (int64_t j = 0; j < w; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
      std::copy_n(dst, 2 * w, dst + 2 * w);
    }
  });
  return y;
}

// packed[y·wp + x, c·4 + dy·2 + dx] = latents[c, 2y + dy, 2x + dx] (spec §2.4).
Tensor pack_patches(const CpuContext& ctx, const Tensor& latents) {
  constexpr std::string_view op = "pack_patches";
  check_f32(ctx, op, "latents", latents);
  check_rank(op, "latents", latents, 3);
  const int64_t c = latents.dim(0), h = latents.dim(1), w = latents.dim(2);
  if (h % 2 != 0 || w % 2 != 0) fail(op, "height and width must be even, got latents " + latents.describe());
  const int64_t hp = h / 2, wp = w / 2;
  Tensor y = ctx.alloc({hp * wp, 4 * c}, DType::F32);
  const float* in = f32_data(latents);
  float* out = f32_data(y);
  ctx.pool.parallel_for(hp * wp, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t token = begin; token < end; ++token) {
      const int64_t py = token / wp, px = token % wp;
      float* row = out + token * 4 * c;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx)
            row[ch * 4 + dy * 2 + dx] = in[(ch * h + 2 * py + dy) * w + 2 * px + dx];
    }
  });
  return y;
}

Tensor unpack_patches(const CpuContext& ctx, const Tensor& packed, int64_t channels, int64_t height, int64_t width) {
  constexpr std::string_view op = "unpack_patches";
  check_f32(ctx, op, "packed", packed);
  if (channels <= 0 || height <= 0 || width <= 0 || height % 2 != 0 || width % 2 != 0)
    fail(op, "need positive channels and even height and width, got " + std::to_string(channels) + ", " +
                 std::to_string(height) + ", " + std::to_string(width));
  const int64_t hp = height / 2, wp = width / 2;
  if (packed.shape() != Shape{hp * wp, 4 * channels})
    fail(op, "packed must be [" + std::to_string(hp * wp) + ", " + std::to_string(4 * channels) + "] for " +
                 std::to_string(channels) + "×" + std::to_string(height) + "×" + std::to_string(width) + ", got " +
                 packed.describe());
  Tensor y = ctx.alloc({channels, height, width}, DType::F32);
  const float* in = f32_data(packed);
  float* out = f32_data(y);
  ctx.pool.parallel_for(hp * wp, kRowsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t token = begin; token < end; ++token) {
      const int64_t py = token / wp, px = token % wp;
      const float* row = in + token * 4 * channels;
      for (int64_t ch = 0; ch < channels; ++ch)
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx)
            out[(ch * height + 2 * py + dy) * width + 2 * px + dx] = row[ch * 4 + dy * 2 + dx];
    }
  });
  return y;
}

}  // namespace qi::cpu

// Data movement: concat, slice, chunk, transpose (any dtype; chunk's one-pass kernel 32-bit elements, raw 1/2/4-byte elements packed in words), nearest 2×
// upsampling and the 2×2 latent patch packing of spec §2.4.
#include <algorithm>
#include <initializer_list>
#include <string>

#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"
#include "ops/shape_math.h"

namespace qi::vk {
namespace {

constexpr uint32_t kWorkgroup = 256;  // local_size_x of the layout shaders

int normalise_axis(std::string_view op, const Tensor& t, int axis) {
  const std::optional<int> a = normalized_axis(t.rank(), axis);
  if (!a) fail(op, "axis " + std::to_string(axis) + " out of range for " + t.describe());
  return *a;
}


// log2 of the element size: the shaders' elem_shift.
uint32_t element_shift(DType t) {
  switch (dtype_size(t)) {
    case 1: return 0;
    case 2: return 1;
    default: return 2;
  }
}

// Workgroups for a word-per-thread layout shader writing n_out elements.
Grid word_grid(int64_t n_out, DType t) {
  const uint64_t words = ceil_div(uint64_t(n_out), 4u >> element_shift(t));
  return linear_grid(ceil_div(words, kWorkgroup));
}

// 32-bit elements per 16-byte move of the *_vec4 layout shaders.
constexpr uint32_t kElementsPerQuad = 4;

// Whether the *_vec4 layout shaders apply: 32-bit elements and every row length and offset a multiple of
// kElementsPerQuad.
bool vec4_rows(DType t, std::initializer_list<uint32_t> lengths) {
  if (dtype_size(t) != sizeof(uint32_t)) return false;
  return std::all_of(lengths.begin(), lengths.end(), [](uint32_t n) { return n % kElementsPerQuad == 0; });
}

// Workgroups for a *_vec4 shader writing n_out 32-bit elements, a quad per thread.
Grid quad_grid(int64_t n_out) { return linear_grid(ceil_div(uint64_t(n_out) / kElementsPerQuad, kWorkgroup)); }

}  // namespace

Tensor concat(Context& ctx, const Tensor& a, const Tensor& b, int axis) {
  constexpr std::string_view op = "concat";
  ctx.storage(a, op, "a");
  ctx.storage(b, op, "b");
  const int ax = normalise_axis(op, a, axis);
  const std::optional<Shape> joined = concat_shape(a, b, ax);
  if (!joined) fail(op, "a " + a.describe() + " and b " + b.describe() + " differ outside axis " + std::to_string(axis));
  const Shape& shape = *joined;
  Tensor y = ctx.alloc(shape, a.dtype());
  check_index_range(op, y);
  const int64_t outer = outer_size(shape, ax);
  if (y.numel() == 0) return y;
  struct {
    uint32_t n_out, a_row, b_row, elem_shift;
  } push{uint32_t(y.numel()), uint32_t(a.numel() / outer), uint32_t(b.numel() / outer), element_shift(a.dtype())};
  if (vec4_rows(y.dtype(), {push.a_row, push.b_row}))
    ctx.dispatch(op, "concat_vec4", {in(a), in(b), out(y)}, push, quad_grid(y.numel()));
  else
    ctx.dispatch(op, "concat", {in(a), in(b), out(y)}, push, word_grid(y.numel(), y.dtype()));
  return y;
}

Tensor slice(Context& ctx, const Tensor& x, int axis, int64_t start, int64_t length) {
  constexpr std::string_view op = "slice";
  ctx.storage(x, op, "x");
  check_index_range(op, x);
  const int ax = normalise_axis(op, x, axis);
  const std::optional<Shape> sliced = slice_shape(x, ax, start, length);
  if (!sliced)
    fail(op, "range [" + std::to_string(start) + ", " + std::to_string(start + length) + ") outside axis " +
                 std::to_string(axis) + " of " + x.describe());
  const Shape& shape = *sliced;
  Tensor y = ctx.alloc(shape, x.dtype());
  if (y.numel() == 0) return y;
  const int64_t outer = outer_size(shape, ax), inner = y.numel() / outer / length;
  struct {
    uint32_t n_out, in_row, out_row, offset, elem_shift;
  } push{uint32_t(y.numel()), uint32_t(x.numel() / outer), uint32_t(length * inner), uint32_t(start * inner),
         element_shift(x.dtype())};
  if (vec4_rows(y.dtype(), {push.in_row, push.out_row, push.offset}))
    ctx.dispatch(op, "slice_vec4", {in(x), out(y)}, push, quad_grid(y.numel()));
  else
    ctx.dispatch(op, "slice", {in(x), out(y)}, push, word_grid(y.numel(), y.dtype()));
  return y;
}

std::vector<Tensor> chunk(Context& ctx, const Tensor& x, int axis, int parts) {
  constexpr std::string_view op = "chunk";
  constexpr int kMaxChunkParts = 8;  // output bindings of chunk.comp (MAX_PARTS)
  ctx.storage(x, op, "x");
  check_index_range(op, x);
  const int ax = normalise_axis(op, x, axis);
  if (parts < 1 || x.dim(ax) % parts != 0)
    fail(op, x.describe() + " does not split into " + std::to_string(parts) + " along axis " + std::to_string(axis));
  const int64_t length = x.dim(ax) / parts;
  // One pass for 32-bit elements and up to kMaxChunkParts parts; slices otherwise.
  if (dtype_size(x.dtype()) != 4 || parts > kMaxChunkParts || x.numel() == 0) {
    std::vector<Tensor> y;
    for (int i = 0; i < parts; ++i) y.push_back(slice(ctx, x, axis, i * length, length));
    return y;
  }
  Shape shape = x.shape();
  shape[size_t(ax)] = length;
  std::vector<Tensor> y(kMaxChunkParts);
  for (int i = 0; i < parts; ++i) y[size_t(i)] = ctx.alloc(shape, x.dtype());
  const int64_t outer = outer_size(x.shape(), ax), row = x.numel() / outer / parts;
  struct {
    uint32_t n, parts, row;
  } push{uint32_t(x.numel()), uint32_t(parts), uint32_t(row)};
  // Bindings past `parts` alias the first output (the shader never writes them): bound to the shared dummy
  // buffer, a writeonly binding would count as a write to it for synchronisation validation, against every
  // later dispatch that binds the dummy for an absent input.
  auto part = [&](int i) { return out(y[i < parts ? size_t(i) : 0]); };
  ctx.dispatch(op, "chunk",
               {in(x), part(0), part(1), part(2), part(3), part(4), part(5), part(6), part(7)}, push,
               linear_grid(ceil_div(uint64_t(x.numel()), kWorkgroup)));
  y.resize(size_t(parts));
  return y;
}

Tensor transpose(Context& ctx, const Tensor& x) {
  constexpr std::string_view op = "transpose";
  ctx.storage(x, op, "x");
  check_index_range(op, x);
  if (x.rank() < 2) fail(op, "x must have at least two axes, got " + x.describe());
  Shape shape = x.shape();
  std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
  Tensor y = ctx.alloc(shape, x.dtype());
  if (y.numel() == 0) return y;
  struct {
    uint32_t n_out, r, c, elem_shift;
  } push{uint32_t(y.numel()), uint32_t(x.dim(-2)), uint32_t(x.dim(-1)), element_shift(x.dtype())};
  ctx.dispatch(op, "transpose", {in(x), out(y)}, push, word_grid(y.numel(), y.dtype()));
  return y;
}

Tensor upsample_nearest2x(Context& ctx, const Tensor& x) {
  constexpr std::string_view op = "upsample_nearest2x";
  check_f32(ctx, op, "x", x);
  if (x.rank() < 2) fail(op, "x must have at least two axes, got " + x.describe());
  Shape shape = x.shape();
  shape[shape.size() - 1] *= 2;
  shape[shape.size() - 2] *= 2;
  Tensor y = ctx.alloc(shape, DType::F32);
  check_index_range(op, y);
  struct {
    uint32_t n_out, h, w;
  } push{uint32_t(y.numel()), uint32_t(x.dim(-2)), uint32_t(x.dim(-1))};
  ctx.dispatch(op, "upsample_nearest2x", {in(x), out(y)}, push, linear_grid(ceil_div(y.numel(), kWorkgroup)));
  return y;
}

Tensor pack_patches(Context& ctx, const Tensor& latents) {
  constexpr std::string_view op = "pack_patches";
  check_f32(ctx, op, "latents", latents);
  check_rank(op, "latents", latents, 3);
  check_index_range(op, latents);
  const int64_t c = latents.dim(0), h = latents.dim(1), w = latents.dim(2);
  if (h % 2 != 0 || w % 2 != 0) fail(op, "height and width must be even, got latents " + latents.describe());
  Tensor y = ctx.alloc({(h / 2) * (w / 2), 4 * c}, DType::F32);
  struct {
    uint32_t n, c, h, w;
  } push{uint32_t(y.numel()), uint32_t(c), uint32_t(h), uint32_t(w)};
  ctx.dispatch(op, "pack_patches", {in(latents), out(y)}, push, linear_grid(ceil_div(y.numel(), kWorkgroup)));
  return y;
}

Tensor unpack_patches(Context& ctx, const Tensor& packed, int64_t channels, int64_t height, int64_t width) {
  constexpr std::string_view op = "unpack_patches";
  check_f32(ctx, op, "packed", packed);
  check_index_range(op, packed);
  if (channels <= 0 || height <= 0 || width <= 0 || height % 2 != 0 || width % 2 != 0)
    fail(op, "need positive channels and even height and width, got " + std::to_string(channels) + ", " +
                 std::to_string(height) + ", " + std::to_string(width));
  const Shape want{(height / 2) * (width / 2), 4 * channels};
  if (packed.shape() != want)
    fail(op, "packed must be " + shape_str(want) + " for " + std::to_string(channels) + " channels of " +
                 std::to_string(height) + "x" + std::to_string(width) + ", got " + packed.describe());
  Tensor y = ctx.alloc({channels, height, width}, DType::F32);
  struct {
    uint32_t n, c, h, w;
  } push{uint32_t(y.numel()), uint32_t(channels), uint32_t(height), uint32_t(width)};
  ctx.dispatch(op, "unpack_patches", {in(packed), out(y)}, push, linear_grid(ceil_div(y.numel(), kWorkgroup)));
  return y;
}

}  // namespace qi::vk

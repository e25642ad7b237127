// The decoded image [3, H, W] in [-1, 1] to interleaved 8-bit RGB (spec §2.8), written as packed words.
#include "backend/vulkan/vk_op_checks.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {

Tensor to_rgb8(Context& ctx, const Tensor& x) {
  constexpr std::string_view op = "to_rgb8";
  constexpr uint32_t kWorkgroup = 256;
  constexpr int64_t kRgbChannels = 3;
  constexpr uint64_t kBytesPerWord = 4;
  check_f32(ctx, op, "x", x);
  if (x.rank() != 3 || x.dim(0) != kRgbChannels) fail(op, "x must be [3, H, W], got " + x.describe());
  check_index_range(op, x);
  const int64_t h = x.dim(1), w = x.dim(2);
  Tensor y = ctx.alloc({h, w, kRgbChannels}, DType::U8);
  struct {
    uint32_t n_out, pixels;
  } push{uint32_t(y.numel()), uint32_t(h * w)};
  ctx.dispatch(op, "to_rgb8", {in(x), out(y)}, push,
               linear_grid(ceil_div(ceil_div(uint64_t(y.numel()), kBytesPerWord), kWorkgroup)));
  return y;
}

}  // namespace qi::vk

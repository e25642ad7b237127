// The variant table of every op: matmul, attention and conv3d register their implementations (vk_matmul,
// vk_attention, vk_conv3d); every other op has one shader, "scalar".
#include <algorithm>

#include "backend/vulkan/vk_coopmat_layout.h"
#include "backend/vulkan/vk_ops.h"

namespace qi::vk {

void register_variants(Context& ctx) {
  // The kernels that work on cooperative-matrix accumulators in registers need to know their layout.
  ctx.set_accumulator_layout(probe_accumulator_layout(ctx));
  register_matmul_variants(ctx);
  register_attention_variants(ctx);
  register_conv3d_variants(ctx);
  for (const std::string& op : all_op_names())
    if (ctx.variants().usable(op).empty()) ctx.variants().add(op, {"scalar"});
}

}  // namespace qi::vk

#include "backend/vulkan/vk_coopmat_workgroup_layout.h"

#include <string>
#include <vector>

#include "core/log.h"

namespace qi::vk {
namespace {

constexpr uint32_t kLanesPerRow = 4;  // a block row's elements lie in the lanes of one quad
constexpr uint32_t kRowStep = 8;      // rows of a lane are 8 apart, as are its column pairs

// Whether element e of invocation t sits at (r, c) in the layout with grid_cols subgroup columns.
bool holds(uint32_t rows, uint32_t cols, uint32_t subgroups, uint32_t grid_cols, uint32_t t, uint32_t e, uint32_t r,
           uint32_t c) {
  const uint32_t grid_rows = subgroups / grid_cols;
  const uint32_t block_rows = rows / grid_rows, block_cols = cols / grid_cols;
  const uint32_t sg = t / kWorkgroupProbeSubgroup, lane = t % kWorkgroupProbeSubgroup;
  const uint32_t pairs = block_cols / kRowStep;  // column pairs per block row of a lane
  const uint32_t i = e / (2 * pairs), j = (e / 2) % pairs, b = e % 2;
  return r == (sg / grid_cols) * block_rows + lane / kLanesPerRow + kRowStep * i &&
         c == (sg % grid_cols) * block_cols + kRowStep * j + 2 * (lane % kLanesPerRow) + b;
}

}  // namespace

std::optional<uint32_t> decode_workgroup_layout(std::span<const float> words, uint32_t rows, uint32_t cols,
                                                uint32_t threads) {
  const std::string what = "workgroup-scope accumulator layout " + std::to_string(rows) + "x" + std::to_string(cols) +
                           " on " + std::to_string(threads) + " invocations: ";
  const std::string off = "; the workgroup-scope attention is off";
  const uint32_t subgroups = threads / kWorkgroupProbeSubgroup;
  if (words.size() != size_t(rows) * cols + 1 || subgroups == 0 || threads % kWorkgroupProbeSubgroup != 0) {
    log_info(what + "unexpected probe output" + off);
    return std::nullopt;
  }
  const float elements = words[size_t(rows) * cols];
  if (elements * float(threads) != float(rows * cols)) {
    log_info(what + std::to_string(elements) + " elements per invocation" + off);
    return std::nullopt;
  }
  for (uint32_t grid_cols = 1; grid_cols <= subgroups; grid_cols *= 2) {
    const uint32_t grid_rows = subgroups / grid_cols;
    if (rows % (grid_rows * kRowStep) != 0 || cols % (grid_cols * kRowStep) != 0) continue;
    bool member = true;
    for (uint32_t r = 0; r < rows && member; ++r)
      for (uint32_t c = 0; c < cols && member; ++c) {
        const float v = words[size_t(r) * cols + c];
        const uint32_t id = v >= 0.0f ? uint32_t(v) : 0;
        member = v >= 0.0f && float(id) == v &&
                 holds(rows, cols, subgroups, grid_cols, id / kWorkgroupProbeElementSlots,
                       id % kWorkgroupProbeElementSlots, r, c);
      }
    if (member) {
      log_debug(what + std::to_string(grid_rows) + "x" + std::to_string(grid_cols) + " grid of subgroups");
      return grid_cols;
    }
  }
  log_info(what + "not the layout the workgroup-scope attention assumes" + off);
  return std::nullopt;
}

std::optional<uint32_t> probe_workgroup_layout(Context& ctx, uint32_t rows, uint32_t cols, uint32_t threads) {
  const std::string shader = "coopmat_workgroup_layout_probe_" + std::to_string(rows) + "x" + std::to_string(cols) +
                             "_t" + std::to_string(threads);
  if (!ctx.caps().coopmat_workgroup || !PipelineRegistry::has_shader(shader)) return std::nullopt;
  const size_t count = size_t(rows) * cols + 1;
  Tensor words = ctx.alloc({int64_t(count)}, DType::F32);
  ctx.dispatch("coopmat_workgroup_layout_probe", shader, {out(words)}, nullptr, 0, Grid{1, 1, 1});
  std::vector<float> host(count);
  ctx.download(words, host.data());
  return decode_workgroup_layout(host, rows, cols, threads);
}

}  // namespace qi::vk

#include "backend/vulkan/vk_coopmat_layout.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/log.h"

namespace qi::vk {
namespace {

constexpr uint32_t kMma = 16;         // the probed matrix is kMma × kMma
constexpr uint32_t kSubgroup = 32;    // lanes of the probe's one subgroup
constexpr uint32_t kComponents = 8;   // components per lane in the family
constexpr uint32_t kLanesPerRow = 4;  // a row's components lie in the lanes of one quad
constexpr uint32_t kHalf = 8;         // rows / columns of a half
// The members of the family: which component bits select the row half and the column half (bit 0 always
// selects the column within a pair). The H100 (driver 580.159.04) has {2, 1}.
constexpr AccumulatorLayout kFamily[] = {{1, 2}, {2, 1}};

bool holds(const AccumulatorLayout& l, uint32_t lane, uint32_t e, uint32_t row, uint32_t column) {
  return e < kComponents && row == lane / kLanesPerRow + kHalf * ((e >> l.row_half_bit) & 1) &&
         column == kHalf * ((e >> l.column_half_bit) & 1) + 2 * (lane % kLanesPerRow) + (e & 1);
}

}  // namespace

std::optional<AccumulatorLayout> decode_accumulator_layout(std::span<const float> words) {
  const std::string what = "NV cooperative-matrix accumulator layout: ";
  const std::string off = ": the register-softmax attention is off";
  if (words.size() != kProbeWords) {
    log_info(what + std::to_string(words.size()) + " probe words, not " + std::to_string(kProbeWords) + off);
    return std::nullopt;
  }
  const float components = words[kMma * kMma];
  if (components != float(kComponents)) {
    log_info(what + std::to_string(components) + " components per lane, not " + std::to_string(kComponents) + off);
    return std::nullopt;
  }
  std::string map;  // "lane.component" per element, row by row
  bool member[std::size(kFamily)];
  std::fill(std::begin(member), std::end(member), true);
  for (uint32_t r = 0; r < kMma; ++r) {
    for (uint32_t col = 0; col < kMma; ++col) {
      const float v = words[r * kMma + col];
      if (!(v >= 0.0f) || v >= float(kSubgroup * kProbeComponentSlots) || v != float(uint32_t(v))) {
        log_info(what + "element (" + std::to_string(r) + ", " + std::to_string(col) + ") holds " + std::to_string(v) +
                 ", no lane's component" + off);
        return std::nullopt;
      }
      const uint32_t lane = uint32_t(v) / kProbeComponentSlots, e = uint32_t(v) % kProbeComponentSlots;
      for (size_t f = 0; f < std::size(kFamily); ++f) member[f] = member[f] && holds(kFamily[f], lane, e, r, col);
      map += std::to_string(lane) + "." + std::to_string(e) + (col + 1 < kMma ? " " : "\n");
    }
  }
  log_debug(what + "lane.component of each element, row by row:\n" + map);
  for (size_t f = 0; f < std::size(kFamily); ++f) {
    if (!member[f]) continue;
    log_debug(what + "row half from component bit " + std::to_string(kFamily[f].row_half_bit) +
              ", column half from bit " + std::to_string(kFamily[f].column_half_bit));
    return kFamily[f];
  }
  log_info(what + "outside the family the register kernels handle (QI_LOG=debug shows it)" + off);
  return std::nullopt;
}

std::optional<AccumulatorLayout> probe_accumulator_layout(Context& ctx) {
  const DeviceCaps& c = ctx.caps();
  if (!c.nv_coopmat || c.subgroup_size != kSubgroup || !PipelineRegistry::has_shader("coopmat_layout_probe"))
    return std::nullopt;
  Tensor words = ctx.alloc({int64_t(kProbeWords)}, DType::F32);
  ctx.dispatch("coopmat_layout_probe", "coopmat_layout_probe", {out(words)}, nullptr, 0, Grid{1, 1, 1});
  std::vector<float> host(kProbeWords);
  ctx.download(words, host.data());
  return decode_accumulator_layout(host);
}

std::array<uint32_t, 2> accumulator_layout_constants(const Context& ctx) {
  const AccumulatorLayout l = ctx.accumulator_layout().value_or(kFamily[0]);
  return {l.row_half_bit, l.column_half_bit};
}

}  // namespace qi::vk

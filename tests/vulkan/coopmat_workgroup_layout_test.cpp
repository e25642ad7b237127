// The workgroup-scope accumulator-layout probe behind attention_coopmat_workgroup (vk_coopmat_workgroup_layout.h):
// decoding the probe's output, checked on synthetic maps — the layout found on the H100 for the kernel's two
// accumulators, other grids, and maps the kernel must refuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "backend/vulkan/vk_coopmat_workgroup_layout.h"

namespace qi::test {
namespace {

constexpr uint32_t kSubgroup = 32;

// The probe's output for a rows × cols matrix on `threads` invocations laid out as the NVIDIA driver does:
// subgroups on a grid of grid_cols columns (numbered along columns first), lane l holding rows l/4 + 8i and
// columns 8j + 2(l mod 4) + b of its block as element 2(i·block_cols/8 + j) + b.
std::vector<float> grid_words(uint32_t rows, uint32_t cols, uint32_t threads, uint32_t grid_cols) {
  const uint32_t subgroups = threads / kSubgroup, grid_rows = subgroups / grid_cols;
  const uint32_t block_rows = rows / grid_rows, block_cols = cols / grid_cols;
  const uint32_t elements = rows * cols / threads, pairs = block_cols / 8;
  std::vector<float> w(size_t(rows) * cols + 1, -1.0f);
  for (uint32_t t = 0; t < threads; ++t)
    for (uint32_t e = 0; e < elements; ++e) {
      const uint32_t sg = t / kSubgroup, lane = t % kSubgroup;
      const uint32_t i = e / (2 * pairs), j = (e / 2) % pairs, b = e % 2;
      const uint32_t r = (sg / grid_cols) * block_rows + lane / 4 + 8 * i;
      const uint32_t c = (sg % grid_cols) * block_cols + 8 * j + 2 * (lane % 4) + b;
      w[size_t(r) * cols + c] = float(t * vk::kWorkgroupProbeElementSlots + e);
    }
  w[size_t(rows) * cols] = float(elements);
  return w;
}

TEST(CoopmatWorkgroupLayout, DecodesTheGridsFoundOnTheH100) {
  // attention_coopmat_workgroup_br64_bc32's Sᵀ (32×64) and Oᵀ (128×64) on 128 invocations: 2×2 grids.
  EXPECT_EQ(vk::decode_workgroup_layout(grid_words(32, 64, 128, 2), 32, 64, 128), 2u);
  EXPECT_EQ(vk::decode_workgroup_layout(grid_words(128, 64, 128, 2), 128, 64, 128), 2u);
  // 128×128 on 256 invocations: 2 rows of 4 subgroups (the stand-alone probe of docs/performance.md).
  EXPECT_EQ(vk::decode_workgroup_layout(grid_words(128, 128, 256, 4), 128, 128, 256), 4u);
}

TEST(CoopmatWorkgroupLayout, ReportsTheGridItFinds) {
  EXPECT_EQ(vk::decode_workgroup_layout(grid_words(64, 32, 128, 1), 64, 32, 128), 1u);
  EXPECT_EQ(vk::decode_workgroup_layout(grid_words(32, 128, 128, 4), 32, 128, 128), 4u);
}

TEST(CoopmatWorkgroupLayout, RefusesOtherLayouts) {
  // Two elements of one invocation swapped.
  std::vector<float> swapped = grid_words(32, 64, 128, 2);
  std::swap(swapped[0], swapped[1]);
  EXPECT_FALSE(vk::decode_workgroup_layout(swapped, 32, 64, 128).has_value());
  // Rows numbered the other way within a block (lane l holding row 7 − l/4).
  std::vector<float> flipped = grid_words(32, 64, 128, 2);
  for (uint32_t c = 0; c < 64; ++c)
    for (uint32_t r = 0; r < 4; ++r) std::swap(flipped[r * 64 + c], flipped[(7 - r) * 64 + c]);
  EXPECT_FALSE(vk::decode_workgroup_layout(flipped, 32, 64, 128).has_value());
  // A wrong element count, a missing element, and output of the wrong size.
  std::vector<float> count = grid_words(32, 64, 128, 2);
  count.back() = 32.0f;
  EXPECT_FALSE(vk::decode_workgroup_layout(count, 32, 64, 128).has_value());
  std::vector<float> hole = grid_words(32, 64, 128, 2);
  hole[100] = -1.0f;
  EXPECT_FALSE(vk::decode_workgroup_layout(hole, 32, 64, 128).has_value());
  EXPECT_FALSE(vk::decode_workgroup_layout(std::vector<float>(10, 0.0f), 32, 64, 128).has_value());
}

}  // namespace
}  // namespace qi::test

// The accumulator-layout probe behind the register-softmax attention (vk_coopmat_layout.h): decoding the
// probe's output (checked here on synthetic maps: the H100's, the family's other member, layouts it must
// refuse) and, on the device under test, that the register kernels are offered exactly when the probe finds
// a layout they handle.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_coopmat_layout.h"
#include "backend/vulkan/vk_ops.h"
#include "vulkan/vulkan_test_util.h"

namespace qi::test {
namespace {

constexpr uint32_t kMma = 16, kLanes = 32, kComponents = 8;

// The probe's output for a layout given as (lane, component) -> (row, column).
std::vector<float> probe_words(const std::function<void(uint32_t, uint32_t, uint32_t&, uint32_t&)>& place,
                               uint32_t components = kComponents) {
  std::vector<float> w(vk::kProbeWords, -1.0f);
  for (uint32_t lane = 0; lane < kLanes; ++lane)
    for (uint32_t e = 0; e < components; ++e) {
      uint32_t r = 0, c = 0;
      place(lane, e, r, c);
      if (r < kMma && c < kMma) w[r * kMma + c] = float(lane * vk::kProbeComponentSlots + e);
    }
  w[kMma * kMma] = float(components);
  return w;
}

// Family member {row_bit, column_bit}.
std::vector<float> family_words(uint32_t row_bit, uint32_t column_bit) {
  return probe_words([=](uint32_t lane, uint32_t e, uint32_t& r, uint32_t& c) {
    r = lane / 4 + 8 * ((e >> row_bit) & 1);
    c = 8 * ((e >> column_bit) & 1) + 2 * (lane % 4) + (e & 1);
  });
}

TEST(CoopmatLayout, DecodesTheH100Layout) {
  // What the probe read on the H100 (driver 580.159.04): row 0 is "0.0 0.1 1.0 1.1 2.0 2.1 3.0 3.1 0.2 0.3 …",
  // row 8 starts "0.4 0.5 1.4 1.5": the row half from component bit 2, the column half from bit 1.
  const std::vector<float> w = family_words(2, 1);
  ASSERT_EQ(w[1], 1.0f);
  ASSERT_EQ(w[8], 2.0f);
  ASSERT_EQ(w[8 * kMma], 4.0f);
  auto l = vk::decode_accumulator_layout(w);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->row_half_bit, 2u);
  EXPECT_EQ(l->column_half_bit, 1u);
}

TEST(CoopmatLayout, DecodesTheFamilysOtherMember) {
  auto l = vk::decode_accumulator_layout(family_words(1, 2));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->row_half_bit, 1u);
  EXPECT_EQ(l->column_half_bit, 2u);
}

TEST(CoopmatLayout, RefusesLayoutsOutsideTheFamily) {
  // Transposed: a lane's pair runs down a column, so rows do not live in quads.
  EXPECT_FALSE(vk::decode_accumulator_layout(probe_words([](uint32_t lane, uint32_t e, uint32_t& r, uint32_t& c) {
                 c = lane / 4 + 8 * ((e >> 2) & 1);
                 r = 8 * ((e >> 1) & 1) + 2 * (lane % 4) + (e & 1);
               })).has_value());
  // Rows spread over lanes 8 apart instead of quads.
  EXPECT_FALSE(vk::decode_accumulator_layout(probe_words([](uint32_t lane, uint32_t e, uint32_t& r, uint32_t& c) {
                 r = lane % 8 + 8 * ((e >> 2) & 1);
                 c = 8 * ((e >> 1) & 1) + 2 * (lane / 8) + (e & 1);
               })).has_value());
  // The right map with a component count other than 8.
  std::vector<float> w = family_words(2, 1);
  w[kMma * kMma] = 4.0f;
  EXPECT_FALSE(vk::decode_accumulator_layout(w).has_value());
  // An element no lane wrote (NaN poison), a fractional one, and a truncated output.
  w = family_words(2, 1);
  w[37] = std::nanf("");
  EXPECT_FALSE(vk::decode_accumulator_layout(w).has_value());
  w = family_words(2, 1);
  w[37] += 0.5f;
  EXPECT_FALSE(vk::decode_accumulator_layout(w).has_value());
  w = family_words(2, 1);
  w.pop_back();
  EXPECT_FALSE(vk::decode_accumulator_layout(w).has_value());
}

class CoopmatLayoutOnDevice : public VulkanTest {};

// The register-softmax variants are offered exactly when the probe found a layout (lavapipe has no
// cooperative matrices: none; the H100: the {2, 1} layout and both configurations).
TEST_F(CoopmatLayoutOnDevice, RegisterKernelsFollowTheProbe) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  vk::register_variants(*ctx);
  const auto layout = vk::probe_accumulator_layout(*ctx);
  EXPECT_EQ(layout.has_value(), ctx->accumulator_layout().has_value());
  if (!ctx->caps().nv_coopmat) {
    EXPECT_FALSE(layout.has_value());
  }
  const auto usable = ctx->variants().usable("attention");
  const auto register_variants = std::count_if(usable.begin(), usable.end(), [](const std::string& v) {
    return v.starts_with("coopmat_nv_register_softmax_");
  });
  EXPECT_EQ(register_variants > 0, layout.has_value());
}

}  // namespace
}  // namespace qi::test

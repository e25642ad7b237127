// VariantTable: the variants an op registered, the automatic choice, and membership (has).
#include <gtest/gtest.h>

#include "backend/vulkan/vk_variants.h"
#include "core/error.h"

namespace qi::vk {
namespace {

TEST(VariantTable, HasNamesOnlyTheUsableVariantsOfARegisteredOp) {
  VariantTable t;
  t.add("attention", {"coopmat_nv", "coopmat_nv_wide_head_d384_r4_s2", "scalar"});
  EXPECT_TRUE(t.has("attention", "coopmat_nv_wide_head_d384_r4_s2"));
  EXPECT_TRUE(t.has("attention", "scalar"));
  EXPECT_FALSE(t.has("attention", "coopmat_nv_wide_head"));  // whole names only
  EXPECT_FALSE(t.has("attention", ""));
  EXPECT_FALSE(t.has("matmul", "scalar"));  // an op that registered nothing
  EXPECT_EQ(t.selected("attention"), "coopmat_nv");
  t.select("attention", "scalar");
  EXPECT_EQ(t.selected("attention"), "scalar");
  EXPECT_THROW(t.select("attention", "no_such"), RuntimeFailure);
}

}  // namespace
}  // namespace qi::vk

#include "core/half_conversion.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/dtype.h"

namespace qi {

// Every BF16 bit pattern, repeated over several of the conversion's work items (and a partial last one): each
// value must convert as the scalar f32_to_f16 does, and the overflow count must be the scalar count.
TEST(HalfConversion, Bf16ToF16MatchesTheScalarConversionOnEveryThread) {
  constexpr size_t kPatterns = 0x10000, kRepeats = 37;  // 2.4M values: two whole work items and a part
  std::vector<uint16_t> src(kPatterns * kRepeats);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint16_t((i * 7919) % kPatterns);  // every pattern, shuffled
  std::vector<uint16_t> dst(src.size(), 0xdead);
  const int64_t overflowed = convert_bf16_to_f16(src.data(), dst.data(), src.size());
  int64_t expected_overflows = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    const float f = bf16_to_f32(src[i]);
    expected_overflows += f16_overflows(f);
    ASSERT_EQ(dst[i], f32_to_f16(f)) << "value " << i << " (bf16 0x" << std::hex << src[i] << ")";
  }
  EXPECT_GT(expected_overflows, 0);
  EXPECT_EQ(overflowed, expected_overflows);
}

TEST(HalfConversion, NothingToConvert) {
  EXPECT_EQ(convert_bf16_to_f16(nullptr, nullptr, 0), 0);
}

}  // namespace qi

#include "core/half_conversion.h"

#include <algorithm>
#include <atomic>

#include "core/dtype.h"
#include "core/parallel_for.h"

namespace qi {

namespace {
// Values per work item: a 64 MiB upload chunk is 32 of them, enough to keep every thread of a workstation busy.
constexpr size_t kValuesPerItem = size_t(1) << 20;
}  // namespace

int64_t convert_bf16_to_f16(const uint16_t* src, uint16_t* dst, size_t n) {
  std::atomic<int64_t> overflowed{0};
  parallel_for((n + kValuesPerItem - 1) / kValuesPerItem, 0, [&](size_t item) {
    const size_t begin = item * kValuesPerItem, end = std::min(n, begin + kValuesPerItem);
    int64_t local = 0;
    for (size_t i = begin; i < end; ++i) {
      const float f = bf16_to_f32(src[i]);
      local += f16_overflows(f);
      dst[i] = f32_to_f16(f);
    }
    overflowed += local;
  });
  return overflowed;
}

}  // namespace qi

// Bulk conversion of BF16 weights to F16 on the host threads (what the tensor-core backends store; see
// Backend::upload_weight).
#pragma once
#include <cstddef>
#include <cstdint>

namespace qi {

// dst[i] = f32_to_f16(bf16_to_f32(src[i])) for i < n (round to nearest even; values past F16's range become
// ±inf), on every host thread. Returns how many finite values overflowed.
int64_t convert_bf16_to_f16(const uint16_t* src, uint16_t* dst, size_t n);

}  // namespace qi

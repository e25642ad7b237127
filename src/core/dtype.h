// Element types that tensors and weight files can hold, and exact bf16/fp16 <-> fp32 conversion.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace qi {

enum class DType : uint8_t { F32, F16, BF16, I32, U8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
  }
  return "?";
}

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// bf16 is the top half of an fp32: widening is exact.
inline float bf16_to_f32(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }

// Round-to-nearest-even narrowing (NaN stays NaN).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// IEEE binary16 -> binary32, exact (subnormals included).
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    if (man == 0) return f32_from_bits(sign);
    // Subnormal: value = man * 2^-24.
    float v = float(man) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13));
  return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

// binary32 -> binary16 with round-to-nearest-even; overflow gives +-inf (callers count those).
inline uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t au = u & 0x7fffffffu;
  if (au > 0x7f800000u) return uint16_t(sign | 0x7e00u);           // NaN
  if (au >= 0x477ff000u) return uint16_t(sign | 0x7c00u);          // rounds past 65504 -> inf
  if (au < 0x38800000u) {                                          // result is subnormal or zero
    if (au < 0x33000000u) return uint16_t(sign);                   // below half the smallest subnormal
    uint32_t man = (au & 0x7fffffu) | 0x800000u;
    int shift = 126 - int(au >> 23);                               // 14..24
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t r = au + 0xfffu + ((au >> 13) & 1u) - 0x38000000u;     // rebias 127 -> 15 and round
  return uint16_t(sign | (r >> 13));
}

// True when a finite fp32 value does not fit fp16's finite range after rounding.
inline bool f16_overflows(float f) {
  uint32_t au = f32_bits(f) & 0x7fffffffu;
  return au >= 0x477ff000u && au < 0x7f800000u;
}

}  // namespace qi

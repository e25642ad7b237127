#version 460
// Packs the activations of an fp16 tensor-core matmul: x [rows, K] fp32 becomes fp16 rows of KP = K rounded
// up to PACK_ALIGN halves (zero-filled past K, so the GEMM reads whole 16-byte chunks), each row multiplied
// by its power of two scale[r] (fp16_scaling.glsl: the row's largest magnitude lands in [2^14, 2^15), so it
// converts without overflow). The GEMM multiplies its fp32 accumulator by the exact inverse. All-zero or
// non-finite rows get scale 1. Rows are handled by `seg` threads each. With HELD_PAIRS > 0 (specialization
// constant 0, set by vk_matmul.cpp to the value pairs each thread covers, at most 32: rows of K ≤ 64 · seg,
// every K of the transformer) the row is read once and held in registers between the maximum and the
// conversion, in a loop of exactly that many steps; with 0 it is read twice.
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
#include "fp16_scaling.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X2 { vec2 x_pairs[]; };  // the same, in pairs (even K)
layout(std430, binding = 1) writeonly buffer Packed { uint packed_words[]; };
layout(std430, binding = 2) writeonly buffer Scale { float row_scale[]; };
layout(push_constant) uniform Params { uint rows; uint k; uint seg; } p;
const uint PACK_ALIGN = 8u;  // mirrors kPackAlign in vk_matmul.cpp: one 16-byte chunk of the GEMM's loads

layout(constant_id = 0) const uint HELD_PAIRS = 0u;
const uint HELD_SIZE = HELD_PAIRS > 0u ? HELD_PAIRS : 1u;  // an array of 0 elements is not allowed

vec2 pair_at(uint row, uint c) {
  return vec2(c < p.k ? x[row * p.k + c] : 0.0, c + 1u < p.k ? x[row * p.k + c + 1u] : 0.0);
}

// Pair w of the row (elements 2w and 2w + 1, zeros past K): one 8-byte load where K is even.
vec2 pair(uint row, uint w) {
  if ((p.k & 1u) != 0u) return pair_at(row, 2u * w);
  return w < p.k / 2u ? x_pairs[row * (p.k / 2u) + w] : vec2(0.0);
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  uint kp = (p.k + PACK_ALIGN - 1u) / PACK_ALIGN * PACK_ALIGN;
  float m = 0.0;
  if (HELD_PAIRS > 0u) {  // one read of the row
    vec2 held[HELD_SIZE];
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint w = lane + i * p.seg;
      held[i] = valid && w < kp / 2u ? pair(row, w) : vec2(0.0);
      m = max(m, max(abs(held[i].x), abs(held[i].y)));
    }
    m = segment_max(m, p.seg);  // every thread calls it (barriers)
    if (!valid) return;
    float s = ldexp(1.0, fp16_scale_exponent(m));
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint w = lane + i * p.seg;
      if (w < kp / 2u) packed_words[row * (kp / 2u) + w] = packHalf2x16(held[i] * s);
    }
    if (lane == 0u) row_scale[row] = s;
    return;
  }
  if (valid)
    for (uint j = lane; j < p.k; j += p.seg) m = max(m, abs(x[row * p.k + j]));
  m = segment_max(m, p.seg);  // every thread calls it (barriers)
  if (!valid) return;
  float s = ldexp(1.0, fp16_scale_exponent(m));
  for (uint j = lane; j < kp / 2u; j += p.seg) packed_words[row * (kp / 2u) + j] = packHalf2x16(pair(row, j) * s);
  if (lane == 0u) row_scale[row] = s;
}

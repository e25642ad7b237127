#version 460
// Packs the activations of an fp16 tensor-core matmul: x [rows, K] fp32 becomes fp16 rows of KP = K rounded
// up to PACK_ALIGN halves (zero-filled past K, so the GEMM reads whole 16-byte chunks), each row multiplied
// by its power of two scale[r] (fp16_scaling.glsl: the row's largest magnitude lands in [2^14, 2^15), so it
// converts without overflow). The GEMM multiplies its fp32 accumulator by the exact inverse. All-zero or
// non-finite rows get scale 1. Rows are handled by `seg` threads each.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
#include "fp16_scaling.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Packed { uint packed_words[]; };
layout(std430, binding = 2) writeonly buffer Scale { float row_scale[]; };
layout(push_constant) uniform Params { uint rows; uint k; uint seg; } p;
const uint PACK_ALIGN = 8u;  // mirrors kPackAlign in vk_matmul.cpp: one 16-byte chunk of the GEMM's loads

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  float m = 0.0;
  if (valid)
    for (uint j = lane; j < p.k; j += p.seg) m = max(m, abs(x[row * p.k + j]));
  m = segment_max(m, p.seg);  // every thread calls it (barriers)
  if (!valid) return;
  float s = ldexp(1.0, fp16_scale_exponent(m));
  uint kp = (p.k + PACK_ALIGN - 1u) / PACK_ALIGN * PACK_ALIGN;
  for (uint j = lane; j < kp / 2u; j += p.seg) {
    uint c = 2u * j;
    vec2 v = vec2(c < p.k ? x[row * p.k + c] : 0.0, c + 1u < p.k ? x[row * p.k + c + 1u] : 0.0) * s;
    packed_words[row * (kp / 2u) + j] = packHalf2x16(v);
  }
  if (lane == 0u) row_scale[row] = s;
}

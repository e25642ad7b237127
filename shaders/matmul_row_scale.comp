#version 460
// Per-row power-of-two scales for the fp16 matmul variants: scale[r] = 2^(ROW_SCALE_EXP − e) where
// max|x[r, :]| ∈ [2^(e−1), 2^e), so the scaled row's largest magnitude lies in [2^(ROW_SCALE_EXP−1),
// 2^ROW_SCALE_EXP) and converts to fp16 without overflow (Qwen-Image activations reach 2e7). Powers of two
// make the scaling and its inverse in the epilogue exact. All-zero or non-finite rows get 1.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Scale { float row_scale[]; };
layout(push_constant) uniform Params { uint rows; uint k; uint seg; } p;
const int ROW_SCALE_EXP = 15;  // largest scaled value < 2^15, half of fp16's 65504 as headroom for rounding
void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  float m = 0.0;
  if (valid)
    for (uint j = lane; j < p.k; j += p.seg) m = max(m, abs(x[row * p.k + j]));
  m = segment_max(m, p.seg);
  if (!valid || lane != 0u) return;
  float s = 1.0;
  if (m > 0.0 && !isinf(m) && !isnan(m)) {
    int e;
    frexp(m, e);
    s = ldexp(1.0, ROW_SCALE_EXP - e);
  }
  row_scale[row] = s;
}

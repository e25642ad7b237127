#version 460
// y = x · rsqrt(mean(x², last axis) + eps) · weight over rows of C values. Each workgroup handles WG / seg
// rows with seg threads per row (seg: a power of two chosen by the host from C).
#define WG 256
#include "common.glsl"
#include "half_words.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { uint w_words[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint rows; uint c; uint seg; float eps; uint has_weight; uint w_dtype; } p;
void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  uint base = row * p.c;
  float sum_sq = 0.0;
  if (valid)
    for (uint j = lane; j < p.c; j += p.seg) sum_sq += x[base + j] * x[base + j];
  float total = segment_sum(sum_sq, p.seg);
  if (!valid) return;
  float inv_rms = inversesqrt(total / float(p.c) + p.eps);
  for (uint j = lane; j < p.c; j += p.seg) {
    float w = p.has_weight != 0u ? LOAD_ANY_FLOAT(w_words, j, p.w_dtype) : 1.0;
    y[base + j] = x[base + j] * inv_rms * w;
  }
}

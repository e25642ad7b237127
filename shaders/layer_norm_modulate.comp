#version 460
// y = LN(x)·(1 + scale[b]) + shift[b] over rows of C values (biased variance, no affine; two passes so
// large-mean rows keep their precision). Row r belongs to batch item r / rows_per_item.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Shift { float shift[]; };
layout(std430, binding = 2) readonly buffer Scale { float scale[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint rows; uint c; uint seg; float eps; uint rows_per_item; } p;
void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  uint base = row * p.c;
  float sum = 0.0;
  if (valid)
    for (uint j = lane; j < p.c; j += p.seg) sum += x[base + j];
  float mean = segment_sum(sum, p.seg) / float(p.c);
  float sum_sq = 0.0;
  if (valid)
    for (uint j = lane; j < p.c; j += p.seg) {
      float d = x[base + j] - mean;
      sum_sq += d * d;
    }
  float var = segment_sum(sum_sq, p.seg) / float(p.c);
  if (!valid) return;
  float inv_std = inversesqrt(var + p.eps);
  uint mod_base = (row / p.rows_per_item) * p.c;
  for (uint j = lane; j < p.c; j += p.seg)
    y[base + j] = (x[base + j] - mean) * inv_std * (1.0 + scale[mod_base + j]) + shift[mod_base + j];
}

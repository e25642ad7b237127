#version 460
// y = LN(x)·(1 + scale[b]) + shift[b] over rows of C values (biased variance, no affine; two passes so
// large-mean rows keep their precision). Row r belongs to batch item r / rows_per_item.
// HELD (specialization constant 0): values per thread kept in registers so x is read once (the exact count,
// set by vk_norms.cpp where it is small enough; 0: x is read three times).
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Shift { float shift[]; };
layout(std430, binding = 2) readonly buffer Scale { float scale[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint rows; uint c; uint seg; float eps; uint rows_per_item; } p;
layout(constant_id = 0) const uint HELD = 0u;
const uint HELD_SIZE = HELD > 0u ? HELD : 1u;  // an array of 0 elements is not allowed

// The row read once into registers: the same two-pass statistics over the held values.
void normalise_held(uint row, uint lane, bool valid) {
  uint base = row * p.c;
  float v[HELD_SIZE];
  float sum = 0.0;
  [[unroll]] for (uint i = 0u; i < HELD; ++i) {
    uint j = lane + i * p.seg;
    v[i] = valid && j < p.c ? x[base + j] : 0.0;
    sum += v[i];
  }
  float mean = segment_sum(sum, p.seg) / float(p.c);
  float sum_sq = 0.0;
  [[unroll]] for (uint i = 0u; i < HELD; ++i) {
    float d = lane + i * p.seg < p.c ? v[i] - mean : 0.0;
    sum_sq += d * d;
  }
  float var = segment_sum(sum_sq, p.seg) / float(p.c);
  if (!valid) return;
  float inv_std = inversesqrt(var + p.eps);
  uint mod_base = (row / p.rows_per_item) * p.c;
  [[unroll]] for (uint i = 0u; i < HELD; ++i) {
    uint j = lane + i * p.seg;
    if (j < p.c) y[base + j] = (v[i] - mean) * inv_std * (1.0 + scale[mod_base + j]) + shift[mod_base + j];
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  if (HELD > 0u) {
    normalise_held(row, lane, valid);
    return;
  }
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

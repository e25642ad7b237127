#version 460
// One guided Euler step on rows of C values (spec §2.7): v = vu + g·(vc − vu); v ← v·‖vc‖/‖v‖ (0 when
// ‖v‖ = 0); x' = x + dt·v. Without v_uncond (GUIDED = 0): x' = x + dt·vc. seg threads per row.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer VCond { float vc[]; };
layout(std430, binding = 2) readonly buffer VUncond { float vu[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint rows; uint c; uint seg; float guidance; float dt; uint guided; } p;
void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  uint base = row * p.c;
  if (p.guided == 0u) {
    if (valid)
      for (uint j = lane; j < p.c; j += p.seg) y[base + j] = x[base + j] + p.dt * vc[base + j];
    return;
  }
  float cond_sq = 0.0, guided_sq = 0.0;
  if (valid)
    for (uint j = lane; j < p.c; j += p.seg) {
      float v = vu[base + j] + p.guidance * (vc[base + j] - vu[base + j]);
      cond_sq += vc[base + j] * vc[base + j];
      guided_sq += v * v;
    }
  cond_sq = segment_sum(cond_sq, p.seg);
  guided_sq = segment_sum(guided_sq, p.seg);
  if (!valid) return;
  float rescale = guided_sq > 0.0 ? sqrt(cond_sq / guided_sq) : 0.0;
  for (uint j = lane; j < p.c; j += p.seg) {
    float v = vu[base + j] + p.guidance * (vc[base + j] - vu[base + j]);
    y[base + j] = x[base + j] + p.dt * (v * rescale);
  }
}

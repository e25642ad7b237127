#version 460
// Nearest-neighbour 2× upsampling of the two last axes: [C, T, H, W] -> [C, T, 2H, 2W] (F32).
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n_out; uint h; uint w; } p;
void main() {
  uint i = linear_invocation_id();
  if (i >= p.n_out) return;
  uint ow = i % (2u * p.w);
  uint oh = (i / (2u * p.w)) % (2u * p.h);
  uint plane = i / (4u * p.h * p.w);  // (c, t)
  y[i] = x[plane * p.h * p.w + (oh / 2u) * p.w + ow / 2u];
}

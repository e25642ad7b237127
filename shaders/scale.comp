#version 460
// y = alpha·x + beta, element-wise over F32.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; float alpha; float beta; } p;
void main() {
  uint i = linear_invocation_id();
  if (i < p.n) y[i] = p.alpha * x[i] + p.beta;
}

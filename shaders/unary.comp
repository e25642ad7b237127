#version 460
// y = act(x) element-wise over F32 (SiLU or GELU-tanh; codes from activations.glsl).
#define WG 256
#include "common.glsl"
#include "activations.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; uint act; } p;
void main() {
  uint i = linear_invocation_id();
  if (i < p.n) y[i] = apply_activation(p.act, x[i]);
}

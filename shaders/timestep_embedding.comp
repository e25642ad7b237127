#version 460
// Sinusoidal features of t [B]: y [B, dim] = [cos(a_0..a_{half-1}), sin(a_0..a_{half-1})] with
// a_k = scale · (t · freq[k]); freq (exp(−ln(max_period)·k/half)) is computed on the host in fp32 exactly as
// the reference does, and cos/sin use the precise reduction (angles reach 1000 rad).
#define WG 256
#include "common.glsl"
#include "precise_trig.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer T { float t[]; };
layout(std430, binding = 1) readonly buffer Freq { float freq[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; uint half_dim; float scale; } p;
void main() {
  uint i = linear_invocation_id();
  if (i >= p.n) return;
  uint dim = 2u * p.half_dim;
  uint b = i / dim, j = i % dim;
  uint k = j % p.half_dim;
  float angle = p.scale * (t[b] * freq[k]);
  vec2 sc = precise_sincos(angle);
  y[i] = j < p.half_dim ? sc.y : sc.x;
}

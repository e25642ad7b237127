#version 460
// Rotary embedding of x [B, S, H, D] with table [S, D/2, 2] = (cos θ, sin θ) per position and pair.
// Pair k is (2k, 2k+1) for the interleaved style (MMDiT, spec §3.4) and (k, k + D/2) for the half-split
// style (text encoder, spec §5.3). One thread per pair.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Table { float table[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
const uint STYLE_INTERLEAVED = 0u;  // mirrors qi::RopeStyle
layout(push_constant) uniform Params { uint pairs; uint s; uint h; uint half_d; uint style; } p;
void main() {
  uint i = linear_invocation_id();
  if (i >= p.pairs) return;
  uint k = i % p.half_d;
  uint vec = i / p.half_d;          // (b, s, h) vector index
  uint pos = (vec / p.h) % p.s;
  uint base = vec * 2u * p.half_d;
  uint ia = p.style == STYLE_INTERLEAVED ? base + 2u * k : base + k;
  uint ib = p.style == STYLE_INTERLEAVED ? ia + 1u : ia + p.half_d;
  float c = table[(pos * p.half_d + k) * 2u];
  float s = table[(pos * p.half_d + k) * 2u + 1u];
  float a = x[ia], b = x[ib];
  y[ia] = a * c - b * s;
  y[ib] = a * s + b * c;
}

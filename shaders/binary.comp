#version 460
// y = a (+|×) b over F32; b has a's element count, or b_n elements broadcast over rows (i % b_n).
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
// Mirror qi::BinaryOp.
const uint OP_ADD = 0u;
const uint OP_MUL = 1u;
layout(push_constant) uniform Params { uint n; uint b_n; uint op; } p;
void main() {
  uint i = linear_invocation_id();
  if (i >= p.n) return;
  float bv = b[i % p.b_n];
  y[i] = p.op == OP_MUL ? a[i] * bv : a[i] + bv;
}

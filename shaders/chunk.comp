#version 460
// Chunk: x viewed as [outer, parts · row] (row = chunk length along the axis · inner) split into `parts`
// outputs [outer, row] of 32-bit elements in one pass: output c takes elements [c · row, (c + 1) · row) of
// every x row. One invocation per element of x; MAX_PARTS output bindings (the unused ones bound to a dummy).
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
const uint MAX_PARTS = 8u;  // mirrors kMaxChunkParts in vk_layout.cpp
layout(std430, binding = 0) readonly buffer X { uint x_words[]; };
layout(std430, binding = 1) writeonly buffer Y0 { uint y0[]; };
layout(std430, binding = 2) writeonly buffer Y1 { uint y1[]; };
layout(std430, binding = 3) writeonly buffer Y2 { uint y2[]; };
layout(std430, binding = 4) writeonly buffer Y3 { uint y3[]; };
layout(std430, binding = 5) writeonly buffer Y4 { uint y4[]; };
layout(std430, binding = 6) writeonly buffer Y5 { uint y5[]; };
layout(std430, binding = 7) writeonly buffer Y6 { uint y6[]; };
layout(std430, binding = 8) writeonly buffer Y7 { uint y7[]; };
layout(push_constant) uniform Params { uint n; uint parts; uint row; } p;

void main() {
  uint i = linear_invocation_id();
  if (i >= p.n) return;
  uint in_row = p.parts * p.row, outer = i / in_row, within = i % in_row;
  uint part = within / p.row, at = outer * p.row + within % p.row;
  uint v = x_words[i];
  switch (part) {
    case 0u: y0[at] = v; break;
    case 1u: y1[at] = v; break;
    case 2u: y2[at] = v; break;
    case 3u: y3[at] = v; break;
    case 4u: y4[at] = v; break;
    case 5u: y5[at] = v; break;
    case 6u: y6[at] = v; break;
    default: y7[at] = v; break;
  }
}

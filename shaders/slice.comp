#version 460
// Slice along an axis of raw elements: x viewed as [outer, in_row] (in_row = axis length · inner), y as
// [outer, out_row] taking elements [offset, offset + out_row) of each row.
// VEC4 defined: 32-bit elements with in_row, out_row and offset multiples of 4, 16 bytes per thread.
#define WG 256
#include "common.glsl"
#include "element_words.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { uint x_words[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y_words[]; };
layout(push_constant) uniform Params { uint n_out; uint in_row; uint out_row; uint offset; uint elem_shift; } p;
#if defined(VEC4)
layout(std430, binding = 0) readonly buffer X4 { uvec4 x_quads[]; };
layout(std430, binding = 1) writeonly buffer Y4 { uvec4 y_quads[]; };
void main() {
  uint q = linear_invocation_id();
  if (q >= p.n_out / 4u) return;
  uint out_row = p.out_row / 4u;
  y_quads[q] = x_quads[(q / out_row) * (p.in_row / 4u) + p.offset / 4u + q % out_row];
}
#else
void main() {
  uint word = linear_invocation_id();
  uint per = ELEMENTS_PER_WORD(p.elem_shift);
  if (word * per >= p.n_out) return;
  uint result = 0u;
  for (uint j = 0u; j < per; ++j) {
    uint e = word * per + j;
    if (e >= p.n_out) break;
    uint v = READ_ELEMENT(x_words, (e / p.out_row) * p.in_row + p.offset + e % p.out_row, p.elem_shift);
    result |= p.elem_shift == 2u ? v : v << (j * ELEMENT_BITS(p.elem_shift));
  }
  y_words[word] = result;
}
#endif

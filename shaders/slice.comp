#version 460
// Slice along an axis of raw elements: x viewed as [outer, in_row] (in_row = axis length · inner), y as
// [outer, out_row] taking elements [offset, offset + out_row) of each row.
#define WG 256
#include "common.glsl"
#include "element_words.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { uint x_words[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y_words[]; };
layout(push_constant) uniform Params { uint n_out; uint in_row; uint out_row; uint offset; uint elem_shift; } p;
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

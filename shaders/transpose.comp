#version 460
// Swaps the last two axes of raw elements: x [batch, R, C] -> y [batch, C, R].
#define WG 256
#include "common.glsl"
#include "element_words.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { uint x_words[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y_words[]; };
layout(push_constant) uniform Params { uint n_out; uint r; uint c; uint elem_shift; } p;
void main() {
  uint word = linear_invocation_id();
  uint per = ELEMENTS_PER_WORD(p.elem_shift);
  if (word * per >= p.n_out) return;
  uint plane = p.r * p.c;
  uint result = 0u;
  for (uint j = 0u; j < per; ++j) {
    uint e = word * per + j;
    if (e >= p.n_out) break;
    uint b = e / plane, rem = e % plane;
    uint col = rem / p.r, row = rem % p.r;  // y[b][col][row] = x[b][row][col]
    uint v = READ_ELEMENT(x_words, b * plane + row * p.c + col, p.elem_shift);
    result |= p.elem_shift == 2u ? v : v << (j * ELEMENT_BITS(p.elem_shift));
  }
  y_words[word] = result;
}

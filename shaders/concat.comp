#version 460
// Concatenation along an axis of raw elements: viewed as a [outer, a_row] and b [outer, b_row] (rows = the
// axis and everything after it), y [outer, a_row + b_row].
// VEC4 defined: 32-bit elements with a_row and b_row multiples of 4, moved 16 bytes per thread (the joint
// attention's Q/K/V: a plain word per thread ran at half the memory rate).
#define WG 256
#include "common.glsl"
#include "element_words.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer A { uint a_words[]; };
layout(std430, binding = 1) readonly buffer B { uint b_words[]; };
layout(std430, binding = 2) writeonly buffer Y { uint y_words[]; };
layout(push_constant) uniform Params { uint n_out; uint a_row; uint b_row; uint elem_shift; } p;
#if defined(VEC4)
layout(std430, binding = 0) readonly buffer A4 { uvec4 a_quads[]; };
layout(std430, binding = 1) readonly buffer B4 { uvec4 b_quads[]; };
layout(std430, binding = 2) writeonly buffer Y4 { uvec4 y_quads[]; };
void main() {
  uint q = linear_invocation_id();
  if (q >= p.n_out / 4u) return;
  uint a_row = p.a_row / 4u, b_row = p.b_row / 4u, out_row = a_row + b_row;
  uint o = q / out_row, c = q % out_row;
  y_quads[q] = c < a_row ? a_quads[o * a_row + c] : b_quads[o * b_row + (c - a_row)];
}
#else
void main() {
  uint word = linear_invocation_id();
  uint per = ELEMENTS_PER_WORD(p.elem_shift);
  if (word * per >= p.n_out) return;
  uint out_row = p.a_row + p.b_row;
  uint result = 0u;
  for (uint j = 0u; j < per; ++j) {
    uint e = word * per + j;
    if (e >= p.n_out) break;
    uint o = e / out_row, c = e % out_row;
    uint v = c < p.a_row ? READ_ELEMENT(a_words, o * p.a_row + c, p.elem_shift)
                         : READ_ELEMENT(b_words, o * p.b_row + (c - p.a_row), p.elem_shift);
    result |= p.elem_shift == 2u ? v : v << (j * ELEMENT_BITS(p.elem_shift));
  }
  y_words[word] = result;
}
#endif

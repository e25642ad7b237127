#version 460
// rope(rms_norm(x, weight, eps), table, style) of x [B, S, H, D] in one pass: the MMDiT's per-head Q/K norm
// followed by its rotary embedding. Each (b, s, h) head vector is a row of D values handled by `seg` threads
// (seg: a power of two chosen by the host from D, as for rms_norm.comp); thread `lane` of a row owns the
// rotation pairs k = lane, lane + seg, ... (pair k is (2k, 2k+1) interleaved, (k, k + D/2) half-split, as in
// rope.comp). Σx² of the row comes from segment_sum; each pair is then normalised, multiplied by its weights
// and rotated by table [S, D/2, 2] = (cos θ, sin θ) of the row's position.
// HELD_PAIRS (specialization constant 0): the pairs each thread keeps in registers between the reduction and
// the rotation, so x is read once (the exact count, set by vk_rope.cpp where it is small enough; 0: x is
// read twice).
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#include "common.glsl"
#include "half_words.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X2 { vec2 x_pairs[]; };  // the same, in interleaved pairs
layout(std430, binding = 1) readonly buffer Wt { uint w_words[]; };
layout(std430, binding = 2) readonly buffer Table { vec2 table[]; };  // (cos θ, sin θ) per position and pair
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) writeonly buffer Y2 { vec2 y_pairs[]; };
const uint STYLE_INTERLEAVED = 0u;  // mirrors qi::RopeStyle
layout(push_constant) uniform Params {
  uint rows;  // B·S·H head vectors
  uint s;
  uint h;
  uint half_d;
  uint seg;
  float eps;
  uint has_weight;
  uint w_dtype;
  uint style;
} p;
layout(constant_id = 0) const uint HELD_PAIRS = 0u;
const uint HELD_SIZE = HELD_PAIRS > 0u ? HELD_PAIRS : 1u;  // an array of 0 elements is not allowed

// Offsets of pair k's two elements within a row.
uvec2 pair_offsets(uint k) {
  return p.style == STYLE_INTERLEAVED ? uvec2(2u * k, 2u * k + 1u) : uvec2(k, k + p.half_d);
}

vec2 load_pair(uint row, uint k) {
  if (p.style == STYLE_INTERLEAVED) return x_pairs[row * p.half_d + k];  // one 8-byte load
  uvec2 o = row * 2u * p.half_d + pair_offsets(k);
  return vec2(x[o.x], x[o.y]);
}

// Pair k of the row: normalised (v · inv_rms · weight, in rms_norm.comp's order), rotated and stored.
void store_rotated(uint row, uint pos, uint k, vec2 v, float inv_rms) {
  uvec2 o = pair_offsets(k);
  vec2 w = p.has_weight != 0u ? vec2(LOAD_ANY_FLOAT(w_words, o.x, p.w_dtype), LOAD_ANY_FLOAT(w_words, o.y, p.w_dtype))
                              : vec2(1.0);
  float a = v.x * inv_rms * w.x, b = v.y * inv_rms * w.y;
  vec2 angle = table[pos * p.half_d + k];
  vec2 rotated = vec2(a * angle.x - b * angle.y, a * angle.y + b * angle.x);
  if (p.style == STYLE_INTERLEAVED) {
    y_pairs[row * p.half_d + k] = rotated;
  } else {
    uint base = row * 2u * p.half_d;
    y[base + o.x] = rotated.x;
    y[base + o.y] = rotated.y;
  }
}

// 1 / RMS of the row from each thread's partial Σx² (every thread calls it: barriers).
float row_inv_rms(float sum_sq) {
  float total = segment_sum(sum_sq, p.seg);
  return inversesqrt(total / float(2u * p.half_d) + p.eps);
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  uint pos = (row / p.h) % p.s;
  float sum_sq = 0.0;
  if (HELD_PAIRS > 0u) {  // one read of the row
    vec2 held[HELD_SIZE];
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint k = lane + i * p.seg;
      held[i] = valid && k < p.half_d ? load_pair(row, k) : vec2(0.0);
      sum_sq += dot(held[i], held[i]);
    }
    float inv_rms = row_inv_rms(sum_sq);
    if (!valid) return;
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint k = lane + i * p.seg;
      if (k < p.half_d) store_rotated(row, pos, k, held[i], inv_rms);
    }
    return;
  }
  if (valid)
    for (uint k = lane; k < p.half_d; k += p.seg) {
      vec2 v = load_pair(row, k);
      sum_sq += dot(v, v);
    }
  float inv_rms = row_inv_rms(sum_sq);
  if (!valid) return;
  for (uint k = lane; k < p.half_d; k += p.seg) store_rotated(row, pos, k, load_pair(row, k), inv_rms);
}

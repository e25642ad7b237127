#version 460
// Packs the activations of an fp16 tensor-core matmul: x [rows, K] fp32 becomes fp16 rows of KP = K rounded
// up to PACK_ALIGN halves (zero-filled past K, so the GEMM reads whole 16-byte chunks), each row multiplied
// by its power of two scale[r] (fp16_scaling.glsl: the row's largest magnitude lands in [2^14, 2^15), so it
// converts without overflow). The GEMM multiplies its fp32 accumulator by the exact inverse. All-zero or
// non-finite rows get scale 1. Rows are handled by `seg` threads each. With HELD_PAIRS > 0 (specialization
// constant 0, set by vk_matmul.cpp to the value pairs each thread covers, at most 32: rows of K ≤ 64 · seg,
// every K of the transformer) the row is read once and held in registers between the maximum and the
// conversion, in a loop of exactly that many steps; with 0 it is read twice.
//
// With MODULATE (matmul_pack_rows_modulate, the modulated_matmul op) the packed row is layer_norm_modulate's
// output instead of x: LN(x)·(1 + scale[b]) + shift[b] (biased variance, no affine, two passes over the
// values as layer_norm_modulate.comp), row r of batch item r / rows_per_item, so the fp32 normalised
// activations are never written; x is then read once (held) or four times. With WRITE_ROW_NORM
// (specialization constant 1) it also writes each packed row's L2 norm in fp32 (modulated_mlp: the bound
// that sizes the hidden activations' fp16 scale, matmul_coopmat_nv.comp with PACKED_OUTPUT).
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
#include "fp16_scaling.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X2 { vec2 x_pairs[]; };  // the same, in pairs (even K)
layout(std430, binding = 1) writeonly buffer Packed { uint packed_words[]; };
layout(std430, binding = 2) writeonly buffer Scale { float row_scale[]; };
#if defined(MODULATE)
layout(std430, binding = 3) readonly buffer Shift { float shift[]; };        // [B, K]
layout(std430, binding = 3) readonly buffer Shift2 { vec2 shift_pairs[]; };  // the same, in pairs (even K)
layout(std430, binding = 4) readonly buffer ModScale { float mod_scale[]; };  // [B, K]
layout(std430, binding = 4) readonly buffer ModScale2 { vec2 mod_scale_pairs[]; };
layout(std430, binding = 5) writeonly buffer RowNorm { float row_norm[]; };   // [rows], WRITE_ROW_NORM only
layout(push_constant) uniform Params { uint rows; uint k; uint seg; float eps; uint rows_per_item; } p;
#else
layout(push_constant) uniform Params { uint rows; uint k; uint seg; } p;
#endif
const uint PACK_ALIGN = 8u;  // mirrors kPackAlign in vk_matmul.cpp: one 16-byte chunk of the GEMM's loads

layout(constant_id = 0) const uint HELD_PAIRS = 0u;
const uint HELD_SIZE = HELD_PAIRS > 0u ? HELD_PAIRS : 1u;  // an array of 0 elements is not allowed
layout(constant_id = 1) const uint WRITE_ROW_NORM = 0u;

// Writes the row's L2 norm from this thread's share of its sum of squares (every thread calls it: barriers).
void store_row_norm(float sum_sq, uint row, uint lane, bool valid) {
#if defined(MODULATE)
  if (WRITE_ROW_NORM == 0u) return;
  float total = segment_sum(sum_sq, p.seg);
  if (valid && lane == 0u) row_norm[row] = sqrt(total);
#endif
}

vec2 pair_at(uint row, uint c) {
  return vec2(c < p.k ? x[row * p.k + c] : 0.0, c + 1u < p.k ? x[row * p.k + c + 1u] : 0.0);
}

// Pair w of the row (elements 2w and 2w + 1, zeros past K): one 8-byte load where K is even.
vec2 pair(uint row, uint w) {
  if ((p.k & 1u) != 0u) return pair_at(row, 2u * w);
  return w < p.k / 2u ? x_pairs[row * (p.k / 2u) + w] : vec2(0.0);
}

// Element c of a valid row as the GEMM multiplies it, from its value v: v itself, or with MODULATE the
// modulated normalisation given the row's mean and 1 / standard deviation; 0 past K.
float gemm_input(float v, uint row, uint c, float mean, float inv_std) {
  if (c >= p.k) return 0.0;
#if defined(MODULATE)
  uint m = (row / p.rows_per_item) * p.k + c;
  return (v - mean) * inv_std * (1.0 + mod_scale[m]) + shift[m];
#else
  return v;
#endif
}

vec2 gemm_input_pair(vec2 v, uint row, uint w, float mean, float inv_std) {
#if defined(MODULATE)
  if ((p.k & 1u) == 0u) {  // even K: the pair's modulation in two 8-byte loads
    if (2u * w >= p.k) return vec2(0.0);
    uint m = (row / p.rows_per_item) * (p.k / 2u) + w;
    return (v - mean) * inv_std * (1.0 + mod_scale_pairs[m]) + shift_pairs[m];
  }
#endif
  return vec2(gemm_input(v.x, row, 2u * w, mean, inv_std), gemm_input(v.y, row, 2u * w + 1u, mean, inv_std));
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;
  uint lane = t % p.seg;
  bool valid = row < p.rows;
  uint kp = (p.k + PACK_ALIGN - 1u) / PACK_ALIGN * PACK_ALIGN;
  float m = 0.0, mean = 0.0, inv_std = 1.0;
  if (HELD_PAIRS > 0u) {  // one read of the row
    vec2 held[HELD_SIZE];
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint w = lane + i * p.seg;
      held[i] = valid && w < kp / 2u ? pair(row, w) : vec2(0.0);
    }
#if defined(MODULATE)
    float sum = 0.0;
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) sum += held[i].x + held[i].y;  // zeros past K
    mean = segment_sum(sum, p.seg) / float(p.k);
    float sum_sq = 0.0;
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint c = 2u * (lane + i * p.seg);
      vec2 d = vec2(c < p.k ? held[i].x - mean : 0.0, c + 1u < p.k ? held[i].y - mean : 0.0);
      sum_sq += d.x * d.x + d.y * d.y;
    }
    inv_std = inversesqrt(segment_sum(sum_sq, p.seg) / float(p.k) + p.eps);
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i)
      held[i] = valid ? gemm_input_pair(held[i], row, lane + i * p.seg, mean, inv_std) : vec2(0.0);
#endif
    float norm_sq = 0.0;
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      m = max(m, max(abs(held[i].x), abs(held[i].y)));
      norm_sq += dot(held[i], held[i]);
    }
    store_row_norm(norm_sq, row, lane, valid);
    m = segment_max(m, p.seg);  // every thread calls it (barriers)
    if (!valid) return;
    float s = ldexp(1.0, fp16_scale_exponent(m));
    [[unroll]] for (uint i = 0u; i < HELD_PAIRS; ++i) {
      uint w = lane + i * p.seg;
      if (w < kp / 2u) packed_words[row * (kp / 2u) + w] = packHalf2x16(held[i] * s);
    }
    if (lane == 0u) row_scale[row] = s;
    return;
  }
#if defined(MODULATE)
  float sum = 0.0;
  if (valid)
    for (uint j = lane; j < p.k; j += p.seg) sum += x[row * p.k + j];
  mean = segment_sum(sum, p.seg) / float(p.k);
  float sum_sq = 0.0;
  if (valid)
    for (uint j = lane; j < p.k; j += p.seg) {
      float d = x[row * p.k + j] - mean;
      sum_sq += d * d;
    }
  inv_std = inversesqrt(segment_sum(sum_sq, p.seg) / float(p.k) + p.eps);
#endif
  float norm_sq = 0.0;
  if (valid)
    for (uint j = lane; j < p.k; j += p.seg) {
      float v = gemm_input(x[row * p.k + j], row, j, mean, inv_std);
      m = max(m, abs(v));
      norm_sq += v * v;
    }
  store_row_norm(norm_sq, row, lane, valid);
  m = segment_max(m, p.seg);  // every thread calls it (barriers)
  if (!valid) return;
  float s = ldexp(1.0, fp16_scale_exponent(m));
  for (uint j = lane; j < kp / 2u; j += p.seg)
    packed_words[row * (kp / 2u) + j] = packHalf2x16(gemm_input_pair(pair(row, j), row, j, mean, inv_std) * s);
  if (lane == 0u) row_scale[row] = s;
}

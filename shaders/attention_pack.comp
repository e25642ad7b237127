#version 460
// Prepares one attention operand for the fp16 tensor-core kernel (attention_coopmat_nv.comp): x [B, S, H, D]
// fp32 becomes packed fp16 [B, H, S, D] (head-major, so a head's rows are contiguous) multiplied by a power
// of two per row, and inv[B, H, S] holds that power's inverse, exactly. The scale puts the row's (MODE_ROW)
// or the head's (MODE_HEAD, from a prior MODE_HEAD_MAX pass) largest magnitude in [2^14, 2^15): no fp16
// overflow whatever the activations' size (Qwen-Image's reach 1e7). Rows are handled by `seg` threads each;
// D must be even. With split > 0 the sequence is two tensors taken as one (joint attention): positions
// s < split of each batch item come from x [B, split, H, D], the rest from x_tail [B, S - split, H, D].
// With norm != 0 (MODE_ROW, joint attention's QkNormRope, interleaved pairs) each head row is first
// normalised and rotated exactly as rms_norm_rope.comp does, each part with its own weight and table (the
// position within its part), so the fp32 normalised q and k are never written; a thread then holds at most
// NORM_HELD_PAIRS pairs (D ≤ 2 · NORM_HELD_PAIRS · seg, checked by the host).
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
#include "fp16_scaling.glsl"
#include "half_words.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Packed { uint packed_words[]; };
layout(std430, binding = 2) writeonly buffer Inv { float inv[]; };
layout(std430, binding = 3) buffer HeadMax { uint head_max_bits[]; };  // [B, H], fp32 bits
layout(std430, binding = 4) readonly buffer XTail { float x_tail[]; };
layout(std430, binding = 5) readonly buffer WeightHead { uint weight_head[]; };  // [D] norm weights (norm != 0)
layout(std430, binding = 6) readonly buffer WeightTail { uint weight_tail[]; };
layout(std430, binding = 7) readonly buffer TableHead { vec2 table_head[]; };  // [positions, D/2] (cos, sin)
layout(std430, binding = 8) readonly buffer TableTail { vec2 table_tail[]; };
layout(push_constant) uniform Params {
  uint b, s, h, d, seg, mode, split;
  uint norm;  // 0, or: has weights (bit 0 head, bit 1 tail) | NORM_ON
  float eps;
  uint w_dtype_head, w_dtype_tail;
} p;
const uint NORM_ON = 4u, NORM_WEIGHT_HEAD = 1u, NORM_WEIGHT_TAIL = 2u;  // mirror vk_attention.cpp
const uint NORM_HELD_PAIRS = 2u;

const uint MODE_HEAD_MAX = 0u;  // head_max_bits[b, h] = max over the head's rows of max|x| (atomic)
const uint MODE_ROW = 1u;       // pack with a scale per row
const uint MODE_HEAD = 2u;      // pack with the head's scale

bool usable(float m) { return m > 0.0 && !isinf(m) && !isnan(m); }

// Element j of position ss, head hh of batch item bb in the (possibly two-part) sequence.
float load_x(uint bb, uint ss, uint hh, uint j) {
  if (p.split == 0u) return x[((bb * p.s + ss) * p.h + hh) * p.d + j];
  if (ss < p.split) return x[((bb * p.split + ss) * p.h + hh) * p.d + j];
  return x_tail[((bb * (p.s - p.split) + ss - p.split) * p.h + hh) * p.d + j];
}

// MODE_ROW with norm: the row normalised (1/RMS · weight) and rotated by its position's angles, held in
// registers, then packed with a scale per row. Every thread calls it (barriers).
void pack_normalised_row(uint row, uint lane, bool valid, uint bb, uint ss, uint hh) {
  uint half_d = p.d / 2u;
  vec2 held[NORM_HELD_PAIRS];
  float sum_sq = 0.0;
  [[unroll]] for (uint i = 0u; i < NORM_HELD_PAIRS; ++i) {
    uint k = lane + i * p.seg;
    held[i] = valid && k < half_d ? vec2(load_x(bb, ss, hh, 2u * k), load_x(bb, ss, hh, 2u * k + 1u)) : vec2(0.0);
    sum_sq += dot(held[i], held[i]);
  }
  float inv_rms = inversesqrt(segment_sum(sum_sq, p.seg) / float(p.d) + p.eps);
  bool tail = p.split != 0u && ss >= p.split;
  uint pos = tail ? ss - p.split : ss;
  bool weighted = (p.norm & (tail ? NORM_WEIGHT_TAIL : NORM_WEIGHT_HEAD)) != 0u;
  float m = 0.0;
  [[unroll]] for (uint i = 0u; i < NORM_HELD_PAIRS; ++i) {
    uint k = lane + i * p.seg;
    if (!valid || k >= half_d) continue;
    vec2 w = vec2(1.0);
    if (weighted)
      w = tail ? vec2(LOAD_ANY_FLOAT(weight_tail, 2u * k, p.w_dtype_tail), LOAD_ANY_FLOAT(weight_tail, 2u * k + 1u, p.w_dtype_tail))
               : vec2(LOAD_ANY_FLOAT(weight_head, 2u * k, p.w_dtype_head), LOAD_ANY_FLOAT(weight_head, 2u * k + 1u, p.w_dtype_head));
    float a = held[i].x * inv_rms * w.x, b = held[i].y * inv_rms * w.y;  // rms_norm_rope.comp's order
    vec2 angle = tail ? table_tail[pos * half_d + k] : table_head[pos * half_d + k];
    held[i] = vec2(a * angle.x - b * angle.y, a * angle.y + b * angle.x);
    m = max(m, max(abs(held[i].x), abs(held[i].y)));
  }
  m = segment_max(m, p.seg);
  if (!valid) return;
  int e = fp16_scale_exponent(m);
  float scale = ldexp(1.0, e);
  uint out_row = (bb * p.h + hh) * p.s + ss;
  [[unroll]] for (uint i = 0u; i < NORM_HELD_PAIRS; ++i) {
    uint k = lane + i * p.seg;
    if (k < half_d) packed_words[out_row * half_d + k] = packHalf2x16(held[i] * scale);
  }
  if (lane == 0u) inv[out_row] = ldexp(1.0, -e);
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;  // row of the sequence: ((b·S + s)·H + h)
  uint lane = t % p.seg;
  uint rows = p.b * p.s * p.h;
  bool valid = row < rows;
  uint hh = row % p.h, ss = (row / p.h) % p.s, bb = row / (p.h * p.s);
  if (p.norm != 0u) {
    pack_normalised_row(row, lane, valid, bb, ss, hh);
    return;
  }
  float m = 0.0;
  if (valid && p.mode != MODE_HEAD)
    for (uint j = lane; j < p.d; j += p.seg) m = max(m, abs(load_x(bb, ss, hh, j)));
  m = segment_max(m, p.seg);  // every thread calls it (barriers)
  if (!valid) return;
  if (p.mode == MODE_HEAD_MAX) {
    // Non-negative floats order like their bit patterns. Queue-family scope: device-wide under the Vulkan
    // memory model without needing vulkanMemoryModelDeviceScope.
    if (lane == 0u && usable(m))
      atomicMax(head_max_bits[bb * p.h + hh], floatBitsToUint(m), gl_ScopeQueueFamily, gl_StorageSemanticsBuffer,
                gl_SemanticsRelaxed);
    return;
  }
  if (p.mode == MODE_HEAD) m = uintBitsToFloat(head_max_bits[bb * p.h + hh]);
  int k = fp16_scale_exponent(m);
  float scale = ldexp(1.0, k), inverse = ldexp(1.0, -k);
  uint out_row = (bb * p.h + hh) * p.s + ss;
  for (uint j = lane; j < p.d / 2u; j += p.seg) {
    vec2 v = vec2(load_x(bb, ss, hh, 2u * j), load_x(bb, ss, hh, 2u * j + 1u)) * scale;
    packed_words[out_row * (p.d / 2u) + j] = packHalf2x16(v);
  }
  if (lane == 0u) inv[out_row] = inverse;
}

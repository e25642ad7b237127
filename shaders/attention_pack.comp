#version 460
// Prepares one attention operand for the fp16 tensor-core kernel (attention_coopmat_nv.comp): x [B, S, H, D]
// fp32 becomes packed fp16 [B, H, S, D] (head-major, so a head's rows are contiguous) multiplied by a power
// of two per row, and inv[B, H, S] holds that power's inverse, exactly. The scale puts the row's (MODE_ROW)
// or the head's (MODE_HEAD, from a prior MODE_HEAD_MAX pass) largest magnitude in [2^14, 2^15): no fp16
// overflow whatever the activations' size (Qwen-Image's reach 1e7). Rows are handled by `seg` threads each;
// D must be even. With split > 0 the sequence is two tensors taken as one (joint attention): positions
// s < split of each batch item come from x [B, split, H, D], the rest from x_tail [B, S - split, H, D].
#extension GL_KHR_memory_scope_semantics : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
#include "fp16_scaling.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Packed { uint packed_words[]; };
layout(std430, binding = 2) writeonly buffer Inv { float inv[]; };
layout(std430, binding = 3) buffer HeadMax { uint head_max_bits[]; };  // [B, H], fp32 bits
layout(std430, binding = 4) readonly buffer XTail { float x_tail[]; };
layout(push_constant) uniform Params { uint b, s, h, d, seg, mode, split; } p;

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

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row = linear_group_id() * (WG / p.seg) + t / p.seg;  // row of the sequence: ((b·S + s)·H + h)
  uint lane = t % p.seg;
  uint rows = p.b * p.s * p.h;
  bool valid = row < rows;
  uint hh = row % p.h, ss = (row / p.h) % p.s, bb = row / (p.h * p.s);
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

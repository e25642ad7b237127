#version 460
// The weight statistics that size modulated_mlp's fp16 hidden activations (matmul_coopmat_nv.comp with
// PACKED_OUTPUT): bound[0] = the largest L2 norm of a row w[n, :], bound[1] = the largest |bias[n]| (0
// without a bias). By Cauchy–Schwarz, |x · w[n, :] + bias[n]| ≤ ‖x‖₂ · bound[0] + bound[1] for every n. The
// host zero-fills bound; workgroups combine with an atomic maximum on the bits (non-negative floats order as
// their bit patterns). LANES threads per weight row, 16-byte loads where K allows.
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer W { uint w_words[]; };
layout(std430, binding = 0) readonly buffer W4 { uvec4 w_quads[]; };
layout(std430, binding = 1) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 2) buffer Bound { uint bound_bits[]; };
layout(push_constant) uniform Params { uint n, k, has_bias, bias_dtype; } p;
#include "weights.glsl"

const uint LANES = 32u;  // threads per weight row
const uint ROWS = WG / LANES;
#if defined(W_F32)
const uint PER_QUAD = 4u;  // weights per 16-byte load
float quad_sum_sq(uvec4 q) {
  vec4 v = uintBitsToFloat(q);
  return dot(v, v);
}
#else
const uint PER_QUAD = 8u;
float quad_sum_sq(uvec4 q) {
  float s = 0.0;
  [[unroll]] for (uint c = 0u; c < 4u; ++c) {
#if defined(W_F16)
    vec2 v = unpackHalf2x16(q[c]);
#else
    vec2 v = vec2(uintBitsToFloat(q[c] << 16), uintBitsToFloat(q[c] & 0xFFFF0000u));
#endif
    s += dot(v, v);
  }
  return s;
}
#endif
shared float partial[WG];

void main() {
  uint t = gl_LocalInvocationID.x, lane = t % LANES;
  uint row = linear_group_id() * ROWS + t / LANES;
  float sum_sq = 0.0;
  if (row < p.n) {
    if (p.k % PER_QUAD == 0u) {
      uint quads = p.k / PER_QUAD;
      for (uint j = lane; j < quads; j += LANES) sum_sq += quad_sum_sq(w_quads[row * quads + j]);
    } else {
      for (uint j = lane; j < p.k; j += LANES) {
        float v = load_w(row * p.k + j);
        sum_sq += v * v;
      }
    }
  }
  partial[t] = sum_sq;
  barrier();
  for (uint s = LANES / 2u; s > 0u; s >>= 1) {
    if (lane < s) partial[t] += partial[t + s];
    barrier();
  }
  if (lane != 0u || row >= p.n) return;
  // Queue-family scope (the devices enable no device-scope memory model), relaxed: only the final maxima matter.
  atomicMax(bound_bits[0], floatBitsToUint(sqrt(partial[t])), gl_ScopeQueueFamily, gl_StorageSemanticsBuffer,
            gl_SemanticsRelaxed);
  if (p.has_bias != 0u)
    atomicMax(bound_bits[1], floatBitsToUint(abs(LOAD_ANY_FLOAT(bias_words, row, p.bias_dtype))), gl_ScopeQueueFamily,
              gl_StorageSemanticsBuffer, gl_SemanticsRelaxed);
}

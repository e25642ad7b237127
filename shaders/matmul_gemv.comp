#version 460
// y[R, N] = epilogue(x[R, K] · w[N, K]ᵀ) for few rows (R ≤ MAX_ROWS, e.g. the per-block modulation vectors:
// one or two rows against 3072×18432 weights). Bandwidth-bound: each weight is read once, with 16-byte loads,
// and multiplied in fp32 with every row of x (read from cache). A workgroup computes COLS output columns,
// LANES threads per column striding over K in chunks of 8; partial sums meet in shared memory. K must be a
// multiple of 8 (the dispatch code checks).
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "segment_reduce.glsl"
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer W { uint w_words[]; };
layout(std430, binding = 1) readonly buffer W4 { uvec4 w_quads[]; };
layout(std430, binding = 2) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 3) readonly buffer Residual { float residual[]; };
layout(std430, binding = 4) readonly buffer Gate { float gate[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
  uint rows, n, k, rows_per_item, act, flags, bias_dtype;
} p;
#include "weights.glsl"
#include "matmul_epilogue.glsl"

const uint MAX_ROWS = 8u;  // mirrored by kGemvMaxRows in vk_matmul.cpp
const uint LANES = 32u;    // threads per output column
const uint COLS = WG / LANES;
const uint VEC = 8u;

void load_w8(uint i, out float v[8]) {
#if defined(W_F16)
  uvec4 q = w_quads[i / 8u];
  for (uint j = 0u; j < 4u; ++j) {
    vec2 h = unpackHalf2x16(q[j]);
    v[2u * j] = h.x;
    v[2u * j + 1u] = h.y;
  }
#elif defined(W_BF16)
  uvec4 q = w_quads[i / 8u];
  for (uint j = 0u; j < 4u; ++j) {
    v[2u * j] = uintBitsToFloat(q[j] << 16);
    v[2u * j + 1u] = uintBitsToFloat(q[j] & 0xFFFF0000u);
  }
#else
  for (uint j = 0u; j < 8u; ++j) v[j] = load_w(i + j);
#endif
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint col = linear_group_id() * COLS + t / LANES, lane = t % LANES;
  float acc[MAX_ROWS];
  for (uint r = 0u; r < MAX_ROWS; ++r) acc[r] = 0.0;
  if (col < p.n) {
    for (uint k0 = lane * VEC; k0 < p.k; k0 += LANES * VEC) {
      float w[8];
      load_w8(col * p.k + k0, w);
      for (uint r = 0u; r < MAX_ROWS; ++r) {
        if (r >= p.rows) break;
        vec4 a = x4[(r * p.k + k0) / 4u], b = x4[(r * p.k + k0) / 4u + 1u];
        acc[r] += a.x * w[0] + a.y * w[1] + a.z * w[2] + a.w * w[3] + b.x * w[4] + b.y * w[5] + b.z * w[6] + b.w * w[7];
      }
    }
  }
  for (uint r = 0u; r < MAX_ROWS; ++r) {
    if (r >= p.rows) break;  // uniform: every thread calls segment_sum the same number of times
    float total = segment_sum(acc[r], LANES);
    if (lane == 0u && col < p.n) store_output(r, col, total);
  }
}

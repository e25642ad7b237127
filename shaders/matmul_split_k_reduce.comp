#version 460
// The end of a split-K matmul (matmul_coopmat_nv.comp with SPLIT_K): y[row, col] = epilogue(Σ_s partial[s, row,
// col]) with the epilogue of every matmul variant (matmul_epilogue.glsl: bias, activation, gated residual).
// The partial products are fp32 and already carry the rows' inverse activation scales. One element per
// invocation, splits summed in order (deterministic).
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Partial { float partial[]; };  // [splits, rows, n]
layout(std430, binding = 1) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 2) readonly buffer Residual { float residual[]; };
layout(std430, binding = 3) readonly buffer Gate { float gate[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
// The matmul's push block (vk_matmul.cpp) with the split count last.
layout(push_constant) uniform Params {
  uint rows, n, k, rows_per_item, act, flags, bias_dtype;
  uint k_per_split, splits;
} p;
#include "matmul_epilogue.glsl"

void main() {
  uint i = linear_invocation_id(), count = p.rows * p.n;
  if (i >= count) return;
  float acc = 0.0;
  for (uint s = 0u; s < p.splits; ++s) acc += partial[s * count + i];
  store_output(i / p.n, i % p.n, acc);
}

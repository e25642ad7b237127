#version 460
// y[R, N] = epilogue(x[R, K] · w[N, K]ᵀ) on tensor cores through GL_NV_cooperative_matrix: fp16 operands,
// fp32 accumulation. x rows are multiplied by their power-of-two row_scale (matmul_row_scale.comp) before
// the fp16 conversion and the accumulator by its inverse in the fp32 epilogue, so large activations cannot
// overflow fp16. A workgroup of 4 subgroups (subgroup size 32) computes a 64×64 tile of y, each subgroup a
// 32×32 quarter as 2×2 16×16×16 products; x and w slices of depth BK are staged in shared memory as fp16
// (w converted from its storage format, weights.glsl). Any R, N, K (edges zero-filled).
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#define WG 128
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w_words[]; };
layout(std430, binding = 2) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 3) readonly buffer Residual { float residual[]; };
layout(std430, binding = 4) readonly buffer Gate { float gate[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(std430, binding = 6) readonly buffer RowScale { float row_scale[]; };
layout(push_constant) uniform Params {
  uint rows, n, k, rows_per_item, act, flags, bias_dtype;
} p;
#include "weights.glsl"
#include "matmul_epilogue.glsl"

const uint THREADS = 128u;
const uint BM = 64u, BN = 64u, BK = 32u;
const uint MMA = 16u;                 // 16×16×16 cooperative matrices
const uint SUB = 32u;                 // each subgroup's quarter of the tile
// Row strides padded by 8 halves / 4 floats: multiples of 16 bytes (required for cooperative loads) that
// also spread the rows over the shared-memory banks.
const uint A_STRIDE = BK + 8u;
const uint B_STRIDE = BK + 8u;
const uint C_STRIDE = BN + 4u;
shared float16_t as[BM * A_STRIDE];   // x slice, row-major [m][k]
shared float16_t bs[BN * B_STRIDE];   // w slice, [n][k] = B (K×N) column-major
shared float cs[BM * C_STRIDE];       // accumulators for the epilogue

// 1 / s for a power of two s, exactly (a division may be approximate on some GPUs).
float inverse_power_of_two(float s) {
  int e;
  frexp(s, e);  // s = 0.5 · 2^e
  return ldexp(1.0, 1 - e);
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID;
  uint sub_m = (sg / 2u) * SUB, sub_n = (sg % 2u) * SUB;
  uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;

  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[2][2];
  for (uint i = 0u; i < 2u; ++i)
    for (uint j = 0u; j < 2u; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);

  for (uint k0 = 0u; k0 < p.k; k0 += BK) {
    for (uint e = t; e < BM * BK; e += THREADS) {
      uint r = e / BK, kk = e % BK;
      uint gr = row0 + r, gk = k0 + kk;
      float xv = (gr < p.rows && gk < p.k) ? x[gr * p.k + gk] * row_scale[gr] : 0.0;
      as[r * A_STRIDE + kk] = float16_t(xv);
      uint gc = col0 + r;
      float wv = (gc < p.n && gk < p.k) ? load_w(gc * p.k + gk) : 0.0;
      bs[r * B_STRIDE + kk] = float16_t(wv);
    }
    barrier();
    for (uint ks = 0u; ks < BK; ks += MMA) {
      fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> a[2];
      fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> b[2];
      for (uint i = 0u; i < 2u; ++i) coopMatLoadNV(a[i], as, (sub_m + i * MMA) * A_STRIDE + ks, A_STRIDE, false);
      for (uint j = 0u; j < 2u; ++j) coopMatLoadNV(b[j], bs, (sub_n + j * MMA) * B_STRIDE + ks, B_STRIDE, true);
      for (uint i = 0u; i < 2u; ++i)
        for (uint j = 0u; j < 2u; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    barrier();
  }
  for (uint i = 0u; i < 2u; ++i)
    for (uint j = 0u; j < 2u; ++j)
      coopMatStoreNV(acc[i][j], cs, (sub_m + i * MMA) * C_STRIDE + sub_n + j * MMA, C_STRIDE, false);
  barrier();
  for (uint e = t; e < BM * BN; e += THREADS) {
    uint r = e / BN, c = e % BN;
    uint row = row0 + r, col = col0 + c;
    if (row < p.rows && col < p.n) store_output(row, col, cs[r * C_STRIDE + c] * inverse_power_of_two(row_scale[row]));
  }
}

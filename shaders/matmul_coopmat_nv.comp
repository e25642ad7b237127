#version 460
// y[R, N] = epilogue(x[R, K] · w[N, K]ᵀ) on tensor cores through GL_NV_cooperative_matrix: fp16 operands,
// fp32 accumulation. x rows are multiplied by their power-of-two row_scale (matmul_row_scale.comp) before
// the fp16 conversion and the accumulator by its inverse in the fp32 epilogue, so large activations cannot
// overflow fp16.
//
// A workgroup of 8 subgroups (subgroup size 32) computes a BM×BN = 128×128 tile of y; subgroup s owns a
// 64×32 block (2 × 4 subgroups) held as 4×2 fragments of 16×16 fp32 accumulators. WG_THREADS/SG_BLOCK_M/
// SG_BLOCK_N change that split (4 subgroups of 64×64 and 8 of 32×64 measured no faster on an H100). K is walked in slices of
// BK = 32: each thread fetches its part of the next slice from global memory with 16-byte loads into
// registers while the tensor cores work on the current slice, then converts it to fp16 (x · row_scale; w
// from bf16 if stored so) into the other of two shared-memory stages, so one barrier per slice suffices.
// The epilogue goes through a 16×16 fp32 patch per subgroup. Any R, N, K: rows/columns past the edge and
// the K tail are zero-filled; K not a multiple of 8 takes an element-wise load path.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
// WG_THREADS, SG_BLOCK_M, SG_BLOCK_N: workgroup size and each subgroup's block (defaults 256, 64×32).
#ifndef WG_THREADS
#define WG_THREADS 256
#define SG_BLOCK_M 64u
#define SG_BLOCK_N 32u
#endif
#define WG WG_THREADS
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };  // the same data, 16-byte loads
layout(std430, binding = 1) readonly buffer W { uint w_words[]; };
layout(std430, binding = 1) readonly buffer W4 { uvec4 w_quads[]; };
#if defined(W_F32)
#error "F32 weights run the scalar matmul (fp32 arithmetic asked for)"
#endif
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

const uint THREADS = WG;
const uint BM = 128u, BN = 128u, BK = 32u;  // mirrored by kCoopmatTile* in vk_matmul.cpp
const uint MMA = 16u;                       // 16×16×16 cooperative matrices
const uint SG_M = SG_BLOCK_M, SG_N = SG_BLOCK_N;  // one subgroup's block; (BM/SG_M) × (BN/SG_N) subgroups
const uint FM = SG_M / MMA, FN = SG_N / MMA;
const uint SG_COLS = BN / SG_N;
const uint VEC = 8u;                        // fp16 per uvec4: the unit of staging and of shared addressing
const uint CHUNKS_PER_ROW = BK / VEC;
const uint CHUNKS = BM * CHUNKS_PER_ROW;    // per operand and slice (BM == BN)
const uint CHUNKS_PER_THREAD = CHUNKS / THREADS;
// Shared memory is addressed in uvec4 (8 halves, one 16-byte store per chunk). Row stride padded by one
// uvec4: a multiple of 16 bytes (cooperative loads) that also spreads the rows over the banks. Two stages of
// x and w: 2·2·128·5·16 B = 40 KiB; plus 8 KiB of epilogue patches: the 48 KiB every NVIDIA GPU gives a
// workgroup.
const uint STRIDE = BK / VEC + 1u;
const uint STAGE = BM * STRIDE;
shared uvec4 as[2 * STAGE];  // x slices, row-major [m][k]
shared uvec4 bs[2 * STAGE];  // w slices, [n][k] = B (K×N) column-major
shared float epi[(WG / 32u) * MMA * MMA];

// 1 / s for a power of two s, exactly (a division may be approximate on some GPUs).
float inverse_power_of_two(float s) {
  int e;
  frexp(s, e);  // s = 0.5 · 2^e
  return ldexp(1.0, 1 - e);
}

// Raw registers of this thread's chunks of the next slice: x as fp32, w as 8 16-bit values (the storage
// format on the vector path, fp16 on the element path). Converted only when stored to shared memory, so the
// global loads stay in flight while the tensor cores work.
vec4 xr[CHUNKS_PER_THREAD][2];
uvec4 wr[CHUNKS_PER_THREAD];
float my_scale[CHUNKS_PER_THREAD];

void fetch(uint k0, uint row0, uint col0, bool vec_path) {
  uint t = gl_LocalInvocationID.x;
  [[unroll]] for (uint c = 0u; c < CHUNKS_PER_THREAD; ++c) {
    uint idx = t + c * THREADS;
    uint r = idx / CHUNKS_PER_ROW, kk = (idx % CHUNKS_PER_ROW) * VEC;
    uint gk = k0 + kk;
    uint gr = row0 + r, gc = col0 + r;
    if (vec_path) {
      // K % 8 == 0: a chunk lies wholly inside or wholly past K.
      xr[c][0] = vec4(0.0);
      xr[c][1] = vec4(0.0);
      wr[c] = uvec4(0u);
      if (gr < p.rows && gk < p.k) {
        uint q = (gr * p.k + gk) / 4u;
        xr[c][0] = x4[q];
        xr[c][1] = x4[q + 1u];
      }
      if (gc < p.n && gk < p.k) wr[c] = w_quads[(gc * p.k + gk) / VEC];
    } else {
      float v[8];
      [[unroll]] for (uint j = 0u; j < 8u; ++j) {
        bool kin = gk + j < p.k;
        xr[c][j / 4u][j % 4u] = (gr < p.rows && kin) ? x[gr * p.k + gk + j] : 0.0;
        v[j] = (gc < p.n && kin) ? load_w(gc * p.k + gk + j) : 0.0;
      }
      wr[c] = uvec4(packHalf2x16(vec2(v[0], v[1])), packHalf2x16(vec2(v[2], v[3])), packHalf2x16(vec2(v[4], v[5])),
                    packHalf2x16(vec2(v[6], v[7])));
    }
  }
}

uint bf16_pair_to_f16(uint word) {
  return packHalf2x16(vec2(uintBitsToFloat(word << 16), uintBitsToFloat(word & 0xFFFF0000u)));
}

void stage_store(uint stage, bool vec_path) {
  uint t = gl_LocalInvocationID.x;
  [[unroll]] for (uint c = 0u; c < CHUNKS_PER_THREAD; ++c) {
    uint idx = t + c * THREADS;
    uint r = idx / CHUNKS_PER_ROW, kc = idx % CHUNKS_PER_ROW;
    uint o = stage * STAGE + r * STRIDE + kc;
    vec4 a = xr[c][0] * my_scale[c], b = xr[c][1] * my_scale[c];
    as[o] = uvec4(packHalf2x16(a.xy), packHalf2x16(a.zw), packHalf2x16(b.xy), packHalf2x16(b.zw));
    uvec4 w = wr[c];
#if defined(W_BF16)
    if (vec_path) w = uvec4(bf16_pair_to_f16(w.x), bf16_pair_to_f16(w.y), bf16_pair_to_f16(w.z), bf16_pair_to_f16(w.w));
#endif
    bs[o] = w;
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint sub_m = (sg / SG_COLS) * SG_M, sub_n = (sg % SG_COLS) * SG_N;
  uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
  bool vec_path = (p.k % VEC) == 0u;

  [[unroll]] for (uint c = 0u; c < CHUNKS_PER_THREAD; ++c) {
    uint gr = row0 + (t + c * THREADS) / CHUNKS_PER_ROW;
    my_scale[c] = gr < p.rows ? row_scale[gr] : 1.0;
  }

  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[FM][FN];
  [[unroll]] for (uint i = 0u; i < FM; ++i)
    [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);

  uint slices = (p.k + BK - 1u) / BK;
  fetch(0u, row0, col0, vec_path);
  stage_store(0u, vec_path);
  barrier();
  for (uint s = 0u; s < slices; ++s) {
    uint cur = s & 1u;
    bool more = s + 1u < slices;
    if (more) fetch((s + 1u) * BK, row0, col0, vec_path);
    [[unroll]] for (uint ks = 0u; ks < BK; ks += MMA) {
      fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> a[FM];
      fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> b[FN];
      [[unroll]] for (uint i = 0u; i < FM; ++i)
        coopMatLoadNV(a[i], as, cur * STAGE + (sub_m + i * MMA) * STRIDE + ks / VEC, STRIDE, false);
      [[unroll]] for (uint j = 0u; j < FN; ++j)
        coopMatLoadNV(b[j], bs, cur * STAGE + (sub_n + j * MMA) * STRIDE + ks / VEC, STRIDE, true);
      [[unroll]] for (uint i = 0u; i < FM; ++i)
        [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    // The other stage was last read in the previous slice, which every thread finished before the barrier.
    if (more) stage_store(cur ^ 1u, vec_path);
    barrier();
  }

  uint pbase = sg * MMA * MMA;
  [[unroll]] for (uint i = 0u; i < FM; ++i) {
    [[unroll]] for (uint j = 0u; j < FN; ++j) {
      coopMatStoreNV(acc[i][j], epi, pbase, MMA, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = lane; e < MMA * MMA; e += 32u) {
        uint row = row0 + sub_m + i * MMA + e / MMA, col = col0 + sub_n + j * MMA + e % MMA;
        if (row < p.rows && col < p.n)
          store_output(row, col, epi[pbase + e] * inverse_power_of_two(row_scale[row]));
      }
      subgroupMemoryBarrierShared();
      subgroupBarrier();
    }
  }
}

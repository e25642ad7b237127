#version 460
// Tensor-core ceilings of workgroup-scope cooperative matrices on this device (benchmark kernels, not model
// ops): the inner loop of the workgroup GEMM tile (coopmat_workgroup_gemm_tile.glsl at BM = 128, BK = 32,
// SPLIT accumulators of BM×BNP, WG_THREADS threads) stripped of its global loads and epilogue, with its parts
// added back one LEVEL at a time. Every round is one K slice: SPLIT multiply-adds of the BM×BK A matrix by a
// BK×BNP B matrix into fp32 accumulators.
//   LEVEL 0  A and B are loaded from shared memory once and stay in registers: the instruction's own rate at
//            workgroup scope (the driver spreads the matrices over the subgroups).
//   LEVEL 1  every round loads A and the SPLIT B matrices from the GEMM's padded shared stage, as its slice
//            loop does (alternating between two row offsets so nothing can be hoisted out of the loop).
//   LEVEL 2  plus the workgroup barrier of every slice.
//   LEVEL 3  plus the GEMM's single-stage staging: barrier, this thread's 16-byte stores of the next slice
//            (what gemm_stage_store writes), barrier. Only global loads and the epilogue are then missing.
//   LEVEL 4  plus the global loads: the stored chunks are the ones fetched into registers during the previous
//            round, as gemm_fetch does. SPREAD = 0: every workgroup reads the same 64 KiB (cache hits, the
//            cost of issuing the loads); SPREAD = 1: the addresses of a 4096×3072×3072 GEMM's tiles (the
//            operands, 42 MiB, stay in L2 after the first touch; the traffic between L2 and the SMs of a
//            GEMM without its epilogue).
//   LEVEL 5  no shared stage in the shader: every round loads A and the SPLIT B matrices straight from a
//            4096×3072×3072 GEMM's operands (the SPREAD = 1 addresses, A rows then B rows of K halves) and the
//            driver stages them. Compiled twice: as KHR loads, and rewritten to tensor-addressed loads
//            (SPV_NV_tensor_addressing, qi_shader(... TENSOR_LOADS)). PREFETCH = 1 loads the next slice before
//            the current one's multiply-adds.
// Written with NV types of gl_ScopeWorkgroup and rewritten to SPV_KHR_cooperative_matrix at build time
// (qi_shader(... KHR_COOPMAT)). One sum per invocation is written so nothing is dead; vk_tensor_core_peak.cpp
// dispatches it and counts FLOPs.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require
#ifndef PREFETCH
#define PREFETCH 0
#endif
#if !defined(LEVEL) || !defined(WG_THREADS) || !defined(BM) || !defined(BK) || !defined(BNP) || !defined(SPLIT)
#error "define LEVEL, WG_THREADS, BM, BK, BNP and SPLIT"
#endif
const uint WG = WG_THREADS;
#include "common.glsl"
layout(local_size_x = WG_THREADS) in;
layout(std430, binding = 0) readonly buffer Operands { float16_t operands[]; };  // operands[0]: every value
layout(std430, binding = 1) writeonly buffer Sums { float sums[]; };            // one per invocation
#if LEVEL == 5
layout(std430, binding = 2) readonly buffer Global { float16_t global_halves[]; };  // GLOBAL_* below
#elif LEVEL >= 4
layout(std430, binding = 2) readonly buffer Global { uvec4 global_chunks[]; };  // GLOBAL_* below
#endif
layout(push_constant) uniform Params { uint iterations; } p;

const uint VEC = 8u;                     // fp16 per uvec4, as coopmat_gemm_staging.glsl
const uint BN = BNP * SPLIT;
const uint STRIDE = BK / VEC + 1u;       // uvec4 words per staged row, padded by one as the GEMM's
const uint ROW_SHIFTS = 2u;              // LEVEL >= 1 alternates between row offsets 0 and 1
const uint A_ROWS = BM + ROW_SHIFTS - 1u, B_ROWS = BN + ROW_SHIFTS - 1u;
const uint A_BASE = 0u, B_BASE = A_ROWS * STRIDE;
const uint TILE_WORDS = (A_ROWS + B_ROWS) * STRIDE;
const uint STAGED_CHUNKS = (BM + BN) * (BK / VEC) / WG;  // gemm_stage_store's per thread and slice
#if LEVEL <= 4
shared uvec4 tile[TILE_WORDS];
#endif

#if LEVEL >= 4
// The GEMM whose tiles SPREAD = 1 walks (vk_tensor_core_peak.cpp sizes the buffer from these): A rows then
// B rows, K halves each.
const uint GLOBAL_ROWS_A = 4096u, GLOBAL_ROWS_B = 3072u, GLOBAL_K = 3072u;
const uint SLICES = GLOBAL_K / BK;
#endif
#if LEVEL == 4
const uint ROW_WORDS = GLOBAL_K / VEC, CHUNKS_PER_ROW = BK / VEC;
const uint SMALL_REGION_ROUNDS = 4u;  // SPREAD = 0: rounds of distinct chunks before the addresses repeat
uvec4 fetched[STAGED_CHUNKS];

// Chunk c of this thread in round `it`: tile row (A rows, then B rows) and k word, as gemm_fetch walks them.
uint global_word(uint c, uint it) {
  uint e = gl_LocalInvocationID.x + c * WG;
  uint row = e / CHUNKS_PER_ROW, kw = e % CHUNKS_PER_ROW;
#if SPREAD
  uint tiles_m = GLOBAL_ROWS_A / BM, tiles_n = GLOBAL_ROWS_B / BN;
  uint id = linear_group_id() % (tiles_m * tiles_n);
  uint row0 = (id % tiles_m) * BM, col0 = (id / tiles_m) * BN;
  uint grow = row < BM ? row0 + row : GLOBAL_ROWS_A + col0 + (row - BM);
  return grow * ROW_WORDS + (it % SLICES) * CHUNKS_PER_ROW + kw;
#else
  return (it % SMALL_REGION_ROUNDS) * (BM + BN) * CHUNKS_PER_ROW + e;
#endif
}
#endif

void main() {
#if LEVEL <= 4
  uint h = packHalf2x16(vec2(float(operands[0])));
  for (uint e = gl_LocalInvocationID.x; e < TILE_WORDS; e += WG) tile[e] = uvec4(h);
  barrier();
#endif

#if LEVEL == 4
  [[unroll]] for (uint c = 0u; c < STAGED_CHUNKS; ++c) fetched[c] = global_chunks[global_word(c, 0u)];
#elif LEVEL == 5
  const uint tiles_m = GLOBAL_ROWS_A / BM, tiles_n = GLOBAL_ROWS_B / BN;
  const uint gemm_tile = linear_group_id() % (tiles_m * tiles_n);
  const uint a_row0 = (gemm_tile % tiles_m) * BM, b_row0 = GLOBAL_ROWS_A + (gemm_tile / tiles_m) * BN;
#endif
  fcoopmatNV<32, gl_ScopeWorkgroup, BM, BNP> acc[SPLIT];
  [[unroll]] for (uint s = 0u; s < SPLIT; ++s) acc[s] = fcoopmatNV<32, gl_ScopeWorkgroup, BM, BNP>(0.0);
#if LEVEL == 5 && PREFETCH
  // PREFETCH: slice it + 1 is loaded before slice it's multiply-adds.
  fcoopmatNV<16, gl_ScopeWorkgroup, BM, BK> a;
  fcoopmatNV<16, gl_ScopeWorkgroup, BK, BNP> b[SPLIT];
  coopMatLoadNV(a, global_halves, a_row0 * GLOBAL_K, GLOBAL_K, false);
  [[unroll]] for (uint s = 0u; s < SPLIT; ++s)
    coopMatLoadNV(b[s], global_halves, (b_row0 + s * BNP) * GLOBAL_K, GLOBAL_K, true);
#endif
#if LEVEL == 0
  fcoopmatNV<16, gl_ScopeWorkgroup, BM, BK> a;
  fcoopmatNV<16, gl_ScopeWorkgroup, BK, BNP> b[SPLIT];
  coopMatLoadNV(a, tile, A_BASE, STRIDE, false);
  [[unroll]] for (uint s = 0u; s < SPLIT; ++s) coopMatLoadNV(b[s], tile, B_BASE + s * BNP * STRIDE, STRIDE, true);
#endif
  for (uint it = 0u; it < p.iterations; ++it) {
#if LEVEL >= 2 && LEVEL <= 4
    barrier();  // the GEMM's "every thread is done reading the previous slice"
#endif
#if LEVEL >= 3 && LEVEL <= 4
    // LEVEL 3: the same values again (the compiler cannot know: it >> 30 is 0 for every run's iteration count).
    [[unroll]] for (uint c = 0u; c < STAGED_CHUNKS; ++c) {
      uint e = gl_LocalInvocationID.x + c * WG;
#if LEVEL >= 4
      tile[(e / (BK / VEC)) * STRIDE + e % (BK / VEC)] = fetched[c];
#else
      tile[(e / (BK / VEC)) * STRIDE + e % (BK / VEC)] = uvec4(h + (it >> 30));
#endif
    }
    barrier();
#endif
#if LEVEL == 4
    [[unroll]] for (uint c = 0u; c < STAGED_CHUNKS; ++c) fetched[c] = global_chunks[global_word(c, it + 1u)];
#endif
#if LEVEL == 5 && PREFETCH
    {
      const uint k0 = ((it + 1u) % SLICES) * BK;
      fcoopmatNV<16, gl_ScopeWorkgroup, BM, BK> a_next;
      fcoopmatNV<16, gl_ScopeWorkgroup, BK, BNP> b_next[SPLIT];
      coopMatLoadNV(a_next, global_halves, a_row0 * GLOBAL_K + k0, GLOBAL_K, false);
      [[unroll]] for (uint s = 0u; s < SPLIT; ++s)
        coopMatLoadNV(b_next[s], global_halves, (b_row0 + s * BNP) * GLOBAL_K + k0, GLOBAL_K, true);
      [[unroll]] for (uint s = 0u; s < SPLIT; ++s) acc[s] = coopMatMulAddNV(a, b[s], acc[s]);
      a = a_next;
      [[unroll]] for (uint s = 0u; s < SPLIT; ++s) b[s] = b_next[s];
    }
#elif LEVEL == 5
    const uint k0 = (it % SLICES) * BK;
    fcoopmatNV<16, gl_ScopeWorkgroup, BM, BK> a;
    coopMatLoadNV(a, global_halves, a_row0 * GLOBAL_K + k0, GLOBAL_K, false);
    [[unroll]] for (uint s = 0u; s < SPLIT; ++s) {
      fcoopmatNV<16, gl_ScopeWorkgroup, BK, BNP> b;
      coopMatLoadNV(b, global_halves, (b_row0 + s * BNP) * GLOBAL_K + k0, GLOBAL_K, true);
      acc[s] = coopMatMulAddNV(a, b, acc[s]);
    }
#elif LEVEL >= 1
    uint shift = (it % ROW_SHIFTS) * STRIDE;
    fcoopmatNV<16, gl_ScopeWorkgroup, BM, BK> a;
    coopMatLoadNV(a, tile, A_BASE + shift, STRIDE, false);
    [[unroll]] for (uint s = 0u; s < SPLIT; ++s) {
      fcoopmatNV<16, gl_ScopeWorkgroup, BK, BNP> b;
      coopMatLoadNV(b, tile, B_BASE + shift + s * BNP * STRIDE, STRIDE, true);
      acc[s] = coopMatMulAddNV(a, b, acc[s]);
    }
#else
    [[unroll]] for (uint s = 0u; s < SPLIT; ++s) acc[s] = coopMatMulAddNV(a, b[s], acc[s]);
#endif
  }
  float total = 0.0;
  [[unroll]] for (uint s = 0u; s < SPLIT; ++s)
    for (int e = 0; e < acc[s].length(); ++e) total += acc[s][e];
  sums[linear_invocation_id()] = total;
}

#version 460
// y[R, N] = epilogue(x[R, K] · w[N, K]ᵀ) on tensor cores through GL_NV_cooperative_matrix: fp16 operands,
// fp32 accumulation. x arrives packed by matmul_pack_rows.comp: fp16 rows of KP = K rounded up to 8 halves,
// each multiplied by its power-of-two row_scale (no fp16 overflow for activations up to 2e7); the epilogue
// multiplies the fp32 accumulator by the exact inverse.
//
// Tile configuration (compile-time defines, one shader variant each; mirrored by kCoopmatConfigs in
// vk_matmul.cpp): a workgroup of WG_THREADS = (BM/SG_M)·(BN/SG_N)·32 threads computes a BM×BN tile of y;
// each subgroup owns an SG_M×SG_N block held as (SG_M/16)×(SG_N/16) fragments of 16×16 fp32 accumulators.
// K is walked in slices of BK: each thread fetches its 16-byte chunks of the next slice from global memory
// into registers while the tensor cores work on the current one. STAGES = 2: two shared-memory stages, one
// barrier per slice; STAGES = 1: one stage (room for larger tiles), two barriers per slice. Workgroups are
// numbered GROUP_M row tiles at a time down the columns, so the weights of a column band are reused from L2
// by the row tiles running at the same time. Any R, N, K: rows/columns past the edge and the K tail are
// zero-filled; weights with K not a multiple of 8 take an element-wise load path.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#if !defined(BM) || !defined(BN) || !defined(BK) || !defined(SG_M) || !defined(SG_N) || !defined(STAGES) || \
    !defined(WG_THREADS)
#error "define BM, BN, BK, SG_M, SG_N, STAGES and WG_THREADS"
#endif
#define WG WG_THREADS
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer XPacked { uvec4 x_chunks[]; };
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

const uint SUBGROUP = 32u;
const uint MMA = 16u;    // 16×16×16 cooperative matrices
const uint VEC = 8u;     // fp16 per uvec4: the unit of loads, staging and shared addressing
const uint GROUP_M = 8u;  // row tiles per band of the workgroup order (L2 reuse of the weights)
const uint FM = SG_M / MMA, FN = SG_N / MMA;
const uint SG_COLS = BN / SG_N;
const uint CHUNKS_PER_ROW = BK / VEC;
const uint A_CHUNKS = BM * CHUNKS_PER_ROW / WG;  // per thread and slice
const uint B_CHUNKS = BN * CHUNKS_PER_ROW / WG;
// Row stride padded by one uvec4: a multiple of 16 bytes (cooperative loads) whose rows fall on distinct
// 16-byte bank groups.
const uint STRIDE = CHUNKS_PER_ROW + 1u;
const uint A_STAGE = BM * STRIDE, B_STAGE = BN * STRIDE;
shared uvec4 as[STAGES * A_STAGE];  // x slices, row-major [m][k]
shared uvec4 bs[STAGES * B_STAGE];  // w slices, [n][k] = B (K×N) column-major
shared float epi[(WG / SUBGROUP) * MMA * MMA];

// 1 / s for a power of two s, exactly (a division may be approximate on some GPUs).
float inverse_power_of_two(float s) {
  int e;
  frexp(s, e);  // s = 0.5 · 2^e
  return ldexp(1.0, 1 - e);
}

uvec4 ar[A_CHUNKS];  // this thread's chunks of the next slice, in flight while the tensor cores work
uvec4 br[B_CHUNKS];

void fetch(uint k0, uint row0, uint col0, uint kp, bool vec_path) {
  uint t = gl_LocalInvocationID.x;
  [[unroll]] for (uint c = 0u; c < A_CHUNKS; ++c) {
    uint idx = t + c * WG;
    uint r = idx / CHUNKS_PER_ROW, gk = k0 + (idx % CHUNKS_PER_ROW) * VEC;
    uint gr = row0 + r;
    ar[c] = (gr < p.rows && gk < kp) ? x_chunks[(gr * kp + gk) / VEC] : uvec4(0u);
  }
  [[unroll]] for (uint c = 0u; c < B_CHUNKS; ++c) {
    uint idx = t + c * WG;
    uint r = idx / CHUNKS_PER_ROW, gk = k0 + (idx % CHUNKS_PER_ROW) * VEC;
    uint gc = col0 + r;
#if defined(K_MULTIPLE_OF_8)
    br[c] = (gc < p.n && gk < p.k) ? w_quads[(gc * p.k + gk) / VEC] : uvec4(0u);
#else
    if (vec_path) {
      // K % 8 == 0: a chunk lies wholly inside or wholly past K.
      br[c] = (gc < p.n && gk < p.k) ? w_quads[(gc * p.k + gk) / VEC] : uvec4(0u);
    } else {
      float v[8];
      [[unroll]] for (uint j = 0u; j < 8u; ++j) v[j] = (gc < p.n && gk + j < p.k) ? load_w(gc * p.k + gk + j) : 0.0;
      br[c] = uvec4(packHalf2x16(vec2(v[0], v[1])), packHalf2x16(vec2(v[2], v[3])), packHalf2x16(vec2(v[4], v[5])),
                    packHalf2x16(vec2(v[6], v[7])));
    }
#endif
  }
}

uint bf16_pair_to_f16(uint word) {
  return packHalf2x16(vec2(uintBitsToFloat(word << 16), uintBitsToFloat(word & 0xFFFF0000u)));
}

void stage_store(uint stage, bool vec_path) {
  uint t = gl_LocalInvocationID.x;
  [[unroll]] for (uint c = 0u; c < A_CHUNKS; ++c) {
    uint idx = t + c * WG;
    as[stage * A_STAGE + (idx / CHUNKS_PER_ROW) * STRIDE + idx % CHUNKS_PER_ROW] = ar[c];
  }
  [[unroll]] for (uint c = 0u; c < B_CHUNKS; ++c) {
    uint idx = t + c * WG;
    uvec4 w = br[c];
#if defined(W_BF16)
    if (vec_path) w = uvec4(bf16_pair_to_f16(w.x), bf16_pair_to_f16(w.y), bf16_pair_to_f16(w.z), bf16_pair_to_f16(w.w));
#endif
    bs[stage * B_STAGE + (idx / CHUNKS_PER_ROW) * STRIDE + idx % CHUNKS_PER_ROW] = w;
  }
}

fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[FM][FN];

void multiply_slice(uint stage, uint sub_m, uint sub_n) {
  [[unroll]] for (uint ks = 0u; ks < BK; ks += MMA) {
    fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> a[FM];
    fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> b[FN];
    [[unroll]] for (uint i = 0u; i < FM; ++i)
      coopMatLoadNV(a[i], as, stage * A_STAGE + (sub_m + i * MMA) * STRIDE + ks / VEC, STRIDE, false);
    [[unroll]] for (uint j = 0u; j < FN; ++j)
      coopMatLoadNV(b[j], bs, stage * B_STAGE + (sub_n + j * MMA) * STRIDE + ks / VEC, STRIDE, true);
    [[unroll]] for (uint i = 0u; i < FM; ++i)
      [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
  }
}

void main() {
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint tiles_m = (p.rows + BM - 1u) / BM, tiles_n = (p.n + BN - 1u) / BN;
  uint id = linear_group_id();
  if (id >= tiles_m * tiles_n) return;  // the grid is rounded up to whole rows of workgroups
  uint band = id / (GROUP_M * tiles_n), in_band = id % (GROUP_M * tiles_n);
  uint band_rows = min(GROUP_M, tiles_m - band * GROUP_M);
  uint row0 = (band * GROUP_M + in_band % band_rows) * BM, col0 = (in_band / band_rows) * BN;
  uint sub_m = (sg / SG_COLS) * SG_M, sub_n = (sg % SG_COLS) * SG_N;
#if defined(K_MULTIPLE_OF_8)
  const bool vec_path = true;  // the dispatch guarantees K % 8 == 0
#else
  bool vec_path = (p.k % VEC) == 0u;
#endif
  uint kp = (p.k + VEC - 1u) / VEC * VEC;

  [[unroll]] for (uint i = 0u; i < FM; ++i)
    [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);

  uint slices = (kp + BK - 1u) / BK;
  fetch(0u, row0, col0, kp, vec_path);
#if STAGES == 2
  stage_store(0u, vec_path);
  barrier();
  for (uint s = 0u; s < slices; ++s) {
    uint cur = s & 1u;
    bool more = s + 1u < slices;
    if (more) fetch((s + 1u) * BK, row0, col0, kp, vec_path);
    multiply_slice(cur, sub_m, sub_n);
    // The other stage was last read in the previous slice, which every thread finished before the barrier.
    if (more) stage_store(cur ^ 1u, vec_path);
    barrier();
  }
#elif STAGES == 1
  for (uint s = 0u; s < slices; ++s) {
    if (s > 0u) barrier();  // every subgroup is done reading the previous slice
    stage_store(0u, vec_path);
    barrier();
    if (s + 1u < slices) fetch((s + 1u) * BK, row0, col0, kp, vec_path);
    multiply_slice(0u, sub_m, sub_n);
  }
#else
#error "STAGES must be 1 or 2"
#endif

  uint pbase = sg * MMA * MMA;
  [[unroll]] for (uint i = 0u; i < FM; ++i) {
    [[unroll]] for (uint j = 0u; j < FN; ++j) {
      coopMatStoreNV(acc[i][j], epi, pbase, MMA, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      // A fixed trip count, unrolled, so that acc is only ever indexed by constants: an array of cooperative
      // matrices indexed at run time is placed in local memory by the driver, and every multiply-add of the
      // main loop then goes through it (measured: the whole kernel ran at the rate of the scalar one).
      [[unroll]] for (uint r = 0u; r < MMA * MMA / SUBGROUP; ++r) {
        uint e = lane + r * SUBGROUP;
        uint row = row0 + sub_m + i * MMA + e / MMA, col = col0 + sub_n + j * MMA + e % MMA;
        if (row < p.rows && col < p.n)
          store_output(row, col, epi[pbase + e] * inverse_power_of_two(row_scale[row]));
      }
      subgroupMemoryBarrierShared();
      subgroupBarrier();
    }
  }
}

// The tile machinery of the fp16 tensor-core GEMMs (GL_NV_cooperative_matrix, fp32 accumulation), shared by
// matmul_coopmat_nv.comp and conv3d_coopmat_nv.comp: C[rows, n] = A[rows, K] · B[K, n] where the includer
// supplies the operands' addressing and the output store, and this file the rest.
//
// Tile configuration (compile-time defines, one shader variant each): a workgroup of WG_THREADS =
// (BM/SG_M)·(BN/SG_N)·32 threads computes a BM×BN tile of C; each subgroup owns an SG_M×SG_N block held as
// (SG_M/16)×(SG_N/16) fragments of 16×16 fp32 accumulators. K is walked in slices of BK: each thread fetches
// its 16-byte chunks (8 fp16 of consecutive k) of the next slice from global memory into registers while the
// tensor cores work on the current one (coopmat_gemm_staging.glsl, shared with the workgroup-scope tile).
// STAGES = 2: two shared-memory stages, one barrier per slice; STAGES = 1: one stage (room for larger
// tiles), two barriers per slice. The epilogue goes through a 16×16 fp32 patch per subgroup in shared memory.
//
// Performance rule: every loop that touches acc (or a per-chunk register array) has a constant trip count
// and is unrolled, so these arrays are only ever indexed by constants. An array of cooperative matrices
// indexed at run time is placed in local memory by the NVIDIA driver, and every multiply-add of the main
// loop then goes through it (measured: the whole GEMM ran at the scalar kernel's rate).
//
// The includer declares `#extension`s (GL_NV_cooperative_matrix, GL_EXT_shader_explicit_arithmetic_types_
// float16, GL_KHR_memory_scope_semantics, GL_KHR_shader_subgroup_basic, GL_EXT_control_flow_attributes),
// defines WG (= WG_THREADS) and includes common.glsl first, then defines these functions (prototyped here):
//   void gemm_begin_tile(uint row0, uint col0)  once per workgroup, before the first fetch
//   void gemm_begin_slice(uint gk)   once per fetch: gk is this thread's k column (the same for all its chunks)
//   uvec4 gemm_load_a(uint c, uint row, uint gk)  A[row, gk .. gk+8) as 8 fp16, zeros where k is past K (and
//                                    rows past the edge, unless the store drops them); c = the chunk slot
//                                    (0 .. A_CHUNKS−1, a constant after unrolling)
//   uvec4 gemm_load_b(uint c, uint col, uint gk)  B[gk .. gk+8, col] (row col of an [n, K] operand), zeros past
//                                    the edges; the fetched value may be in any 16-byte form ...
//   uvec4 gemm_stage_b(uvec4 v)      ... that this turns into 8 fp16 as the chunk goes to shared memory
//   void gemm_store(uint row, uint col, float acc)  one accumulator element (row/col may be past the edges)
// and main() calls gemm_run(rows, n, k_extent) with k_extent = K rounded up to a multiple of 8.
// GEMM_STORE_LANES_ALONG_M (defined before including): the epilogue's lanes run along rows (consecutive
// rows for consecutive lanes, for a column-major output); otherwise along columns.
#ifndef QI_COOPMAT_GEMM_TILE_GLSL
#define QI_COOPMAT_GEMM_TILE_GLSL

#if !defined(BM) || !defined(BN) || !defined(BK) || !defined(SG_M) || !defined(SG_N) || !defined(STAGES) || \
    !defined(WG_THREADS)
#error "define BM, BN, BK, SG_M, SG_N, STAGES and WG_THREADS"
#endif

#include "coopmat_gemm_staging.glsl"

const uint SUBGROUP = 32u;
const uint MMA = 16u;  // 16×16×16 cooperative matrices
const uint FM = SG_M / MMA, FN = SG_N / MMA;
const uint SG_COLS = BN / SG_N;
shared float epi[(WG / SUBGROUP) * MMA * MMA];

fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[FM][FN];

void gemm_multiply_slice(uint stage, uint sub_m, uint sub_n) {
  [[unroll]] for (uint ks = 0u; ks < BK; ks += MMA) {
    fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> a[FM];
    fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> b[FN];
    [[unroll]] for (uint i = 0u; i < FM; ++i)
      coopMatLoadNV(a[i], gemm_smem, A_BASE + stage * A_STAGE + (sub_m + i * MMA) * STRIDE + ks / VEC, STRIDE,
                    false);
    [[unroll]] for (uint j = 0u; j < FN; ++j)
      coopMatLoadNV(b[j], gemm_smem, B_BASE + stage * B_STAGE + (sub_n + j * MMA) * STRIDE + ks / VEC, STRIDE,
                    true);
    [[unroll]] for (uint i = 0u; i < FM; ++i)
      [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
  }
}

// The whole GEMM of this workgroup's tile; k_extent (a multiple of 8) bounds the k columns fetched.
void gemm_run(uint rows, uint n, uint k_extent) {
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint row0, col0;
  if (!gemm_tile_origin(rows, n, row0, col0)) return;
  uint sub_m = (sg / SG_COLS) * SG_M, sub_n = (sg % SG_COLS) * SG_N;

  [[unroll]] for (uint i = 0u; i < FM; ++i)
    [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);

  gemm_begin_tile(row0, col0);
  uint slices = (k_extent + BK - 1u) / BK;
  gemm_fetch(0u, row0, col0);
#if STAGES == 2
  gemm_stage_store(0u);
  barrier();
  for (uint s = 0u; s < slices; ++s) {
    uint cur = s & 1u;
    bool more = s + 1u < slices;
    if (more) gemm_fetch((s + 1u) * BK, row0, col0);
    gemm_multiply_slice(cur, sub_m, sub_n);
    // The other stage was last read in the previous slice, which every thread finished before the barrier.
    if (more) gemm_stage_store(cur ^ 1u);
    barrier();
  }
#elif STAGES == 1
  for (uint s = 0u; s < slices; ++s) {
    if (s > 0u) barrier();  // every subgroup is done reading the previous slice
    gemm_stage_store(0u);
    barrier();
    if (s + 1u < slices) gemm_fetch((s + 1u) * BK, row0, col0);
    gemm_multiply_slice(0u, sub_m, sub_n);
  }
#else
#error "STAGES must be 1 or 2"
#endif

  uint pbase = sg * MMA * MMA;
#if defined(GEMM_STORE_LANES_ALONG_M)
  const bool patch_column_major = true;  // patch element (r, c) at c·16 + r: lane e holds row e % 16
#else
  const bool patch_column_major = false;  // patch element (r, c) at r·16 + c: lane e holds column e % 16
#endif
  [[unroll]] for (uint i = 0u; i < FM; ++i) {
    [[unroll]] for (uint j = 0u; j < FN; ++j) {
      coopMatStoreNV(acc[i][j], epi, pbase, MMA, patch_column_major);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      // acc is indexed by the unrolled i, j only; this loop reads the patch and stays rolled: unrolled, its
      // 8 copies of the includer's store (with the matmul's bias, activation and residual code) per
      // fragment tripled the kernel's code, and the epilogue ran at a fraction of the memory rate
      // (docs/performance.md, "The epilogue").
      [[dont_unroll]] for (uint r = 0u; r < MMA * MMA / SUBGROUP; ++r) {
        uint e = lane + r * SUBGROUP;
#if defined(GEMM_STORE_LANES_ALONG_M)
        uint pr = e % MMA, pc = e / MMA;
#else
        uint pr = e / MMA, pc = e % MMA;
#endif
        gemm_store(row0 + sub_m + i * MMA + pr, col0 + sub_n + j * MMA + pc, epi[pbase + e]);
      }
      subgroupMemoryBarrierShared();
      subgroupBarrier();
    }
  }
}

#endif

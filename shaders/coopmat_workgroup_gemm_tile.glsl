// The tile machinery of the fp16 tensor-core GEMM on workgroup-scope cooperative matrices
// (VK_NV_cooperative_matrix2's cooperativeMatrixWorkgroupScope, fp32 accumulation), used by
// matmul_coopmat_nv.comp with WORKGROUP_SCOPE. The operand side of the includer interface is the subgroup
// tile's (coopmat_gemm_tile.glsl: gemm_begin_tile, gemm_begin_slice, gemm_load_a, gemm_load_b,
// gemm_stage_b); the output side is
//   float gemm_row_factor(uint row)   what every accumulator of a row is multiplied by (row may be past the edge)
//   void gemm_store4(uint row, uint col, vec4 v)  4 accumulators of a row from column col (a multiple of 4),
//                                     already multiplied by their row's factor; row and columns may be past
//                                     the edges
//
// Written with GL_NV_cooperative_matrix types of gl_ScopeWorkgroup (what Debian's glslang parses) and
// turned into SPV_KHR_cooperative_matrix by tools/shader_build/coopmat_nv_to_khr.cpp at build time
// (qi_shader(... KHR_COOPMAT)); a KHR matrix type has one use, so the fp16 A (BM×BK) and B (BK×BNP) types
// must differ in shape (the tool stops the build otherwise).
//
// The workgroup computes a BM×BN tile of C as SPLIT accumulators of BM×BNP (BNP = BN/SPLIT) columns, each
// one matrix of the whole workgroup: the driver spreads it over the subgroups and schedules the
// multiply-adds. K is walked in slices of BK staged by the shader through one padded shared-memory stage
// with register prefetch (coopmat_gemm_staging.glsl). The epilogue stores one accumulator at a time to a
// fp32 patch of BM×BNP laid over the staging area, and each thread hands 16-byte groups of it to
// gemm_store4.
//
// Measured on an H100 (docs/performance.md): BM = BN = 128, BK = 32, 128 threads, SPLIT 4 ran the model's
// GEMM shapes at 255-281 TFLOP/s in a stand-alone kernel, against 147-160 for the subgroup tile's best; one
// BM×BN accumulator stored straight to global memory lost the device, two stages of BK = 16 ran at ~180,
// the driver staging loads from global memory itself (no shared stage in the shader) at 40-60. In the
// matmul, a patch of its own instead of one over the staging area (36 KiB of shared memory instead of 20)
// took 1.7x as long; a scalar store per accumulator with the row scale loaded for each, 1.2x.
#ifndef QI_COOPMAT_WORKGROUP_GEMM_TILE_GLSL
#define QI_COOPMAT_WORKGROUP_GEMM_TILE_GLSL

#if !defined(BM) || !defined(BN) || !defined(BK) || !defined(SPLIT) || !defined(WG_THREADS)
#error "define BM, BN, BK, SPLIT and WG_THREADS"
#endif
#define STAGES 1
const uint FLOATS_PER_CHUNK = 4u;  // fp32 accumulators per uvec4 of shared memory
#define GEMM_SHARED_MIN_CHUNKS (BM * (BN / SPLIT) / FLOATS_PER_CHUNK)  // the epilogue patch
#include "coopmat_gemm_staging.glsl"

float gemm_row_factor(uint row);
void gemm_store4(uint row, uint col, vec4 v);

const uint BNP = BN / SPLIT;                    // columns of one accumulator
const uint PATCH_QUADS = BNP / FLOATS_PER_CHUNK;  // 16-byte groups of a patch row
const uint EPI_ROWS = WG / PATCH_QUADS;         // patch rows the workgroup stores per pass
const uint EPI_PASSES = BM / EPI_ROWS;
shared float row_factor[BM];

// The product of tile `tile` over k columns [k_begin, k_end): k_begin a multiple of BK, k_end (a multiple of 8)
// bounds the k columns fetched. With split-K (matmul_coopmat_nv.comp's SPLIT_K) each workgroup runs one
// range of one tile; otherwise the whole of K.
void gemm_run(uint rows, uint n, uint tile, uint k_begin, uint k_end) {
  uint row0, col0;
  if (!gemm_tile_origin_of(tile, rows, n, row0, col0) || k_begin >= k_end) return;
  fcoopmatNV<32, gl_ScopeWorkgroup, BM, BNP> acc[SPLIT];
  [[unroll]] for (uint s = 0u; s < SPLIT; ++s) acc[s] = fcoopmatNV<32, gl_ScopeWorkgroup, BM, BNP>(0.0);
  for (uint r = gl_LocalInvocationID.x; r < BM; r += WG) row_factor[r] = gemm_row_factor(row0 + r);

  gemm_begin_tile(row0, col0);
  uint slices = (k_end - k_begin + BK - 1u) / BK;
  gemm_fetch(k_begin, row0, col0);
  for (uint sl = 0u; sl < slices; ++sl) {
    if (sl > 0u) barrier();  // every thread is done reading the previous slice
    gemm_stage_store(0u);
    barrier();
    if (sl + 1u < slices) gemm_fetch(k_begin + (sl + 1u) * BK, row0, col0);
    fcoopmatNV<16, gl_ScopeWorkgroup, BM, BK> a;
    coopMatLoadNV(a, gemm_smem, A_BASE, STRIDE, false);
    [[unroll]] for (uint s = 0u; s < SPLIT; ++s) {
      fcoopmatNV<16, gl_ScopeWorkgroup, BK, BNP> b;
      coopMatLoadNV(b, gemm_smem, B_BASE + s * BNP * STRIDE, STRIDE, true);
      acc[s] = coopMatMulAddNV(a, b, acc[s]);
    }
  }

  uint quad = gl_LocalInvocationID.x % PATCH_QUADS, prow = gl_LocalInvocationID.x / PATCH_QUADS;
  [[unroll]] for (uint s = 0u; s < SPLIT; ++s) {
    barrier();  // the last slice (or the previous patch) has been read
    coopMatStoreNV(acc[s], gemm_smem, 0u, PATCH_QUADS, false);
    barrier();
    // Rolled: unrolled (8 passes × 4 accumulators of the includer's store) the kernel ran 3-5 % slower.
    [[dont_unroll]] for (uint i = 0u; i < EPI_PASSES; ++i) {
      uint r = prow + i * EPI_ROWS;
      vec4 v = uintBitsToFloat(gemm_smem[r * PATCH_QUADS + quad]) * row_factor[r];
      gemm_store4(row0 + r, col0 + s * BNP + quad * FLOATS_PER_CHUNK, v);
    }
  }
}

#endif

// What the two tensor-core GEMM tile machineries share (coopmat_gemm_tile.glsl: subgroup-scope 16×16
// fragments; coopmat_workgroup_gemm_tile.glsl: workgroup-scope matrices): the includer's operand interface,
// the register-prefetched 16-byte chunks of each K slice, their shared-memory stages and the workgroup order.
//
// The includer defines BM, BN, BK, STAGES and WG (threads per workgroup) and these functions (prototyped
// here; see coopmat_gemm_tile.glsl for their contract):
//   void gemm_begin_tile(uint row0, uint col0)  void gemm_begin_slice(uint gk)
//   uvec4 gemm_load_a(uint c, uint row, uint gk)  uvec4 gemm_load_b(uint c, uint col, uint gk)
//   uvec4 gemm_stage_b(uvec4 v)  void gemm_store(uint row, uint col, float acc)
#ifndef QI_COOPMAT_GEMM_STAGING_GLSL
#define QI_COOPMAT_GEMM_STAGING_GLSL

const uint VEC = 8u;      // fp16 per uvec4: the unit of loads, staging and shared addressing
const uint GROUP_M = 8u;  // row tiles per band of the workgroup order (L2 reuse of B)
const uint CHUNKS_PER_ROW = BK / VEC;
const uint A_CHUNKS = BM * CHUNKS_PER_ROW / WG;  // per thread and slice
const uint B_CHUNKS = BN * CHUNKS_PER_ROW / WG;
// Row stride padded by one uvec4: a multiple of 16 bytes (cooperative loads) whose rows fall on distinct
// 16-byte bank groups. Measured for the workgroup-scope tile on an H100: 161-169 TFLOP/s without the pad,
// 251-277 with it (docs/performance.md).
const uint STRIDE = CHUNKS_PER_ROW + 1u;
const uint A_STAGE = BM * STRIDE, B_STAGE = BN * STRIDE;
// One shared array: the A slices (row-major [m][k]) from A_BASE, the B slices ([n][k] = B (K×N) column-major)
// from B_BASE; an includer that needs more room for something else after the last slice (the workgroup tile's
// epilogue patch) defines GEMM_SHARED_MIN_CHUNKS first.
#ifndef GEMM_SHARED_MIN_CHUNKS
#define GEMM_SHARED_MIN_CHUNKS 0u
#endif
const uint A_BASE = 0u, B_BASE = STAGES * A_STAGE;
const uint STAGING_CHUNKS = STAGES * (A_STAGE + B_STAGE);
shared uvec4 gemm_smem[STAGING_CHUNKS > GEMM_SHARED_MIN_CHUNKS ? STAGING_CHUNKS : GEMM_SHARED_MIN_CHUNKS];

void gemm_begin_tile(uint row0, uint col0);
void gemm_begin_slice(uint gk);
uvec4 gemm_load_a(uint c, uint row, uint gk);
uvec4 gemm_load_b(uint c, uint col, uint gk);
uvec4 gemm_stage_b(uvec4 v);
void gemm_store(uint row, uint col, float acc);

// Chunk slot c of this thread covers tile row gemm_chunk_row(c) (of A or B), at k column gemm_chunk_k() of
// the slice: WG is a multiple of CHUNKS_PER_ROW, so the column is the same for every slot.
uint gemm_chunk_row(uint c) { return (gl_LocalInvocationID.x + c * WG) / CHUNKS_PER_ROW; }
uint gemm_chunk_k() { return (gl_LocalInvocationID.x % CHUNKS_PER_ROW) * VEC; }

uvec4 ar[A_CHUNKS];  // this thread's chunks of the next slice, in flight while the tensor cores work
uvec4 br[B_CHUNKS];

void gemm_fetch(uint k0, uint row0, uint col0) {
  uint gk = k0 + gemm_chunk_k();
  gemm_begin_slice(gk);
  [[unroll]] for (uint c = 0u; c < A_CHUNKS; ++c) ar[c] = gemm_load_a(c, row0 + gemm_chunk_row(c), gk);
  [[unroll]] for (uint c = 0u; c < B_CHUNKS; ++c) br[c] = gemm_load_b(c, col0 + gemm_chunk_row(c), gk);
}

void gemm_stage_store(uint stage) {
  uint kc = gemm_chunk_k() / VEC;
  [[unroll]] for (uint c = 0u; c < A_CHUNKS; ++c)
    gemm_smem[A_BASE + stage * A_STAGE + gemm_chunk_row(c) * STRIDE + kc] = ar[c];
  [[unroll]] for (uint c = 0u; c < B_CHUNKS; ++c)
    gemm_smem[B_BASE + stage * B_STAGE + gemm_chunk_row(c) * STRIDE + kc] = gemm_stage_b(br[c]);
}

// The origin of tile `id`: tiles are numbered GROUP_M row tiles at a time down the columns, so the B operand
// of a column band is reused from L2 by the row tiles running at the same time. False for ids past the last
// tile (the grid is rounded up to whole rows of workgroups).
bool gemm_tile_origin_of(uint id, uint rows, uint n, out uint row0, out uint col0) {
  uint tiles_m = (rows + BM - 1u) / BM, tiles_n = (n + BN - 1u) / BN;
  row0 = 0u;
  col0 = 0u;
  if (id >= tiles_m * tiles_n) return false;
  uint band = id / (GROUP_M * tiles_n), in_band = id % (GROUP_M * tiles_n);
  uint band_rows = min(GROUP_M, tiles_m - band * GROUP_M);
  row0 = (band * GROUP_M + in_band % band_rows) * BM;
  col0 = (in_band / band_rows) * BN;
  return true;
}

uint gemm_tile_count(uint rows, uint n) { return ((rows + BM - 1u) / BM) * ((n + BN - 1u) / BN); }

// This workgroup's tile origin (one workgroup per tile).
bool gemm_tile_origin(uint rows, uint n, out uint row0, out uint col0) {
  return gemm_tile_origin_of(linear_group_id(), rows, n, row0, col0);
}

#endif

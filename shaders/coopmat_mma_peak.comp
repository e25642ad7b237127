#version 460
// Tensor-core ceilings of GL_NV_cooperative_matrix on this device (benchmark kernels, not model ops): every
// subgroup holds FM×FN independent 16×16 accumulators and repeats `iterations` rounds of FM·FN 16×16×16
// multiply-adds on them. ACC_BITS = 32: fp32 accumulators (what every GEMM of this project uses); 16: fp16
// accumulators (the rate the precision rules give up).
//   no FROM_SHARED  the FM + FN fp16 operand matrices stay in registers: the instruction's own rate.
//   FROM_SHARED     every round first loads them from a shared tile laid out as coopmat_gemm_tile.glsl's
//                   (rows of BK = 64 halves as uvec4 words, padded by one word): the rate of the GEMM's inner
//                   loop with its operands fed from shared memory.
//   SLICE_SYNC = 1  plus a workgroup barrier every BK/16 rounds (once per GEMM slice);
//   SLICE_SYNC = 2  plus the GEMM's single-stage staging per slice: barrier, 8 16-byte shared stores per
//                   thread (a 128×128×64 tile's chunks on 256 threads), barrier. Only global loads and the
//                   epilogue are then missing from a GEMM.
// The operands come from a buffer so nothing folds at compile time; one sum per subgroup is written so nothing
// is dead. vk_tensor_core_peak.cpp dispatches it and counts FLOPs.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#if !defined(ACC_BITS) || !defined(FM) || !defined(FN)
#error "define ACC_BITS (16 or 32), FM and FN"
#endif
const uint WG = 256u;  // mirrors kPeakWorkgroupThreads in vk_tensor_core_peak.cpp
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Operands { float16_t operands[]; };  // one 16×16 fp16 matrix
layout(std430, binding = 1) writeonly buffer Sums { float sums[]; };            // one per subgroup
layout(push_constant) uniform Params { uint iterations; } p;

const uint MMA = 16u;
#if defined(FROM_SHARED)
const uint TILE_ROWS = 128u, BK = 64u;
const uint STRIDE = BK / 8u + 1u;           // uvec4 words per row, as the GEMM's
const uint STAGED_CHUNKS = 8u;              // 16-byte chunks per thread and slice (SLICE_SYNC = 2)
shared uvec4 tile[TILE_ROWS * STRIDE];
#endif

void main() {
  fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> a[FM];
  fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> b[FN];
  fcoopmatNV<ACC_BITS, gl_ScopeSubgroup, MMA, MMA> acc[FM][FN];
  [[unroll]] for (uint i = 0u; i < FM; ++i) coopMatLoadNV(a[i], operands, 0u, MMA, false);
  [[unroll]] for (uint j = 0u; j < FN; ++j) coopMatLoadNV(b[j], operands, 0u, MMA, true);
  [[unroll]] for (uint i = 0u; i < FM; ++i)
    [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = fcoopmatNV<ACC_BITS, gl_ScopeSubgroup, MMA, MMA>(0.0);
#if defined(FROM_SHARED)
  // Every half of the tile holds the operand matrix's first element (small, finite).
  uint h = packHalf2x16(vec2(float(operands[0])));
  for (uint e = gl_LocalInvocationID.x; e < TILE_ROWS * STRIDE; e += WG) tile[e] = uvec4(h);
  barrier();
  uint sg = gl_SubgroupID;
  uint a_row = (sg % 2u) * 64u, b_row = (sg / 2u) * 16u;  // FM, FN <= 4: inside the 128 rows
#endif
  for (uint it = 0u; it < p.iterations; ++it) {
#if defined(FROM_SHARED)
    uint k = (it % (BK / MMA)) * MMA;
    [[unroll]] for (uint i = 0u; i < FM; ++i)
      coopMatLoadNV(a[i], tile, (a_row + i * MMA) * STRIDE + k / 8u, STRIDE, false);
    [[unroll]] for (uint j = 0u; j < FN; ++j)
      coopMatLoadNV(b[j], tile, (b_row + j * MMA) * STRIDE + k / 8u, STRIDE, true);
#endif
    [[unroll]] for (uint i = 0u; i < FM; ++i)
      [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
#if defined(SLICE_SYNC)
    if (k + MMA == BK) {  // the end of a slice
      barrier();
#if SLICE_SYNC == 2
      // The same values again (the compiler cannot know: it >> 30 is 0 for every run's iteration count).
      [[unroll]] for (uint c = 0u; c < STAGED_CHUNKS; ++c) {
        uint e = gl_LocalInvocationID.x + c * WG;
        tile[(e / STAGED_CHUNKS) % TILE_ROWS * STRIDE + e % STAGED_CHUNKS] = uvec4(h + (it >> 30));
      }
      barrier();
#endif
    }
#endif
  }
  float total = 0.0;
  [[unroll]] for (uint i = 0u; i < FM; ++i)
    [[unroll]] for (uint j = 0u; j < FN; ++j)
      [[unroll]] for (int e = 0; e < acc[i][j].length(); ++e) total += float(acc[i][j][e]);
  if (gl_SubgroupInvocationID == 0u) sums[linear_group_id() * (WG / 32u) + gl_SubgroupID] = total;
}

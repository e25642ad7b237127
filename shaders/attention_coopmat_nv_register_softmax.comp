#version 460
// Flash attention on tensor cores through GL_NV_cooperative_matrix, head dim 128, with the online softmax
// done on the score accumulators in registers: softmax(scale·Q·Kᵀ + mask)·V without the score matrix and
// without a shared-memory round trip for scores or weights. Same inputs, outputs and numerics as
// attention_coopmat_nv.comp (operands from attention_pack.comp: fp16 Q, K per row and V per head times
// powers of two, with their exact inverses; fp32 scores, statistics and accumulation).
//
// The accumulator components are addressed per lane through coopmat_accumulator_layout.glsl: each lane holds
// two rows of a fragment, and a row lives in one quad, so row statistics reduce with two quad shuffles. The
// dispatch code runs this shader only where the device's layout was probed to be of that form (else
// attention_coopmat_nv.comp, which assumes nothing).
//
// Per key tile of BC keys (staged in shared memory as fp16 by the whole workgroup), each subgroup owns 16
// query rows whose Q fragments stay in registers: S = Q·Kᵀ on the tensor cores; the scores are scaled (q_inv
// · k_inv · scale · log2 e), masked, reduced to the tile's row maxima, exponentiated and summed in place; the
// weights are converted to an fp16 matrix and multiply V into the fp32 output accumulators (rescaled by
// exp(m_old − m_new) when a row's maximum moved). Masked keys (mask 0, beyond Sk) get weight 0; a row that
// sees no key produces zeros. GQA: head h reads kv head h / (Hq / Hkv). Causal masking (CAUSAL 1): query i
// sees keys j <= i + (Sk − Sq); a block stops at the last key its last row sees, and only the tiles that cross
// a subgroup's diagonal compare key and row per score. It is a compile-time choice because the per-score test
// cost the unmasked kernel 1-2 % (H200, 2026-11-23).
//
// Configuration defines: SUBGROUPS (16 query rows each), BC (keys per tile, a multiple of 16), PREFETCH (1:
// the next tile is fetched into registers while the current one is used; 0: fetched at the top of the tile),
// CAUSAL (1: causal masking).
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#if !defined(SUBGROUPS) || !defined(BC) || !defined(PREFETCH) || !defined(CAUSAL)
#error "define SUBGROUPS, BC, PREFETCH and CAUSAL"
#endif
#define WG (SUBGROUPS * 32u)
#include "common.glsl"
#include "coopmat_accumulator_layout.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Q { uvec4 q_quads[]; };  // [B, Hq, Sq, D] fp16
layout(std430, binding = 1) readonly buffer K { uvec4 k_quads[]; };  // [B, Hkv, Sk, D] fp16
layout(std430, binding = 2) readonly buffer V { uvec4 v_quads[]; };
layout(std430, binding = 3) readonly buffer QInv { float q_inv[]; };  // [B, Hq, Sq]
layout(std430, binding = 4) readonly buffer KInv { float k_inv[]; };  // [B, Hkv, Sk]
layout(std430, binding = 5) readonly buffer VInv { float v_inv[]; };  // [B, Hkv, Sk], one value per head
layout(std430, binding = 6) readonly buffer Mask { float key_mask[]; };
layout(std430, binding = 7) writeonly buffer O { float o[]; };       // [B, Sq, Hq, D]
layout(push_constant) uniform Params {
  uint sq, sk, hq, hkv;
  float scale;
  uint has_mask;
} p;

const uint D = 128u;                  // head dim (mirrored by kCoopmatHeadDim in vk_attention.cpp)
const uint MMA = 16u;
const uint BR = SUBGROUPS * MMA;      // query rows per workgroup
const uint DB = D / MMA, KB = BC / MMA;
const uint VEC = 8u;                  // fp16 per uvec4
const uint QUADS_PER_ROW = D / VEC;
const uint TILE_QUADS = BC * QUADS_PER_ROW;
const uint QUADS_PER_THREAD = TILE_QUADS / WG;
const uint KSTR = QUADS_PER_ROW + 1u; // uvec4 per staged K/V row: padded so rows fall on distinct bank groups
const uint PSTR = MMA + 4u;           // floats per row of an output patch
const float LOG2E = 1.4426950408889634;
const float NEG_INF = -1.0 / 0.0;

shared uvec4 kvs[2u * BC * KSTR];                // K tile rows [0, BC), V tile rows [BC, 2·BC); Q staging
shared float key_scale[BC];                      // k_inv of the tile's keys (0 for masked ones)
shared float key_bias[BC];                       // 0, or −inf for masked keys
shared float out_patch[SUBGROUPS * MMA * PSTR];  // output rows of partial blocks

// Fetches this thread's share of the tile at key j0: K and V chunks, and (threads below BC) its key's scale and
// mask bias, so no global load waits between the two barriers that stage a tile.
void fetch_tile(uint j0, uint kv_head_row, uint batch, out uvec4 kreg[QUADS_PER_THREAD],
                out uvec4 vreg[QUADS_PER_THREAD], out float kscale, out float kbias) {
  [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
    uint idx = gl_LocalInvocationID.x + c * WG, key = j0 + idx / QUADS_PER_ROW;
    uint src = (kv_head_row + key) * QUADS_PER_ROW + idx % QUADS_PER_ROW;
    bool in_range = key < p.sk;
    kreg[c] = in_range ? k_quads[src] : uvec4(0u);
    vreg[c] = in_range ? v_quads[src] : uvec4(0u);
  }
  uint t = gl_LocalInvocationID.x, key = j0 + t;
  bool ok = t < BC && key < p.sk && (p.has_mask == 0u || key_mask[batch * p.sk + key] != 0.0);
  kscale = ok ? k_inv[kv_head_row + key] : 0.0;
  kbias = ok ? 0.0 : NEG_INF;
}

void stage_tile(uvec4 kreg[QUADS_PER_THREAD], uvec4 vreg[QUADS_PER_THREAD]) {
  [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
    uint idx = gl_LocalInvocationID.x + c * WG, r = idx / QUADS_PER_ROW, col = idx % QUADS_PER_ROW;
    kvs[r * KSTR + col] = kreg[c];
    kvs[(BC + r) * KSTR + col] = vreg[c];
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint q0 = gl_WorkGroupID.x * BR, head = gl_WorkGroupID.y, batch = gl_WorkGroupID.z;
  uint kv_head = head / (p.hq / p.hkv);
  uint q_head_row = (batch * p.hq + head) * p.sq;     // packed row of query 0
  uint kv_head_row = (batch * p.hkv + kv_head) * p.sk;
  uint my_base = sg * MMA;                             // this subgroup's first row within the block
  // Causal masking: row i sees keys up to i + shift, so the block needs keys below key_end only.
  int causal_shift = int(p.sk) - int(p.sq);
  uint key_end = CAUSAL != 0 ? uint(clamp(int(q0 + BR) + causal_shift, 0, int(p.sk))) : p.sk;

  // Q fragments, staged through kvs a few rows at a time.
  fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> qf[DB];
  const uint STAGED_ROWS = min(2u * BC, BR);
  for (uint r0 = 0u; r0 < BR; r0 += STAGED_ROWS) {
    for (uint idx = t; idx < STAGED_ROWS * QUADS_PER_ROW; idx += WG) {
      uint r = idx / QUADS_PER_ROW, c = idx % QUADS_PER_ROW;
      uint qi = q0 + r0 + r;
      kvs[r * KSTR + c] = qi < p.sq ? q_quads[(q_head_row + qi) * QUADS_PER_ROW + c] : uvec4(0u);
    }
    barrier();
    if (my_base >= r0 && my_base < r0 + STAGED_ROWS)
      [[unroll]] for (uint db = 0u; db < DB; ++db)
        coopMatLoadNV(qf[db], kvs, (my_base - r0) * KSTR + db * (MMA / VEC), KSTR, false);
    barrier();
  }

  // This lane's two rows: their score scale (log2 units), last visible key under causal masking, running
  // maximum and partial sum (over this lane's columns; the quad's four partial sums make the row's sum at the
  // end).
  float row_scale[2], m_run[2], l_part[2];
  int last_key[2];
  [[unroll]] for (uint s = 0u; s < 2u; ++s) {
    uint qi = q0 + my_base + lane / ACC_QUAD + ACC_HALF * s;
    row_scale[s] = (qi < p.sq ? q_inv[q_head_row + qi] : 0.0) * p.scale * LOG2E;
    last_key[s] = int(qi) + causal_shift;
    m_run[s] = NEG_INF;
    l_part[s] = 0.0;
  }

  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[DB];
  [[unroll]] for (uint db = 0u; db < DB; ++db) acc[db] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);

  uvec4 kreg[QUADS_PER_THREAD], vreg[QUADS_PER_THREAD];
  float kscale, kbias;
#if PREFETCH
  fetch_tile(0u, kv_head_row, batch, kreg, vreg, kscale, kbias);
#endif
  for (uint j0 = 0u; j0 < key_end; j0 += BC) {
    barrier();  // every subgroup is done with the previous tile
#if !PREFETCH
    fetch_tile(j0, kv_head_row, batch, kreg, vreg, kscale, kbias);
#endif
    stage_tile(kreg, vreg);
    if (t < BC) {
      key_scale[t] = kscale;
      key_bias[t] = kbias;
    }
    barrier();
#if PREFETCH
    if (j0 + BC < key_end) fetch_tile(j0 + BC, kv_head_row, batch, kreg, vreg, kscale, kbias);
#endif

    // S = Q·Kᵀ (scaled operands), 16 × BC per subgroup.
    fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> s[KB];
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      s[kb] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);
      [[unroll]] for (uint db = 0u; db < DB; ++db) {
        fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> kf;
        coopMatLoadNV(kf, kvs, kb * MMA * KSTR + db * (MMA / VEC), KSTR, true);
        s[kb] = coopMatMulAddNV(qf[db], kf, s[kb]);
      }
    }

    // Scores in log2 units, masked; the tile's row maxima (quad reduction). Under causal masking, a tile whose
    // last key lies beyond this subgroup's first row's last visible key masks per score.
    bool crosses = CAUSAL != 0 && int(j0 + BC) - 1 > int(q0 + my_base) + causal_shift;
    float tile_max[2] = {NEG_INF, NEG_INF};
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) {
        uint c = kb * MMA + acc_column(e, lane), r = acc_slot(e);
        float v = s[kb][e] * key_scale[c] * row_scale[r] + key_bias[c];
        if (crosses && int(j0 + c) > last_key[r]) v = NEG_INF;
        s[kb][e] = v;
        tile_max[r] = max(tile_max[r], v);
      }
    }
    float alpha[2], base[2];
    [[unroll]] for (uint r = 0u; r < 2u; ++r) {
      tile_max[r] = max(tile_max[r], subgroupShuffleXor(tile_max[r], 1u));
      tile_max[r] = max(tile_max[r], subgroupShuffleXor(tile_max[r], 2u));
      float m_new = max(m_run[r], tile_max[r]);
      bool none = m_new == NEG_INF;  // no key seen yet: weights 0, nothing to rescale
      alpha[r] = none ? 1.0 : exp2(m_run[r] - m_new);
      base[r] = none ? 0.0 : m_new;
      m_run[r] = m_new;
      l_part[r] *= alpha[r];
    }

    // Weights P = exp2(S − m) in place, summed; converted to fp16 for the tensor cores.
    fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> pf[KB];
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) {
        uint r = acc_slot(e);
        float w = exp2(s[kb][e] - base[r]);
        s[kb][e] = w;
        l_part[r] += w;
      }
      pf[kb] = fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA>(s[kb]);
    }

    // acc = diag(alpha)·acc + P·V. Once the running maxima settle, alpha is 1 for every row of the subgroup
    // on most tiles: the rescale is skipped then, exactly.
    if (!subgroupAll(alpha[0] == 1.0 && alpha[1] == 1.0))
      [[unroll]] for (uint db = 0u; db < DB; ++db)
        [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) acc[db][e] *= alpha[acc_slot(e)];
    [[unroll]] for (uint db = 0u; db < DB; ++db) {
      [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
        fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> vf;
        coopMatLoadNV(vf, kvs, (BC + kb * MMA) * KSTR + db * (MMA / VEC), KSTR, false);
        acc[db] = coopMatMulAddNV(pf[kb], vf, acc[db]);
      }
    }
  }

  // Output: acc / l · v_inv per row; whole blocks straight to o, partial ones through a shared patch.
  float vscale = v_inv[kv_head_row];
  float out_scale[2];
  [[unroll]] for (uint r = 0u; r < 2u; ++r) {
    float l = l_part[r];
    l += subgroupShuffleXor(l, 1u);
    l += subgroupShuffleXor(l, 2u);
    out_scale[r] = l > 0.0 ? vscale / l : 0.0;
  }
  [[unroll]] for (uint db = 0u; db < DB; ++db)
    [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) acc[db][e] *= out_scale[acc_slot(e)];
  uint row0 = q0 + my_base;
  uint o_stride = p.hq * D;
  if (row0 + MMA <= p.sq) {
    uint o_base = ((batch * p.sq + row0) * p.hq + head) * D;
    [[unroll]] for (uint db = 0u; db < DB; ++db) coopMatStoreNV(acc[db], o, o_base + db * MMA, o_stride, false);
    return;
  }
  uint pbase = sg * MMA * PSTR;
  [[unroll]] for (uint db = 0u; db < DB; ++db) {
    coopMatStoreNV(acc[db], out_patch, pbase, PSTR, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint e = lane; e < MMA * MMA; e += gl_SubgroupSize) {
      uint r = e / MMA, c = e % MMA, qi = row0 + r;
      if (qi < p.sq) o[((batch * p.sq + qi) * p.hq + head) * D + db * MMA + c] = out_patch[pbase + r * PSTR + c];
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
  }
}

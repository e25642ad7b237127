#version 460
// Flash attention on tensor cores through GL_NV_cooperative_matrix for wide heads (the VAE's single head of
// 384): softmax(scale·Q·Kᵀ + mask)·V with the inputs, outputs and numerics of
// attention_coopmat_nv_register_softmax.comp (operands from attention_pack.comp: fp16 Q, K per row and V per
// head times powers of two, with their exact inverses; fp32 scores, statistics and accumulation).
//
// A subgroup cannot hold 16 query rows of such a head: their fp32 output alone would take 192 registers per
// lane at D = 384. So the head dimension is split D_SPLIT ways: subgroup (g, s) of the ROW_GROUPS × D_SPLIT
// workgroup owns query rows 16g..16g+15 and head-dim columns [s·D/D_SPLIT, (s+1)·D/D_SPLIT) of Q (in
// registers) and of the output (accumulators). Per key tile of BC keys (K and V staged in shared memory as
// fp16 by the whole workgroup), each subgroup computes the partial scores of its column slice, Q_s·K_sᵀ, and
// stores them; after a barrier every subgroup of a row group sums the group's D_SPLIT partials in the same
// order, so all of them hold the same scores, and runs the online softmax on them in registers (the
// accumulator layout probed at start-up, coopmat_accumulator_layout.glsl, as the register-softmax kernel):
// scale and mask, row maxima and sums over quads, exp2 in place, the weights converted to fp16 for P·V_s into
// its own output columns. Masked keys (mask 0, beyond Sk) get weight 0; a row that sees no key produces zeros.
// GQA: head h reads kv head h / (Hq / Hkv). No causal mask.
//
// Configuration defines (plain integers): HEAD_DIM, ROW_GROUPS (16 query rows each), D_SPLIT (column slices
// of the head, each a multiple of 16 wide), BC (keys per tile, a multiple of 16).
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#if !defined(HEAD_DIM) || !defined(ROW_GROUPS) || !defined(D_SPLIT) || !defined(BC)
#error "define HEAD_DIM, ROW_GROUPS, D_SPLIT and BC"
#endif
#define WG (ROW_GROUPS * D_SPLIT * 32)
#if HEAD_DIM % (16 * D_SPLIT) != 0 || BC % 16 != 0 || (BC * HEAD_DIM / 8) % WG != 0
#error "each column slice must be whole 16-wide fragments, and a tile whole 16-byte chunks per thread"
#endif
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

const uint D = uint(HEAD_DIM);
const uint MMA = 16u;
const uint SUBGROUPS = uint(ROW_GROUPS * D_SPLIT);
const uint BR = uint(ROW_GROUPS) * MMA;  // query rows per workgroup
const uint DS = D / uint(D_SPLIT);       // head-dim columns per subgroup
const uint DB = DS / MMA, KB = uint(BC) / MMA;
const uint VEC = 8u;                     // fp16 per uvec4
const uint QUADS_PER_ROW = D / VEC;
const uint QUADS_PER_THREAD = uint(BC) * QUADS_PER_ROW / uint(WG);
const uint KSTR = QUADS_PER_ROW + 1u;    // uvec4 per staged row: padded so rows fall on distinct bank groups
const uint SSTR = uint(BC) + 4u;         // floats per row of a partial-score block (and of an output patch)
const float LOG2E = 1.4426950408889634;
const float NEG_INF = -1.0 / 0.0;

shared uvec4 kvs[2u * uint(BC) * KSTR];       // K tile rows [0, BC), V tile rows [BC, 2·BC); Q staging first
shared float key_scale[BC];                   // k_inv of the tile's keys (0 for masked ones)
shared float key_bias[BC];                    // 0, or −inf for masked keys
shared float partial[SUBGROUPS * MMA * SSTR];  // per subgroup: its slice's scores; its output patch at the end

// Fetches this thread's share of the tile at key j0: K and V chunks, and (threads below BC) its key's scale and
// mask bias.
void fetch_tile(uint j0, uint kv_head_row, uint batch, out uvec4 kreg[QUADS_PER_THREAD],
                out uvec4 vreg[QUADS_PER_THREAD], out float kscale, out float kbias) {
  [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
    uint idx = gl_LocalInvocationID.x + c * uint(WG), key = j0 + idx / QUADS_PER_ROW;
    uint src = (kv_head_row + key) * QUADS_PER_ROW + idx % QUADS_PER_ROW;
    bool in_range = key < p.sk;
    kreg[c] = in_range ? k_quads[src] : uvec4(0u);
    vreg[c] = in_range ? v_quads[src] : uvec4(0u);
  }
  uint t = gl_LocalInvocationID.x, key = j0 + t;
  bool ok = t < uint(BC) && key < p.sk && (p.has_mask == 0u || key_mask[batch * p.sk + key] != 0.0);
  kscale = ok ? k_inv[kv_head_row + key] : 0.0;
  kbias = ok ? 0.0 : NEG_INF;
}

void stage_tile(uvec4 kreg[QUADS_PER_THREAD], uvec4 vreg[QUADS_PER_THREAD], float kscale, float kbias) {
  [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
    uint idx = gl_LocalInvocationID.x + c * uint(WG), r = idx / QUADS_PER_ROW, col = idx % QUADS_PER_ROW;
    kvs[r * KSTR + col] = kreg[c];
    kvs[(uint(BC) + r) * KSTR + col] = vreg[c];
  }
  if (gl_LocalInvocationID.x < uint(BC)) {
    key_scale[gl_LocalInvocationID.x] = kscale;
    key_bias[gl_LocalInvocationID.x] = kbias;
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint row_group = sg / uint(D_SPLIT), col0 = (sg % uint(D_SPLIT)) * DS;
  uint q0 = gl_WorkGroupID.x * BR, head = gl_WorkGroupID.y, batch = gl_WorkGroupID.z;
  uint kv_head = head / (p.hq / p.hkv);
  uint q_head_row = (batch * p.hq + head) * p.sq;  // packed row of query 0
  uint kv_head_row = (batch * p.hkv + kv_head) * p.sk;
  uint my_base = row_group * MMA;                   // this subgroup's first row within the block

  // Q fragments of this subgroup's rows and column slice, staged through kvs a few rows at a time.
  fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> qf[DB];
  const uint STAGED_ROWS = min(2u * uint(BC), BR);
  for (uint r0 = 0u; r0 < BR; r0 += STAGED_ROWS) {
    for (uint idx = t; idx < STAGED_ROWS * QUADS_PER_ROW; idx += uint(WG)) {
      uint r = idx / QUADS_PER_ROW, c = idx % QUADS_PER_ROW;
      uint qi = q0 + r0 + r;
      kvs[r * KSTR + c] = qi < p.sq ? q_quads[(q_head_row + qi) * QUADS_PER_ROW + c] : uvec4(0u);
    }
    barrier();
    if (my_base >= r0 && my_base < r0 + STAGED_ROWS)
      [[unroll]] for (uint db = 0u; db < DB; ++db)
        coopMatLoadNV(qf[db], kvs, (my_base - r0) * KSTR + (col0 + db * MMA) / VEC, KSTR, false);
    barrier();
  }

  // This lane's two rows: their score scale (log2 units), running maximum and partial sum (over this lane's
  // columns; the quad's four partial sums make the row's sum at the end).
  float row_scale[2], m_run[2], l_part[2];
  [[unroll]] for (uint r = 0u; r < 2u; ++r) {
    uint qi = q0 + my_base + lane / ACC_QUAD + ACC_HALF * r;
    row_scale[r] = (qi < p.sq ? q_inv[q_head_row + qi] : 0.0) * p.scale * LOG2E;
    m_run[r] = NEG_INF;
    l_part[r] = 0.0;
  }

  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[DB];
  [[unroll]] for (uint db = 0u; db < DB; ++db) acc[db] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);
  uint my_partial = sg * MMA * SSTR, group_partial = row_group * uint(D_SPLIT) * MMA * SSTR;

  uvec4 kreg[QUADS_PER_THREAD], vreg[QUADS_PER_THREAD];
  float kscale, kbias;
  fetch_tile(0u, kv_head_row, batch, kreg, vreg, kscale, kbias);
  for (uint j0 = 0u; j0 < p.sk; j0 += uint(BC)) {
    barrier();  // every subgroup is done with the previous tile's V and partial scores
    stage_tile(kreg, vreg, kscale, kbias);
    barrier();
    if (j0 + uint(BC) < p.sk) fetch_tile(j0 + uint(BC), kv_head_row, batch, kreg, vreg, kscale, kbias);

    // This slice's share of S = Q·Kᵀ, 16 × BC.
    fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> s[KB];
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      s[kb] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);
      [[unroll]] for (uint db = 0u; db < DB; ++db) {
        fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> kf;
        coopMatLoadNV(kf, kvs, kb * MMA * KSTR + (col0 + db * MMA) / VEC, KSTR, true);
        s[kb] = coopMatMulAddNV(qf[db], kf, s[kb]);
      }
      coopMatStoreNV(s[kb], partial, my_partial + kb * MMA, SSTR, false);
    }
    barrier();
    // The row group's scores: its D_SPLIT partials summed in slice order, the same in each of its subgroups
    // (component by component: Debian's glslc -O crashes on the matrix '+').
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      coopMatLoadNV(s[kb], partial, group_partial + kb * MMA, SSTR, false);
      [[unroll]] for (uint part = 1u; part < uint(D_SPLIT); ++part) {
        fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> other;
        coopMatLoadNV(other, partial, group_partial + part * MMA * SSTR + kb * MMA, SSTR, false);
        [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) s[kb][e] += other[e];
      }
    }

    // Scores in log2 units, masked; the tile's row maxima (quad reduction).
    float tile_max[2] = {NEG_INF, NEG_INF};
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) {
        uint c = kb * MMA + acc_column(e, lane), r = acc_slot(e);
        float v = s[kb][e] * key_scale[c] * row_scale[r] + key_bias[c];
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

    // acc = diag(alpha)·acc + P·V_s; the rescale is skipped, exactly, where no row's maximum moved.
    if (!subgroupAll(alpha[0] == 1.0 && alpha[1] == 1.0))
      [[unroll]] for (uint db = 0u; db < DB; ++db)
        [[unroll]] for (uint e = 0u; e < ACC_COMPONENTS; ++e) acc[db][e] *= alpha[acc_slot(e)];
    [[unroll]] for (uint db = 0u; db < DB; ++db) {
      [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
        fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> vf;
        coopMatLoadNV(vf, kvs, (uint(BC) + kb * MMA) * KSTR + (col0 + db * MMA) / VEC, KSTR, false);
        acc[db] = coopMatMulAddNV(pf[kb], vf, acc[db]);
      }
    }
  }

  // Output: acc / l · v_inv per row; whole blocks straight to o, partial ones through this subgroup's patch,
  // which overwrites its partial scores: the barrier waits until the rest of its row group has read them.
  barrier();
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
  uint o_base = ((batch * p.sq + row0) * p.hq + head) * D + col0;
  if (row0 + MMA <= p.sq) {
    [[unroll]] for (uint db = 0u; db < DB; ++db) coopMatStoreNV(acc[db], o, o_base + db * MMA, o_stride, false);
    return;
  }
  [[unroll]] for (uint db = 0u; db < DB; ++db) {
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    coopMatStoreNV(acc[db], partial, my_partial, SSTR, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint e = lane; e < MMA * MMA; e += gl_SubgroupSize) {
      uint r = e / MMA, c = e % MMA;
      if (row0 + r < p.sq) o[o_base + r * o_stride + db * MMA + c] = partial[my_partial + r * SSTR + c];
    }
  }
}

#version 460
// Flash attention on tensor cores through GL_NV_cooperative_matrix, head dim 128: softmax(scale·Q·Kᵀ +
// mask)·V without the score matrix. Inputs come from attention_pack.comp: fp16 Q and K scaled per row, V per
// head, each with its exact power-of-two inverse; scores are unscaled (q_inv · k_inv) in fp32 and the output
// by v_inv, so activations of any size convert to fp16 without overflow. fp32 accumulation and statistics.
//
// A workgroup of 8 subgroups owns BR = 128 query rows of one (batch, head), 16 per subgroup, whose Q
// fragments stay in registers. Keys are walked in tiles of BC = 32 staged in shared memory as fp16 (the next
// tile is fetched into registers while the current one is used). Per tile each subgroup computes its 16×32
// scores S = Q·Kᵀ on the tensor cores, runs the online softmax on them in fp32 (two lanes per row: running
// max m and sum l), writes P = exp(S − m) as fp16, rescales its 16×128 output accumulators by exp(m_old −
// m_new) row by row, and adds P·V. The accumulators' rows are found per component through a "row index"
// matrix loaded once (NV cooperative matrices do not name the element each component holds). Masked keys
// (mask 0, beyond Sk) get weight 0; a row that sees no key produces zeros. GQA: head h reads kv head
// h / (Hq / Hkv). No causal mask (the dispatch code uses the scalar kernel for it).
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#define WG 256
#include "common.glsl"
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

const uint D = 128u;                 // head dim (mirrored by kCoopmatHeadDim in vk_attention.cpp)
const uint BR = 128u, BC = 32u;      // query rows per workgroup, keys per tile
const uint MMA = 16u;
const uint SUBGROUPS = WG / 32u;     // each owns MMA query rows
const uint DB = D / MMA, KB = BC / MMA;
const uint QUADS_PER_ROW = D / 8u;   // 8 halves per uvec4
const uint TILE_QUADS = BC * QUADS_PER_ROW;
const uint QUADS_PER_THREAD = TILE_QUADS / WG;
// Strides padded to multiples of 16 bytes (cooperative loads) that spread rows over the banks.
// fp16 data lives in uvec4 arrays (8 halves: one 16-byte store); strides and offsets of those are in uvec4.
const uint VEC = 8u;
const uint KSTR = (D + VEC) / VEC;   // uvec4 per K/V row
const uint SSTR = BC + 4u;           // floats
const uint PSTR = (BC + VEC) / VEC;  // uvec4 per P row
const float LOG2E = 1.4426950408889634;
const float NEG_INF = -1.0 / 0.0;

shared uvec4 kvs[2u * BC * KSTR];               // K tile rows [0, BC), V tile rows [BC, 2·BC); Q staging
shared float sbuf[SUBGROUPS * MMA * SSTR];        // scores per subgroup; row-index matrix; output patches
shared uvec4 pbuf[SUBGROUPS * MMA * PSTR];        // softmax weights per subgroup
shared float row_factor[SUBGROUPS * MMA];         // per-row rescale of the output accumulators
shared float key_factor[BC];                      // k_inv of the tile's keys, 0 for masked ones
shared bool key_valid[BC];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint q0 = gl_WorkGroupID.x * BR, head = gl_WorkGroupID.y, batch = gl_WorkGroupID.z;
  uint kv_head = head / (p.hq / p.hkv);
  uint q_head_row = (batch * p.hq + head) * p.sq;     // packed row of query 0
  uint kv_head_row = (batch * p.hkv + kv_head) * p.sk;
  uint my_base = sg * MMA;                             // this subgroup's first row within the block

  // Q fragments: staged 64 rows at a time through kvs.
  fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> qf[DB];
  const uint STAGED_ROWS = 2u * BC;
  for (uint r0 = 0u; r0 < BR; r0 += STAGED_ROWS) {
    for (uint idx = t; idx < STAGED_ROWS * QUADS_PER_ROW; idx += WG) {
      uint r = idx / QUADS_PER_ROW, c = idx % QUADS_PER_ROW;
      uint qi = q0 + r0 + r;
      uvec4 v = qi < p.sq ? q_quads[(q_head_row + qi) * QUADS_PER_ROW + c] : uvec4(0u);
      kvs[r * KSTR + c] = v;
    }
    barrier();
    if (my_base >= r0 && my_base < r0 + STAGED_ROWS)
      [[unroll]] for (uint db = 0u; db < DB; ++db) coopMatLoadNV(qf[db], kvs, (my_base - r0) * KSTR + db * (MMA / VEC), KSTR, false);
    barrier();
  }

  // Row-index matrix: component e of any 16×16 fp32 accumulator lies in row rowid[e].
  uint sbase = sg * MMA * SSTR;
  for (uint e = lane; e < MMA * MMA; e += 32u) sbuf[sbase + (e / MMA) * SSTR + e % MMA] = float(e / MMA);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> rowid;
  coopMatLoadNV(rowid, sbuf, sbase, SSTR, false);

  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> acc[DB];
  [[unroll]] for (uint db = 0u; db < DB; ++db) acc[db] = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);

  // Softmax lanes: two per row, each over half of the tile's keys.
  uint srow = lane / 2u, half_ = lane % 2u;
  uint my_q = q0 + my_base + srow;
  float qscale = (my_q < p.sq ? q_inv[q_head_row + my_q] : 0.0) * p.scale * LOG2E;  // scores in log2 units
  float m_run = NEG_INF, l_run = 0.0;
  uint pbase = sg * MMA * PSTR;

  uvec4 kreg[QUADS_PER_THREAD], vreg[QUADS_PER_THREAD];
  [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
    uint idx = t + c * WG, key = idx / QUADS_PER_ROW;
    bool in_range = key < p.sk;
    kreg[c] = in_range ? k_quads[(kv_head_row + key) * QUADS_PER_ROW + idx % QUADS_PER_ROW] : uvec4(0u);
    vreg[c] = in_range ? v_quads[(kv_head_row + key) * QUADS_PER_ROW + idx % QUADS_PER_ROW] : uvec4(0u);
  }

  for (uint j0 = 0u; j0 < p.sk; j0 += BC) {
    barrier();  // every subgroup is done with the previous tile
    [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
      uint idx = t + c * WG, r = idx / QUADS_PER_ROW, col = idx % QUADS_PER_ROW;
      kvs[r * KSTR + col] = kreg[c];
      kvs[(BC + r) * KSTR + col] = vreg[c];
    }
    if (t < BC) {
      uint key = j0 + t;
      bool ok = key < p.sk && (p.has_mask == 0u || key_mask[batch * p.sk + key] != 0.0);
      key_valid[t] = ok;
      key_factor[t] = ok ? k_inv[kv_head_row + key] : 0.0;
    }
    barrier();
    if (j0 + BC < p.sk) {
      [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
        uint idx = t + c * WG, key = j0 + BC + idx / QUADS_PER_ROW;
        bool in_range = key < p.sk;
        kreg[c] = in_range ? k_quads[(kv_head_row + key) * QUADS_PER_ROW + idx % QUADS_PER_ROW] : uvec4(0u);
        vreg[c] = in_range ? v_quads[(kv_head_row + key) * QUADS_PER_ROW + idx % QUADS_PER_ROW] : uvec4(0u);
      }
    }

    // S = Q·Kᵀ (scaled operands), 16 × BC per subgroup.
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
      fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> s = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);
      [[unroll]] for (uint db = 0u; db < DB; ++db) {
        fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> kf;
        coopMatLoadNV(kf, kvs, kb * MMA * KSTR + db * (MMA / VEC), KSTR, true);
        s = coopMatMulAddNV(qf[db], kf, s);
      }
      coopMatStoreNV(s, sbuf, sbase + kb * MMA, SSTR, false);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();

    // Online softmax in fp32.
    const uint HALF = BC / 2u;
    float sv[HALF];
    float tile_max = NEG_INF;
    [[unroll]] for (uint j = 0u; j < HALF; ++j) {
      uint c = half_ * HALF + j;
      float v = key_valid[c] ? sbuf[sbase + srow * SSTR + c] * key_factor[c] * qscale : NEG_INF;
      sv[j] = v;
      tile_max = max(tile_max, v);
    }
    tile_max = max(tile_max, subgroupShuffleXor(tile_max, 1u));
    float m_new = max(m_run, tile_max);
    bool none = m_new == NEG_INF;  // no key seen yet
    float alpha = none ? 1.0 : exp2(m_run - m_new);
    float sum = 0.0;
    uint pw[HALF / 2u];
    [[unroll]] for (uint j = 0u; j < HALF; j += 2u) {
      vec2 pj = none ? vec2(0.0) : exp2(vec2(sv[j], sv[j + 1u]) - m_new);
      sum += pj.x + pj.y;
      pw[j / 2u] = packHalf2x16(pj);
    }
    [[unroll]] for (uint q = 0u; q < HALF / VEC; ++q)
      pbuf[pbase + srow * PSTR + half_ * (HALF / VEC) + q] =
          uvec4(pw[4u * q], pw[4u * q + 1u], pw[4u * q + 2u], pw[4u * q + 3u]);
    sum += subgroupShuffleXor(sum, 1u);
    l_run = l_run * alpha + sum;
    m_run = m_new;
    if (half_ == 0u) row_factor[my_base + srow] = alpha;
    subgroupMemoryBarrierShared();
    subgroupBarrier();

    // acc = diag(alpha)·acc + P·V. Once the running maxima settle, alpha is 1 for every row of the subgroup
    // on most tiles: the rescale (64 shared loads and multiplies per lane) is skipped then, exactly.
    if (!subgroupAll(alpha == 1.0))
      [[unroll]] for (uint db = 0u; db < DB; ++db)
        [[unroll]] for (uint e = 0u; e < acc[db].length(); ++e) acc[db][e] *= row_factor[my_base + uint(rowid[e])];
    fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> pf[KB];
    [[unroll]] for (uint kb = 0u; kb < KB; ++kb) coopMatLoadNV(pf[kb], pbuf, pbase + kb * (MMA / VEC), PSTR, false);
    [[unroll]] for (uint db = 0u; db < DB; ++db) {
      [[unroll]] for (uint kb = 0u; kb < KB; ++kb) {
        fcoopmatNV<16, gl_ScopeSubgroup, MMA, MMA> vf;
        coopMatLoadNV(vf, kvs, (BC + kb * MMA) * KSTR + db * (MMA / VEC), KSTR, false);
        acc[db] = coopMatMulAddNV(pf[kb], vf, acc[db]);
      }
    }
  }

  // Output: acc / l · v_inv, through a 16×16 patch per fragment.
  float vscale = v_inv[kv_head_row];
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  if (half_ == 0u) row_factor[my_base + srow] = l_run > 0.0 ? vscale / l_run : 0.0;
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  [[unroll]] for (uint db = 0u; db < DB; ++db) {
    [[unroll]] for (uint e = 0u; e < acc[db].length(); ++e) acc[db][e] *= row_factor[my_base + uint(rowid[e])];
    coopMatStoreNV(acc[db], sbuf, sbase, SSTR, false);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint e = lane; e < MMA * MMA; e += 32u) {
      uint r = e / MMA, c = e % MMA, qi = q0 + my_base + r;
      if (qi < p.sq) o[((batch * p.sq + qi) * p.hq + head) * D + db * MMA + c] = sbuf[sbase + r * SSTR + c];
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
  }
}

#version 460
// Flash attention on workgroup-scope cooperative matrices (VK_NV_cooperative_matrix2, the SPIR-V rewritten to
// SPV_KHR_cooperative_matrix at build time), head dim 128: softmax(scale·Q·Kᵀ + mask)·V with the same inputs,
// outputs and numerics as attention_coopmat_nv_register_softmax.comp (operands from attention_pack.comp: fp16
// Q, K per row and V per head times powers of two, with their exact inverses; fp32 scores, statistics and
// accumulation).
//
// Written transposed: per key tile of BC keys, Sᵀ = K·Qᵀ (BC × BR, keys down, queries across), the weights
// Pᵀ = exp2(Sᵀ − m) converted from the fp32 accumulator to an fp16 B operand (CooperativeMatrixConversionsNV),
// and Oᵀ += Vᵀ·Pᵀ (D × BR). With BR = D, K (A) and Pᵀ (B) have one NV type, which the SPIR-V rewrite clones
// (a KHR matrix type has one use; tools/shader_build/coopmat_nv_to_khr.cpp). Qᵀ stays in registers for the
// whole loop; K and V tiles are staged in shared memory by the workgroup.
//
// The softmax works on the accumulators' elements where they are, through the layout the host probed
// (vk_coopmat_workgroup_layout.h): the subgroups tile both accumulators as a GRID_ROWS × GRID_COLS grid, so a
// lane holds the same COLUMNS query columns of Sᵀ and of Oᵀ. A column's maximum is reduced over the lane's
// rows, over the eight lanes that share its columns (seven shuffles for all eight columns,
// column_max_over_lanes) and over the grid rows (shared memory); its
// running sum stays partial per lane until the end. Masked keys (mask 0, beyond Sk) get weight 0; a query that
// sees no key produces zeros. GQA: head h reads kv head h / (Hq / Hkv). No causal mask. With split > 0 the
// output is two tensors (joint attention): queries below split go to o [B, split, Hq, D], the others to
// o_tail [B, Sq - split, Hq, D].
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_EXT_control_flow_attributes : require
#if !defined(BR) || !defined(BC) || !defined(WG_THREADS) || !defined(GRID_COLS)
#error "define BR, BC, WG_THREADS and GRID_COLS (the probed subgroup-grid columns of both accumulators)"
#endif
const uint WG = WG_THREADS;
layout(local_size_x = WG_THREADS) in;
layout(std430, binding = 0) readonly buffer Q { uvec4 q_quads[]; };  // [B, Hq, Sq, D] fp16
layout(std430, binding = 1) readonly buffer K { uvec4 k_quads[]; };  // [B, Hkv, Sk, D] fp16
layout(std430, binding = 2) readonly buffer V { uvec4 v_quads[]; };
layout(std430, binding = 3) readonly buffer QInv { float q_inv[]; };  // [B, Hq, Sq]
layout(std430, binding = 4) readonly buffer KInv { float k_inv[]; };  // [B, Hkv, Sk]
layout(std430, binding = 5) readonly buffer VInv { float v_inv[]; };  // [B, Hkv, Sk], one value per head
layout(std430, binding = 6) readonly buffer Mask { float key_mask[]; };
layout(std430, binding = 7) writeonly buffer O { float o[]; };       // [B, Sq, Hq, D] (or its first split rows)
layout(std430, binding = 8) writeonly buffer OTail { float o_tail[]; };
layout(push_constant) uniform Params {
  uint sq, sk, hq, hkv;
  float scale;
  uint has_mask;
  uint split;
} p;

const uint D = 128u;  // head dim (kCoopmatHeadDim in vk_attention.cpp)
// BR query rows per workgroup, BC keys per tile; 2·BC ≥ BR, so the K/V staging area holds Q's rows at the
// start.
const uint SUBGROUP = 32u;
const uint GRID_ROWS = WG / SUBGROUP / GRID_COLS;
const uint VEC = 8u;   // fp16 per uvec4
const uint QUADS_PER_ROW = D / VEC;
const uint QUADS_PER_THREAD = BC * QUADS_PER_ROW / WG;
const uint KSTR = QUADS_PER_ROW + 1u;  // uvec4 per staged row: padded so rows fall on distinct bank groups
// The layout (vk_coopmat_workgroup_layout.h): a subgroup's block of an accumulator is BLOCK_COLS query
// columns wide; lane l holds rows l/4 + 8i of it and, of each row, COLUMNS columns 8j + 2(l mod 4) + b as
// elements e = i·COLUMNS + 2j + b.
const uint LANES_PER_ROW = 4u, ROW_STEP = 8u;
const uint BLOCK_COLS = BR / GRID_COLS;
const uint COLUMNS = BLOCK_COLS / ROW_STEP * 2u;
const uint ST_BLOCK_ROWS = BC / GRID_ROWS, OT_BLOCK_ROWS = D / GRID_ROWS;
const uint ST_ELEMENTS = ST_BLOCK_ROWS / ROW_STEP * COLUMNS, OT_ELEMENTS = OT_BLOCK_ROWS / ROW_STEP * COLUMNS;
const float LOG2E = 1.4426950408889634;
// column_max_over_lanes is written for 8 columns per lane, one per lane sharing them.
const uint ROW_LANES = SUBGROUP / LANES_PER_ROW;
const uint COLUMNS_MATCH_LANES[COLUMNS == 8u && ROW_LANES == 8u ? 1 : 0] = uint[](1u);
const float NEG_INF = -1.0 / 0.0;

shared uvec4 kvs[2u * BC * KSTR];          // K tile rows [0, BC), V tile rows [BC, 2·BC); Q staging first
shared float key_scale[BC];                // k_inv of the tile's keys (0 for masked ones)
shared float key_bias[BC];                 // 0, or −inf for masked keys
shared float column_part[GRID_ROWS * BR];  // per grid row: a tile's column maxima, at the end the column sums

// Fetches this thread's share of the tile at key j0: K and V chunks, and (threads below BC) its key's scale
// and mask bias.
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

void stage_tile(uvec4 kreg[QUADS_PER_THREAD], uvec4 vreg[QUADS_PER_THREAD], float kscale, float kbias) {
  [[unroll]] for (uint c = 0u; c < QUADS_PER_THREAD; ++c) {
    uint idx = gl_LocalInvocationID.x + c * WG, r = idx / QUADS_PER_ROW, col = idx % QUADS_PER_ROW;
    kvs[r * KSTR + col] = kreg[c];
    kvs[(BC + r) * KSTR + col] = vreg[c];
  }
  if (gl_LocalInvocationID.x < BC) {
    key_scale[gl_LocalInvocationID.x] = kscale;
    key_bias[gl_LocalInvocationID.x] = kbias;
  }
}

// The query column (within the block) of column jb of Sᵀ and Oᵀ held by `lane` of a subgroup in grid column
// grid_col.
uint lane_column(uint grid_col, uint lane, uint jb) {
  return grid_col * BLOCK_COLS + ROW_STEP * (jb / 2u) + 2u * (lane % LANES_PER_ROW) + jb % 2u;
}

// A lane's maxima of its 8 columns reduced over the 8 lanes that share them (lane bits 2-4) with 7 shuffles
// instead of 3 per column: at each step a lane keeps half of its values and trades the other half with its
// partner, so lane l ends with the maximum of its column l/4 over all 8 lanes.
float column_max_over_lanes(float v[COLUMNS], uint lane) {
  bool b4 = (lane & 16u) != 0u;
  float a0 = max(b4 ? v[4] : v[0], subgroupShuffleXor(b4 ? v[0] : v[4], 16u));
  float a1 = max(b4 ? v[5] : v[1], subgroupShuffleXor(b4 ? v[1] : v[5], 16u));
  float a2 = max(b4 ? v[6] : v[2], subgroupShuffleXor(b4 ? v[2] : v[6], 16u));
  float a3 = max(b4 ? v[7] : v[3], subgroupShuffleXor(b4 ? v[3] : v[7], 16u));
  bool b3 = (lane & 8u) != 0u;
  float c0 = max(b3 ? a2 : a0, subgroupShuffleXor(b3 ? a0 : a2, 8u));
  float c1 = max(b3 ? a3 : a1, subgroupShuffleXor(b3 ? a1 : a3, 8u));
  bool b2 = (lane & 4u) != 0u;
  return max(b2 ? c1 : c0, subgroupShuffleXor(b2 ? c0 : c1, 4u));
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  uint grid_row = sg / GRID_COLS, grid_col = sg % GRID_COLS;
  uint q0 = gl_WorkGroupID.x * BR, head = gl_WorkGroupID.y, batch = gl_WorkGroupID.z;
  uint kv_head = head / (p.hq / p.hkv);
  uint q_head_row = (batch * p.hq + head) * p.sq;  // packed row of query 0
  uint kv_head_row = (batch * p.hkv + kv_head) * p.sk;

  // Qᵀ (D × BR) from the block's query rows staged in kvs: column q of Qᵀ is query row q.
  for (uint idx = t; idx < BR * QUADS_PER_ROW; idx += WG) {
    uint r = idx / QUADS_PER_ROW, c = idx % QUADS_PER_ROW, qi = q0 + r;
    kvs[r * KSTR + c] = qi < p.sq ? q_quads[(q_head_row + qi) * QUADS_PER_ROW + c] : uvec4(0u);
  }
  barrier();
  fcoopmatNV<16, gl_ScopeWorkgroup, D, BR> qt;
  coopMatLoadNV(qt, kvs, 0u, KSTR, true);

  // This lane's query columns: their score scale (log2 units), running maximum and partial sum.
  uint column[COLUMNS];
  float column_scale[COLUMNS], m_run[COLUMNS], l_part[COLUMNS];
  [[unroll]] for (uint jb = 0u; jb < COLUMNS; ++jb) {
    column[jb] = lane_column(grid_col, lane, jb);
    uint qi = q0 + column[jb];
    column_scale[jb] = (qi < p.sq ? q_inv[q_head_row + qi] : 0.0) * p.scale * LOG2E;
    m_run[jb] = NEG_INF;
    l_part[jb] = 0.0;
  }
  uint st_row0 = grid_row * ST_BLOCK_ROWS + lane / LANES_PER_ROW;  // this lane's first key row of Sᵀ

  fcoopmatNV<32, gl_ScopeWorkgroup, D, BR> ot = fcoopmatNV<32, gl_ScopeWorkgroup, D, BR>(0.0);
  uvec4 kreg[QUADS_PER_THREAD], vreg[QUADS_PER_THREAD];
  float kscale, kbias;
  // Each tile is fetched at its top, not during the previous one: prefetching measured 3 % slower at S7145
  // (the same registers, 255 against 251) and equal at S4352.
  for (uint j0 = 0u; j0 < p.sk; j0 += BC) {
    fetch_tile(j0, kv_head_row, batch, kreg, vreg, kscale, kbias);
    barrier();  // every subgroup is done with the previous tile (and with Q's staging)
    stage_tile(kreg, vreg, kscale, kbias);
    barrier();

    fcoopmatNV<16, gl_ScopeWorkgroup, BC, D> kt;
    coopMatLoadNV(kt, kvs, 0u, KSTR, false);
    fcoopmatNV<32, gl_ScopeWorkgroup, BC, BR> st = fcoopmatNV<32, gl_ScopeWorkgroup, BC, BR>(0.0);
    st = coopMatMulAddNV(kt, qt, st);

    // Scores in log2 units, masked; the tile's column maxima over this lane's rows, its 8 row lanes, the grid.
    float tile_max[COLUMNS];
    [[unroll]] for (uint jb = 0u; jb < COLUMNS; ++jb) tile_max[jb] = NEG_INF;
    [[unroll]] for (uint e = 0u; e < ST_ELEMENTS; ++e) {
      uint jb = e % COLUMNS, key = st_row0 + ROW_STEP * (e / COLUMNS);
      float v = st[e] * key_scale[key] * column_scale[jb] + key_bias[key];
      st[e] = v;
      tile_max[jb] = max(tile_max[jb], v);
    }
    // Lane l ends with the maximum of its column l / LANES_PER_ROW.
    column_part[grid_row * BR + lane_column(grid_col, lane, lane / LANES_PER_ROW)] =
        column_max_over_lanes(tile_max, lane);
    barrier();
    float alpha[COLUMNS], base[COLUMNS];
    [[unroll]] for (uint jb = 0u; jb < COLUMNS; ++jb) {
      float m_tile = NEG_INF;
      [[unroll]] for (uint g = 0u; g < GRID_ROWS; ++g) m_tile = max(m_tile, column_part[g * BR + column[jb]]);
      float m_new = max(m_run[jb], m_tile);
      bool none = m_new == NEG_INF;  // no key seen yet: weights 0, nothing to rescale
      alpha[jb] = none ? 1.0 : exp2(m_run[jb] - m_new);
      base[jb] = none ? 0.0 : m_new;
      m_run[jb] = m_new;
      l_part[jb] *= alpha[jb];
    }

    // Weights Pᵀ = exp2(Sᵀ − m), summed; the fp16 B operand of Oᵀ += Vᵀ·Pᵀ.
    [[unroll]] for (uint e = 0u; e < ST_ELEMENTS; ++e) {
      uint jb = e % COLUMNS;
      float w = exp2(st[e] - base[jb]);
      st[e] = w;
      l_part[jb] += w;
    }
    fcoopmatNV<16, gl_ScopeWorkgroup, BC, BR> pt = fcoopmatNV<16, gl_ScopeWorkgroup, BC, BR>(st);

    // Oᵀ = Oᵀ·diag(alpha) + Vᵀ·Pᵀ; once the running maxima settle alpha is 1 for every column of the
    // subgroup on most tiles, and the rescale is skipped then, exactly.
    bool rescale = false;
    [[unroll]] for (uint jb = 0u; jb < COLUMNS; ++jb) rescale = rescale || alpha[jb] != 1.0;
    if (subgroupAny(rescale))
      [[unroll]] for (uint e = 0u; e < OT_ELEMENTS; ++e) ot[e] *= alpha[e % COLUMNS];
    fcoopmatNV<16, gl_ScopeWorkgroup, D, BC> vt;
    coopMatLoadNV(vt, kvs, BC * KSTR, KSTR, true);
    ot = coopMatMulAddNV(vt, pt, ot);
  }

  // Column sums over the 8 row lanes and the grid rows; output Oᵀ / l · v_inv.
  barrier();  // every subgroup is done reading the last tile's column maxima
  [[unroll]] for (uint jb = 0u; jb < COLUMNS; ++jb) {
    float l = l_part[jb];
    [[unroll]] for (uint x = LANES_PER_ROW; x < SUBGROUP; x *= 2u) l += subgroupShuffleXor(l, x);
    if (lane < LANES_PER_ROW) column_part[grid_row * BR + column[jb]] = l;
  }
  barrier();
  float vscale = v_inv[kv_head_row];
  float out_scale[COLUMNS];
  [[unroll]] for (uint jb = 0u; jb < COLUMNS; ++jb) {
    float l = 0.0;
    [[unroll]] for (uint g = 0u; g < GRID_ROWS; ++g) l += column_part[g * BR + column[jb]];
    out_scale[jb] = l > 0.0 ? vscale / l : 0.0;
  }
  [[unroll]] for (uint e = 0u; e < OT_ELEMENTS; ++e) ot[e] *= out_scale[e % COLUMNS];
  // Oᵀ column q is the output row of query q0 + q: a whole block within one output stores column-major, any
  // other block per element.
  uint o_stride = p.hq * D;
  uint first = p.split == 0u ? p.sq : p.split, tail = p.sq - first;  // query rows of o and of o_tail
  if (q0 + BR <= first) {
    coopMatStoreNV(ot, o, ((batch * first + q0) * p.hq + head) * D, o_stride, true);
    return;
  }
  if (q0 >= first && q0 + BR <= p.sq) {
    coopMatStoreNV(ot, o_tail, ((batch * tail + q0 - first) * p.hq + head) * D, o_stride, true);
    return;
  }
  uint ot_row0 = grid_row * OT_BLOCK_ROWS + lane / LANES_PER_ROW;
  [[unroll]] for (uint e = 0u; e < OT_ELEMENTS; ++e) {
    uint qi = q0 + column[e % COLUMNS], d = ot_row0 + ROW_STEP * (e / COLUMNS);
    if (qi < first)
      o[((batch * first + qi) * p.hq + head) * D + d] = ot[e];
    else if (qi < p.sq)
      o_tail[((batch * tail + qi - first) * p.hq + head) * D + d] = ot[e];
  }
}

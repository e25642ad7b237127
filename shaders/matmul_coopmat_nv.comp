#version 460
// y[R, N] = epilogue(x[R, K] · w[N, K]ᵀ) on tensor cores through GL_NV_cooperative_matrix: fp16 operands,
// fp32 accumulation. x arrives packed by matmul_pack_rows.comp: fp16 rows of KP = K rounded up to 8 halves,
// each multiplied by its power-of-two row_scale (no fp16 overflow for activations up to 2e7); the epilogue
// multiplies the fp32 accumulator by the exact inverse.
//
// The tile machinery (configuration defines BM, BN, BK, SG_M, SG_N, STAGES, WG_THREADS, mirrored by
// kCoopmatConfigs in vk_matmul.cpp; register-prefetched slices, shared stages, the fragment loop, the
// epilogue walk) is coopmat_gemm_tile.glsl, shared with conv3d_coopmat_nv.comp; this file supplies the
// operands and the output. With WORKGROUP_SCOPE (defines BM, BN, BK, SPLIT, WG_THREADS) the tile is
// coopmat_workgroup_gemm_tile.glsl instead: workgroup-scope matrices, the SPIR-V rewritten to
// SPV_KHR_cooperative_matrix at build time (VK_NV_cooperative_matrix2 devices). Any R, N, K: rows/columns past the edge and the K tail are zero-filled; weights
// with K not a multiple of 8 take an element-wise load path.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#if !defined(WG_THREADS)
#error "define WG_THREADS"
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
layout(std430, binding = 5) writeonly buffer Y4 { vec4 y_quads[]; };
layout(std430, binding = 6) readonly buffer RowScale { float row_scale[]; };
#if defined(PACKED_OUTPUT)
// modulated_mlp's up-projection (workgroup tile only): y is written as the down-projection's packed input,
// fp16 rows [rows, N] (N a multiple of 8) times a power of two per row, hidden_scale(row), with the scale in
// out_scale. The scale comes from a bound rather than the row's maximum (which spans every column tile):
// |act(h)| ≤ max(|h|, 1) for GELU-tanh, SiLU and none, and |h| ≤ ‖x_row‖₂ · max_n ‖w[n, :]‖₂ + max |bias|
// (Cauchy–Schwarz), with the input rows' norms from matmul_pack_rows.comp (WRITE_ROW_NORM) and the weight
// statistics from matmul_weight_bound.comp. The fp16 values keep their relative precision (the bound is
// looser than the maximum, but fp16's range holds 2^29 below its top).
layout(std430, binding = 5) writeonly buffer YHalves { uvec2 y_half_quads[]; };
layout(std430, binding = 7) readonly buffer RowNorm { float row_norm[]; };
layout(std430, binding = 8) readonly buffer Bound { float weight_bound[]; };
layout(std430, binding = 9) writeonly buffer OutScale { float out_scale[]; };
#endif
layout(push_constant) uniform Params {
  uint rows, n, k, rows_per_item, act, flags, bias_dtype;
  uint k_per_split;  // SPLIT_K: k columns per split, a multiple of BK
} p;
// The epilogue's flags, activation and bias format as specialization constants (the same values as the push
// block's, set by vk_matmul.cpp): the driver drops the unused parts from each pipeline.
layout(constant_id = 0) const uint SPEC_FLAGS = 0u;
layout(constant_id = 1) const uint SPEC_ACT = 0u;
layout(constant_id = 2) const uint SPEC_BIAS_DTYPE = 0u;
#define EPILOGUE_FLAGS SPEC_FLAGS
#define EPILOGUE_ACT SPEC_ACT
#define EPILOGUE_BIAS_DTYPE SPEC_BIAS_DTYPE
#include "weights.glsl"
#include "matmul_epilogue.glsl"
#include "fp16_scaling.glsl"
#if defined(WORKGROUP_SCOPE)
#include "coopmat_workgroup_gemm_tile.glsl"
#else
#include "coopmat_gemm_tile.glsl"
#endif

// 1 / s for a power of two s, exactly (a division may be approximate on some GPUs).
float inverse_power_of_two(float s) {
  int e;
  frexp(s, e);  // s = 0.5 · 2^e
  return ldexp(1.0, 1 - e);
}

uint packed_k() { return (p.k + VEC - 1u) / VEC * VEC; }  // KP: the row length of x_chunks in halves

// Whether the weights' K is a multiple of 8 (16-byte loads; otherwise an element-wise path).
#if defined(K_MULTIPLE_OF_8)
bool vec_path() { return true; }  // the dispatch guarantees K % 8 == 0
#else
bool vec_path() { return (p.k % VEC) == 0u; }
#endif

void gemm_begin_tile(uint row0, uint col0) {}
void gemm_begin_slice(uint gk) {}

// Rows (and weight rows, below) past the edge load the last one instead: finite values whose results the
// store drops, with no per-chunk test. rows and n are at least 1 (vk_matmul.cpp dispatches nothing else).
uvec4 gemm_load_a(uint c, uint row, uint gk) {
  uint kp = packed_k();
  return gk < kp ? x_chunks[(min(row, p.rows - 1u) * kp + gk) / VEC] : uvec4(0u);
}

uvec4 gemm_load_b(uint c, uint col, uint gk) {
  col = min(col, p.n - 1u);
  // K % 8 == 0: a chunk lies wholly inside or wholly past K.
  if (vec_path()) return gk < p.k ? w_quads[(col * p.k + gk) / VEC] : uvec4(0u);
  float v[8];
  [[unroll]] for (uint j = 0u; j < 8u; ++j) v[j] = gk + j < p.k ? load_w(col * p.k + gk + j) : 0.0;
  return uvec4(packHalf2x16(vec2(v[0], v[1])), packHalf2x16(vec2(v[2], v[3])), packHalf2x16(vec2(v[4], v[5])),
               packHalf2x16(vec2(v[6], v[7])));
}

uint bf16_pair_to_f16(uint word) {
  return packHalf2x16(vec2(uintBitsToFloat(word << 16), uintBitsToFloat(word & 0xFFFF0000u)));
}

uvec4 gemm_stage_b(uvec4 w) {
#if defined(W_BF16)
  if (vec_path()) w = uvec4(bf16_pair_to_f16(w.x), bf16_pair_to_f16(w.y), bf16_pair_to_f16(w.z), bf16_pair_to_f16(w.w));
#endif
  return w;
}

void gemm_store(uint row, uint col, float v) {
  if (row < p.rows && col < p.n) store_output(row, col, v * inverse_power_of_two(row_scale[row]));
}

float gemm_row_factor(uint row) { return row < p.rows ? inverse_power_of_two(row_scale[row]) : 0.0; }

#if defined(PACKED_OUTPUT)
// The bound's factor for the fp16 rounding of the input, the fp32 accumulation's rounding (≤ K · 2^-24
// relative) and the activation's |act(h)| ≤ max(|h|, 1): 2 leaves the scaled values below 2^14.
const float HIDDEN_BOUND_MARGIN = 2.0;
const float ACTIVATION_FLOOR = 1.0;

float hidden_scale(uint row) {
  float bound = HIDDEN_BOUND_MARGIN * (row_norm[row] * weight_bound[0] + weight_bound[1] + ACTIVATION_FLOOR);
  return ldexp(1.0, fp16_scale_exponent(bound));
}

void gemm_store4(uint row, uint col, vec4 v) {
  if (row >= p.rows || col >= p.n) return;  // N % 4 == 0: the 4 columns are all inside or all past the edge
  float s = hidden_scale(row);
  vec4 h = vec4(epilogue_value(row, col, v.x), epilogue_value(row, col + 1u, v.y), epilogue_value(row, col + 2u, v.z),
                epilogue_value(row, col + 3u, v.w)) * s;
  y_half_quads[(row * p.n + col) / 4u] = uvec2(packHalf2x16(h.xy), packHalf2x16(h.zw));
  if (col == 0u) out_scale[row] = s;
}
#elif defined(SPLIT_K)
// Split-K (workgroup tile only): workgroup g runs tile g mod tiles over k columns [s·k_per_split, (s+1)·k_per_split)
// with s = g / tiles, and binding 5 holds the partial products [splits, rows, n] in fp32, already multiplied
// by the rows' inverse scales; matmul_split_k_reduce.comp sums them and applies the epilogue.
uint split_index;

void gemm_store4(uint row, uint col, vec4 v) {
  if (row >= p.rows) return;
  uint at = (split_index * p.rows + row) * p.n + col;
  if (p.n % 4u == 0u && col < p.n) {
    y_quads[at / 4u] = v;
    return;
  }
  [[unroll]] for (uint j = 0u; j < 4u; ++j)
    if (col + j < p.n) y[at + j] = v[j];
}
#else
void gemm_store4(uint row, uint col, vec4 v) {
  if (row >= p.rows) return;
  if (p.n % 4u == 0u && col < p.n) {  // the 4 columns are inside and 16-byte aligned: one store
    y_quads[(row * p.n + col) / 4u] = vec4(epilogue_value(row, col, v.x), epilogue_value(row, col + 1u, v.y),
                                           epilogue_value(row, col + 2u, v.z), epilogue_value(row, col + 3u, v.w));
    return;
  }
  [[unroll]] for (uint j = 0u; j < 4u; ++j)
    if (col + j < p.n) store_output(row, col + j, v[j]);
}
#endif

#if defined(WORKGROUP_SCOPE)
void main() {
  uint kp = packed_k();
#if defined(SPLIT_K)
  uint tiles = gemm_tile_count(p.rows, p.n), g = linear_group_id();
  split_index = g / tiles;
  uint k_begin = split_index * p.k_per_split;
  gemm_run(p.rows, p.n, g % tiles, k_begin, min(k_begin + p.k_per_split, kp));
#else
  gemm_run(p.rows, p.n, linear_group_id(), 0u, kp);
#endif
}
#else
void main() { gemm_run(p.rows, p.n, packed_k()); }
#endif

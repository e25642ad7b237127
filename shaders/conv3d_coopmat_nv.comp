#version 460
// conv3d on tensor cores through GL_NV_cooperative_matrix (fp16 operands, fp32 accumulation) as an implicit
// GEMM: C[M, N] = A[M, K] · B[K, N] with
//   row m    = output position (t', h', w') (M = T'·H'·W'),
//   column n = output channel (N = Cout),
//   k        = (tap, cin) with tap = (kt, kh, kw) over the temporal taps that reach data (K = taps·Cin).
// The operands come from conv3d_pack.comp: xp [F, Hp, Wp, Cin] fp16 (channels-last, padding materialised,
// frame 0 = the first temporal tap's frame) and wq [Cout, taps, Cin] fp16, each scaled by one power of two.
// With Cin % 8 == 0 a 16-byte chunk of 8 consecutive k holds 8 channels of one tap in both: in xp at
//   A[m, k] = xp[t'·st + kt, h'·sh + kh, w'·sw + kw, cin]
// (position part per row, computed once per tile; tap part per slice), in wq at row n, column k, so every
// load is a 16-byte vector load as in matmul_coopmat_nv.comp. The tile machinery (configuration defines
// BM, BN, BK, SG_M, SG_N, STAGES, WG_THREADS, mirrored by kConfigs in vk_conv3d.cpp) is
// coopmat_gemm_tile.glsl. Output y [Cout, T', H', W'] is C transposed: the epilogue walks its 16×16 patches
// with lanes along m (coalesced), multiplies by the exact inverse scales and adds the bias.
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#if !defined(WG_THREADS)
#error "define WG_THREADS"
#endif
#define WG WG_THREADS
#define GEMM_STORE_LANES_ALONG_M 1
#include "common.glsl"
#include "half_words.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer XPacked { uvec4 x_chunks[]; };
layout(std430, binding = 1) readonly buffer WPacked { uvec4 w_chunks[]; };
layout(std430, binding = 2) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 3) readonly buffer Scales { float scales[]; };  // [2], [3]: inverse x and w scales
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
  uint m, n, k;             // GEMM: positions, output channels, taps·cin
  uint cin, h_out, w_out;
  uint st, sh, sw;          // strides
  uint hp, wp;              // padded height and width of xp
  uint kh, kw;
  uint has_bias, bias_dtype;
} p;
#include "coopmat_gemm_tile.glsl"

uint a_base[A_CHUNKS];  // per chunk slot: xp chunk index of the slot's row's (t'·st, h'·sh, w'·sw, 0)
uint a_tap;             // per slice: xp chunk offset of this thread's (tap, cin)
bool a_in;              // per slice: this thread's k column lies inside K
float x_inverse, w_inverse;

void gemm_begin_tile(uint row0, uint col0) {
  uint cin8 = p.cin / VEC;
  [[unroll]] for (uint c = 0u; c < A_CHUNKS; ++c) {
    // Rows past M read the last row's data: they are never stored, and k past K reads zeros.
    uint m = min(row0 + gemm_chunk_row(c), p.m - 1u);
    uint ow = m % p.w_out, rest = m / p.w_out;
    uint oh = rest % p.h_out, ot = rest / p.h_out;
    a_base[c] = ((ot * p.st * p.hp + oh * p.sh) * p.wp + ow * p.sw) * cin8;
  }
  x_inverse = scales[2];
  w_inverse = scales[3];
}

void gemm_begin_slice(uint gk) {
  a_in = gk < p.k;
  uint tap = gk / p.cin, ci = gk % p.cin;
  uint dx = tap % p.kw, rest = tap / p.kw;
  uint dy = rest % p.kh, dt = rest / p.kh;
  a_tap = ((dt * p.hp + dy) * p.wp + dx) * (p.cin / VEC) + ci / VEC;
}

uvec4 gemm_load_a(uint c, uint row, uint gk) { return a_in ? x_chunks[a_base[c] + a_tap] : uvec4(0u); }

uvec4 gemm_load_b(uint c, uint col, uint gk) {
  return (col < p.n && gk < p.k) ? w_chunks[(col * p.k + gk) / VEC] : uvec4(0u);
}

uvec4 gemm_stage_b(uvec4 v) { return v; }

void gemm_store(uint row, uint col, float v) {
  if (row >= p.m || col >= p.n) return;
  float bias = p.has_bias != 0u ? LOAD_ANY_FLOAT(bias_words, col, p.bias_dtype) : 0.0;
  // Two exact power-of-two products (one would underflow where both inverses are tiny).
  y[col * p.m + row] = (v * x_inverse) * w_inverse + bias;
}

void main() { gemm_run(p.m, p.n, p.k); }

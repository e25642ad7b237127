#version 460
// y[R, N] = epilogue(x[R, K] · w[N, K]ᵀ): scalar fp32 tiled GEMM. A workgroup computes a BM×BN tile of y,
// staging BK-deep slices of x and w in shared memory (stored k-major so each thread reads TM and TN
// consecutive values); each thread accumulates a TM×TN block in registers. Any R, N, K (edges are
// bounds-checked). The weight format is a compile-time choice (weights.glsl).
#extension GL_EXT_control_flow_attributes : require
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w_words[]; };
layout(std430, binding = 2) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 3) readonly buffer Residual { float residual[]; };
layout(std430, binding = 4) readonly buffer Gate { float gate[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
  uint rows, n, k, rows_per_item, act, flags, bias_dtype;
} p;
#include "weights.glsl"
#include "matmul_epilogue.glsl"

const uint BM = 64u, BN = 64u, BK = 16u;  // tile of y and depth of one shared-memory slice
const uint TM = 4u, TN = 4u;              // outputs per thread: (BM/TM)·(BN/TN) = 256 threads
const uint THREADS = 256u;
shared float xs[BK][BM];
shared float ws[BK][BN];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint tn = t % (BN / TN), tm = t / (BN / TN);
  uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
  float acc[TM][TN];
  // Every loop over acc is unrolled so that it is indexed by constants only: a run-time index makes the
  // driver keep it in local memory (NVIDIA: 64 bytes of local memory per thread for this array).
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0u; k0 < p.k; k0 += BK) {
    // Each thread loads (BM·BK)/THREADS elements of x and of w; consecutive threads take consecutive k.
    for (uint e = t; e < BM * BK; e += THREADS) {
      uint r = e / BK, kk = e % BK;
      uint gr = row0 + r, gk = k0 + kk;
      xs[kk][r] = (gr < p.rows && gk < p.k) ? x[gr * p.k + gk] : 0.0;
      uint gc = col0 + r;
      ws[kk][r] = (gc < p.n && gk < p.k) ? load_w(gc * p.k + gk) : 0.0;
    }
    barrier();
    [[unroll]] for (uint kk = 0u; kk < BK; ++kk) {
      float a[TM], b[TN];
      [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = xs[kk][tm * TM + i];
      [[unroll]] for (uint j = 0u; j < TN; ++j) b[j] = ws[kk][tn * TN + j];
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    barrier();
  }
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    uint row = row0 + tm * TM + i;
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      uint col = col0 + tn * TN + j;
      if (row < p.rows && col < p.n) store_output(row, col, acc[i][j]);
    }
  }
}

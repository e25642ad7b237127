#version 460
// conv3d as an implicit GEMM, scalar fp32: y[Cout, P'] = w[Cout, Kr] · im2col(x)[Kr, P'] + bias, where P'
// runs over the output positions (t', h', w') and Kr over (cin, kt, kh, kw) with kt restricted by the host
// to the taps that can touch real input frames ([kt_begin, kt_begin + kt_count)): a single-frame causal
// 3×3×3 convolution thus runs only its last temporal tap. Time is padded with pad_front frames in front
// (2·pad_t when causal; the last cache_frames of them come from the cache tensor) and zeros at the back;
// space with symmetric zero padding. Tiles as in matmul.comp: BM output channels × BN positions.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w_words[]; };
layout(std430, binding = 2) readonly buffer Bias { uint bias_words[]; };
layout(std430, binding = 3) readonly buffer Cache { float cache[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
  uint cin, t_in, h_in, w_in;
  uint cout, t_out, h_out, w_out;
  uint kt, kh, kw;
  uint st, sh, sw;
  uint pad_front, ph, pw;
  uint kt_begin, kt_count, cache_frames;
  uint has_bias, bias_dtype;
} p;
#include "weights.glsl"

const uint BM = 64u, BN = 64u, BK = 16u;
const uint TM = 4u, TN = 4u;
const uint THREADS = 256u;
shared float ws[BK][BM];
shared float xs[BK][BN];

// Input value at padded time index tp (frames of padding first), input row hi, column wi (may be negative).
float input_at(uint ci, int tp, int hi, int wi) {
  if (hi < 0 || hi >= int(p.h_in) || wi < 0 || wi >= int(p.w_in)) return 0.0;
  int ti = tp - int(p.pad_front);
  if (ti >= int(p.t_in)) return 0.0;
  if (ti >= 0) return x[((ci * p.t_in + uint(ti)) * p.h_in + uint(hi)) * p.w_in + uint(wi)];
  int tc = ti + int(p.cache_frames);  // cache frames are the last cache_frames of the front padding
  if (tc < 0) return 0.0;
  return cache[((ci * p.cache_frames + uint(tc)) * p.h_in + uint(hi)) * p.w_in + uint(wi)];
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint tn = t % (BN / TN), tm = t / (BN / TN);
  uint co0 = gl_WorkGroupID.y * BM, pos0 = gl_WorkGroupID.x * BN;
  uint positions = p.t_out * p.h_out * p.w_out;
  uint taps = p.kh * p.kw;                 // spatial taps per temporal tap
  uint k_per_cin = p.kt_count * taps;      // reduced K per input channel
  uint k_total = p.cin * k_per_cin;
  uint w_row = p.cin * p.kt * taps;        // full weight row length (per output channel)
  float acc[TM][TN];
  for (uint i = 0u; i < TM; ++i)
    for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;

  for (uint k0 = 0u; k0 < k_total; k0 += BK) {
    for (uint e = t; e < BM * BK; e += THREADS) {
      uint r = e / BK, kk = e % BK;
      uint gk = k0 + kk;
      // Weight tile: output channel co0 + r, reduced k index gk.
      uint co = co0 + r;
      float wv = 0.0;
      uint ci = gk / k_per_cin, rem = gk % k_per_cin;
      uint ktl = rem / taps, tap = rem % taps;
      if (co < p.cout && gk < k_total) wv = load_w(co * w_row + (ci * p.kt + p.kt_begin + ktl) * taps + tap);
      ws[kk][r] = wv;
      // Input tile: position pos0 + r.
      uint pos = pos0 + r;
      float xv = 0.0;
      if (pos < positions && gk < k_total) {
        uint ow = pos % p.w_out, oh = (pos / p.w_out) % p.h_out, ot = pos / (p.w_out * p.h_out);
        uint dy = tap / p.kw, dx = tap % p.kw;
        xv = input_at(ci, int(ot * p.st + p.kt_begin + ktl), int(oh * p.sh + dy) - int(p.ph),
                      int(ow * p.sw + dx) - int(p.pw));
      }
      xs[kk][r] = xv;
    }
    barrier();
    for (uint kk = 0u; kk < BK; ++kk) {
      float a[TM], b[TN];
      for (uint i = 0u; i < TM; ++i) a[i] = ws[kk][tm * TM + i];
      for (uint j = 0u; j < TN; ++j) b[j] = xs[kk][tn * TN + j];
      for (uint i = 0u; i < TM; ++i)
        for (uint j = 0u; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    barrier();
  }
  for (uint i = 0u; i < TM; ++i) {
    uint co = co0 + tm * TM + i;
    if (co >= p.cout) continue;
    float bias = p.has_bias != 0u ? LOAD_ANY_FLOAT(bias_words, co, p.bias_dtype) : 0.0;
    for (uint j = 0u; j < TN; ++j) {
      uint pos = pos0 + tn * TN + j;
      if (pos < positions) y[co * positions + pos] = acc[i][j] + bias;
    }
  }
}

#version 460
// Flash-style attention, scalar fp32: softmax(scale·Q·Kᵀ + mask)·V without the score matrix. A workgroup
// owns BR query rows of one (batch, head); it walks the keys in tiles of BC, keeping the running maximum m
// and sum l per row (online softmax) and the output rows in registers, spread over the row's threads.
// D_MAX (the head-dimension class), BR and BC are compile-time per variant so the tiles fit 32 KiB of
// shared memory. GQA: query head h reads kv head h / (Hq / Hkv). Masked keys (mask value 0, causal future,
// beyond Sk) get weight 0; a row that sees no key produces zeros.
#define WG 128
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer Mask { float key_mask[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
layout(push_constant) uniform Params {
  uint sq, sk, hq, hkv, d;
  float scale;
  uint causal, has_mask;
} p;

const uint THREADS_PER_ROW = WG / BR;
const uint DIMS_PER_THREAD = D_MAX / THREADS_PER_ROW;
const uint KV_STRIDE = D_MAX + 1u;  // padding: threads reading different keys hit different banks
const float kNegInf = -1.0 / 0.0;

shared float qs[BR * D_MAX];
shared float kvs[BC * KV_STRIDE];
shared float ps[BR * BC];       // scores, then softmax weights of the current tile
shared float row_max[BR];
shared float row_sum[BR];
shared float row_alpha[BR];     // rescale of the running output for this tile

void main() {
  uint t = gl_LocalInvocationID.x;
  uint row0 = gl_WorkGroupID.x * BR;
  uint head = gl_WorkGroupID.y, batch = gl_WorkGroupID.z;
  uint kv_head = head / (p.hq / p.hkv);
  uint my_row = t / THREADS_PER_ROW, lane = t % THREADS_PER_ROW;
  uint q_stride = p.hq * p.d, kv_stride = p.hkv * p.d;  // distance between consecutive tokens

  for (uint e = t; e < BR * D_MAX; e += WG) {
    uint r = e / D_MAX, dd = e % D_MAX;
    uint qi = row0 + r;
    qs[e] = (qi < p.sq && dd < p.d) ? q[(batch * p.sq + qi) * q_stride + head * p.d + dd] : 0.0;
  }
  if (t < BR) {
    row_max[t] = kNegInf;
    row_sum[t] = 0.0;
  }
  float acc[DIMS_PER_THREAD];
  for (uint i = 0u; i < DIMS_PER_THREAD; ++i) acc[i] = 0.0;

  // With causal masking no row of this block sees a key past the last row's limit.
  int causal_shift = int(p.sk) - int(p.sq);
  uint keys = p.sk;
  if (p.causal != 0u) keys = uint(clamp(int(row0 + BR) + causal_shift, 0, int(p.sk)));
  uint kv_base = batch * p.sk * kv_stride + kv_head * p.d;

  for (uint j0 = 0u; j0 < keys; j0 += BC) {
    barrier();  // previous tile's V reads are done
    for (uint e = t; e < BC * D_MAX; e += WG) {
      uint c = e / D_MAX, dd = e % D_MAX;
      uint key = j0 + c;
      kvs[c * KV_STRIDE + dd] = (key < p.sk && dd < p.d) ? k[kv_base + key * kv_stride + dd] : 0.0;
    }
    barrier();
    for (uint e = t; e < BR * BC; e += WG) {
      uint r = e / BC, c = e % BC;
      uint key = j0 + c, qi = row0 + r;
      bool visible = key < p.sk;
      if (p.causal != 0u) visible = visible && int(key) <= int(qi) + causal_shift;
      if (p.has_mask != 0u && visible) visible = key_mask[batch * p.sk + key] != 0.0;
      float s = kNegInf;
      if (visible) {
        // Four interleaved fused accumulations: scores of large vectors (|q·k| ~ 1e4) keep about twice the
        // accuracy of one running sum, and the exponent amplifies score errors into weight errors.
        vec4 partial = vec4(0.0);
        uint dd = 0u;
        for (; dd + 3u < p.d; dd += 4u) {
          vec4 qv = vec4(qs[r * D_MAX + dd], qs[r * D_MAX + dd + 1u], qs[r * D_MAX + dd + 2u], qs[r * D_MAX + dd + 3u]);
          vec4 kv = vec4(kvs[c * KV_STRIDE + dd], kvs[c * KV_STRIDE + dd + 1u], kvs[c * KV_STRIDE + dd + 2u],
                         kvs[c * KV_STRIDE + dd + 3u]);
          partial = fma(qv, kv, partial);
        }
        for (; dd < p.d; ++dd) partial.x = fma(qs[r * D_MAX + dd], kvs[c * KV_STRIDE + dd], partial.x);
        s = ((partial.x + partial.y) + (partial.z + partial.w)) * p.scale;
      }
      ps[e] = s;
    }
    barrier();
    // Online softmax statistics (one thread per row) while the others load the V tile.
    if (t < BR) {
      float m_old = row_max[t];
      float m_new = m_old;
      for (uint c = 0u; c < BC; ++c) m_new = max(m_new, ps[t * BC + c]);
      float alpha = 1.0, sum = 0.0;
      if (m_new != kNegInf) {
        alpha = m_old == kNegInf ? 0.0 : exp(m_old - m_new);
        for (uint c = 0u; c < BC; ++c) {
          float s = ps[t * BC + c];
          float w = s == kNegInf ? 0.0 : exp(s - m_new);
          ps[t * BC + c] = w;
          sum += w;
        }
      } else {
        for (uint c = 0u; c < BC; ++c) ps[t * BC + c] = 0.0;
      }
      row_max[t] = m_new;
      row_sum[t] = row_sum[t] * alpha + sum;
      row_alpha[t] = alpha;
    }
    for (uint e = t; e < BC * D_MAX; e += WG) {
      uint c = e / D_MAX, dd = e % D_MAX;
      uint key = j0 + c;
      kvs[c * KV_STRIDE + dd] = (key < p.sk && dd < p.d) ? v[kv_base + key * kv_stride + dd] : 0.0;
    }
    barrier();
    float alpha = row_alpha[my_row];
    for (uint i = 0u; i < DIMS_PER_THREAD; ++i) {
      uint dd = lane + i * THREADS_PER_ROW;
      float a = acc[i] * alpha;
      for (uint c = 0u; c < BC; ++c) a += ps[my_row * BC + c] * kvs[c * KV_STRIDE + dd];
      acc[i] = a;
    }
  }
  barrier();
  uint qi = row0 + my_row;
  if (qi >= p.sq) return;
  float l = row_sum[my_row];
  float inv = l > 0.0 ? 1.0 / l : 0.0;
  for (uint i = 0u; i < DIMS_PER_THREAD; ++i) {
    uint dd = lane + i * THREADS_PER_ROW;
    if (dd < p.d) o[(batch * p.sq + qi) * q_stride + head * p.d + dd] = acc[i] * inv;
  }
}

#version 460
// Operand packing of the tensor-core conv3d (conv3d_coopmat_nv.comp), three passes chosen by a define:
//
//  PACK_MAX (with W_F32, W_F16 or W_BF16: the buffer's format): scales[slot] = max(scales[slot], largest
//    finite |v| of a buffer), as fp32 bits (a 32-bit atomic max: non-negative floats order like their bit
//    patterns). The dispatch zero-fills scales first and runs it over x and the frame cache (slot 0) and over
//    the weights (slot 1).
//  PACK_X: x [Cin, T, H, W] fp32 becomes fp16 channels-last with the padding materialised,
//    xp [F, Hp, Wp, Cin] with Hp = H + 2·ph, Wp = W + 2·pw: frame f of xp is padded frame kt_begin + f (the
//    frames before the first temporal tap that can reach data are never read), i.e. input frame
//    f + frame_offset: frames before 0 come from the cache's last frames (zeros before those), frames past T
//    are zeros. Every value is multiplied by ONE power of two for the whole tensor, s = 2^(15 − e) where the
//    largest |x| (scales[0]) lies in [2^(e−1), 2^e): the scaled values stay below 2^15, so fp16 cannot
//    overflow whatever the activations' magnitude. scales[2] = 1 / s exactly.
//  PACK_W (with W_F32, W_F16 or W_BF16): w [Cout, Cin, kT, kH, kW] becomes fp16 wq [Cout, taps, Cin] with
//    taps = (kt_count, kH, kW) running over the temporal taps [kt_begin, kt_begin + kt_count) only, scaled
//    like x by the power of two of scales[1]; scales[3] = its inverse.
// The GEMM then finds 8 consecutive input channels of one tap in one 16-byte chunk of each operand
// (Cin % 8 == 0, which the dispatch guarantees) and multiplies its fp32 result by scales[2]·scales[3].
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require  // PACK_MAX
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
#include "fp16_scaling.glsl"

const uint SLOT_X_INVERSE = 2u, SLOT_W_INVERSE = 3u;  // scales[2], scales[3]: float bits


#if defined(PACK_MAX)
layout(std430, binding = 0) readonly buffer Values { uint w_words[]; };
#if defined(W_F32)
layout(std430, binding = 0) readonly buffer Values4 { vec4 values4[]; };
#endif
layout(std430, binding = 1) buffer Scales { uint scales[]; };
layout(push_constant) uniform Params { uint n, slot; } p;
#include "weights.glsl"
const uint PER_THREAD = 32u;  // a workgroup reduces WG·PER_THREAD consecutive values
shared float subgroup_max[WG];  // one per subgroup (sized for subgroups of one thread)

float finite_or_zero(float a) { return a <= 3.4028235e38 ? a : 0.0; }  // inf and NaN do not set the scale

void main() {
  uint t = gl_LocalInvocationID.x;
  uint base = linear_group_id() * (WG * PER_THREAD);
  float m = 0.0;
#if defined(W_F32)
  // 16-byte loads, consecutive threads on consecutive quads; the last partial quad element by element.
  [[unroll]] for (uint i = 0u; i < PER_THREAD / 4u; ++i) {
    uint q = base / 4u + i * WG + t;
    if (q * 4u + 3u < p.n) {
      vec4 a = abs(values4[q]);
      m = max(m, max(max(finite_or_zero(a.x), finite_or_zero(a.y)), max(finite_or_zero(a.z), finite_or_zero(a.w))));
    } else {
      for (uint j = q * 4u; j < p.n && j < q * 4u + 4u; ++j) m = max(m, finite_or_zero(abs(load_w(j))));
    }
  }
#else
  [[unroll]] for (uint i = 0u; i < PER_THREAD; ++i) {
    uint idx = base + i * WG + t;
    if (idx < p.n) m = max(m, finite_or_zero(abs(load_w(idx))));
  }
#endif
  m = subgroupMax(m);
  if (gl_SubgroupInvocationID == 0u) subgroup_max[gl_SubgroupID] = m;
  barrier();
  if (t != 0u) return;
  for (uint s = 1u; s < gl_NumSubgroups; ++s) m = max(m, subgroup_max[s]);
  // Queue-family scope: device-wide under the Vulkan memory model without vulkanMemoryModelDeviceScope.
  if (m > 0.0)
    atomicMax(scales[p.slot], floatBitsToUint(m), gl_ScopeQueueFamily, gl_StorageSemanticsBuffer, gl_SemanticsRelaxed);
}

#elif defined(PACK_X)
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Cache { float cache[]; };
layout(std430, binding = 2) writeonly buffer Packed { uvec4 packed_chunks[]; };
layout(std430, binding = 3) buffer Scales { uint scales[]; };
layout(push_constant) uniform Params {
  uint cin, t_in, h_in, w_in;
  uint frames, hp, wp, ph, pw;
  int frame_offset;  // input frame of xp's frame 0 (negative: padding or cache)
  uint cache_frames;
} p;

// A workgroup transposes a tile of TILE_W positions along Wp × TILE_C channels of one (frame, row) through
// shared memory: it reads runs of TILE_W consecutive x values per channel (coalesced) and writes runs of
// TILE_C / 8 16-byte chunks per position. TILE_C = 32 divides the VAE's channel counts (96, 192, 384).
// Measured on an H100 (x 96×1×1024×1024): this pass 0.44 ms with 64×32 tiles (1.4 TB/s; PACK_MAX over the
// same x: 0.14 ms); with 128×32 tiles (16 KiB of shared memory per workgroup) the whole packing took 1.07 ms
// instead of 0.59.
const uint TILE_W = 64u, TILE_C = 32u;
const uint TILE_STRIDE = TILE_W + 1u;  // ≡ 1 mod 32: both phases' shared accesses are free of bank conflicts
shared float tile[TILE_C * TILE_STRIDE];

// Input value of channel c at input frame ti (negative: the cache's frames, then zeros), row hi, column wi.
float input_at(uint c, int ti, int hi, int wi) {
  if (hi < 0 || hi >= int(p.h_in) || wi < 0 || wi >= int(p.w_in) || ti >= int(p.t_in)) return 0.0;
  if (ti >= 0) return x[((c * p.t_in + uint(ti)) * p.h_in + uint(hi)) * p.w_in + uint(wi)];
  int tc = ti + int(p.cache_frames);  // cache frames are the last cache_frames before frame 0
  if (tc < 0) return 0.0;
  return cache[((c * p.cache_frames + uint(tc)) * p.h_in + uint(hi)) * p.w_in + uint(wi)];
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint w_tiles = (p.wp + TILE_W - 1u) / TILE_W, c_tiles = (p.cin + TILE_C - 1u) / TILE_C;
  uint g = linear_group_id();
  if (g >= w_tiles * c_tiles * p.hp * p.frames) return;  // the grid is rounded up to whole rows
  uint w0 = (g % w_tiles) * TILE_W;
  g /= w_tiles;
  uint c0 = (g % c_tiles) * TILE_C;
  g /= c_tiles;
  uint row = g % p.hp, f = g / p.hp;
  int k = fp16_scale_exponent(uintBitsToFloat(scales[0]));
  float s = ldexp(1.0, k);
  if (linear_group_id() == 0u && t == 0u) scales[SLOT_X_INVERSE] = floatBitsToUint(ldexp(1.0, -k));

  int ti = int(f) + p.frame_offset, hi = int(row) - int(p.ph);
  [[unroll]] for (uint i = 0u; i < TILE_C * TILE_W / WG; ++i) {
    uint e = t + i * WG;
    uint cl = e / TILE_W, wl = e % TILE_W;
    uint c = c0 + cl, wpos = w0 + wl;
    float v = 0.0;
    if (c < p.cin && wpos < p.wp) v = input_at(c, ti, hi, int(wpos) - int(p.pw));
    tile[cl * TILE_STRIDE + wl] = v * s;
  }
  barrier();
  // Phase 2: thread → (position wl, chunk ch of 8 channels); the chunks of a position are consecutive threads.
  const uint CHUNKS = TILE_C / 8u;
  [[unroll]] for (uint i = 0u; i < TILE_C * TILE_W / 8u / WG; ++i) {
    uint e = t + i * WG;
    uint wl = e / CHUNKS, ch = e % CHUNKS;
    uint c = c0 + ch * 8u, wpos = w0 + wl;
    if (c >= p.cin || wpos >= p.wp) continue;
    uint b = ch * 8u * TILE_STRIDE + wl;
    uvec4 v = uvec4(packHalf2x16(vec2(tile[b], tile[b + TILE_STRIDE])),
                    packHalf2x16(vec2(tile[b + 2u * TILE_STRIDE], tile[b + 3u * TILE_STRIDE])),
                    packHalf2x16(vec2(tile[b + 4u * TILE_STRIDE], tile[b + 5u * TILE_STRIDE])),
                    packHalf2x16(vec2(tile[b + 6u * TILE_STRIDE], tile[b + 7u * TILE_STRIDE])));
    packed_chunks[((f * p.hp + row) * p.wp + wpos) * (p.cin / 8u) + c / 8u] = v;
  }
}

#elif defined(PACK_W)
layout(std430, binding = 0) readonly buffer W { uint w_words[]; };
layout(std430, binding = 1) writeonly buffer Packed { uvec4 packed_chunks[]; };
layout(std430, binding = 2) buffer Scales { uint scales[]; };
layout(push_constant) uniform Params { uint cout, cin, kt, khw, kt_begin, kt_count; } p;
#include "weights.glsl"

void main() {
  uint idx = linear_invocation_id();  // one 16-byte chunk of wq: (co, tap, 8 channels)
  uint cin8 = p.cin / 8u, taps = p.kt_count * p.khw;
  int k = fp16_scale_exponent(uintBitsToFloat(scales[1]));
  float s = ldexp(1.0, k);
  if (idx == 0u) scales[SLOT_W_INVERSE] = floatBitsToUint(ldexp(1.0, -k));
  if (idx >= p.cout * taps * cin8) return;
  uint c = (idx % cin8) * 8u, rest = idx / cin8;
  uint tap = rest % taps, co = rest / taps;
  uint ktl = tap / p.khw, spatial = tap % p.khw;
  // w[co, c + j, kt_begin + ktl, spatial]: consecutive channels lie kt·kH·kW apart.
  uint src = ((co * p.cin + c) * p.kt + p.kt_begin + ktl) * p.khw + spatial, step = p.kt * p.khw;
  float v[8];
  [[unroll]] for (uint j = 0u; j < 8u; ++j) v[j] = load_w(src + j * step) * s;
  packed_chunks[idx] = uvec4(packHalf2x16(vec2(v[0], v[1])), packHalf2x16(vec2(v[2], v[3])),
                             packHalf2x16(vec2(v[4], v[5])), packHalf2x16(vec2(v[6], v[7])));
}

#else
#error "define PACK_MAX, PACK_X or PACK_W"
#endif

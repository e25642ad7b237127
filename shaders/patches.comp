#version 460
// 2×2 patchify of latents [C, H, W] <-> packed [(H/2)·(W/2), 4C] with feature order (c, dy, dx) (spec §2.4):
// packed[y·wp + x, c·4 + dy·2 + dx] = lat[c, 2y+dy, 2x+dx]. PACK selects the direction; one thread per
// output element, each a gather.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; uint c; uint h; uint w; } p;
const uint kPatch = 2u;
void main() {
  uint i = linear_invocation_id();
  if (i >= p.n) return;
  uint wp = p.w / kPatch;
#ifdef PACK
  uint features = p.c * kPatch * kPatch;
  uint token = i / features, f = i % features;
  uint ch = f / 4u, dy = (f / 2u) % 2u, dx = f % 2u;
  uint py = token / wp, px = token % wp;
  y[i] = x[(ch * p.h + kPatch * py + dy) * p.w + kPatch * px + dx];
#else
  uint ch = i / (p.h * p.w), hh = (i / p.w) % p.h, ww = i % p.w;
  uint token = (hh / kPatch) * wp + ww / kPatch;
  y[i] = x[token * p.c * kPatch * kPatch + ch * 4u + (hh % kPatch) * 2u + ww % kPatch];
#endif
}

#version 460
// VAE norm over the channel axis of x [C, P]: y[c, p] = x[c, p] / max(‖x[:, p]‖₂, 1e-12) · √C · gamma[c].
// One thread per position p (consecutive threads read consecutive positions of each channel).
#define WG 256
#include "common.glsl"
#include "half_words.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Gamma { uint gamma_words[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint c; uint positions; uint gamma_dtype; } p;
const float kNormFloor = 1e-12;  // spec §4.2
void main() {
  uint pos = linear_invocation_id();
  if (pos >= p.positions) return;
  float sum_sq = 0.0;
  for (uint ch = 0u; ch < p.c; ++ch) {
    float v = x[ch * p.positions + pos];
    sum_sq += v * v;
  }
  float inv_norm = 1.0 / max(sqrt(sum_sq), kNormFloor);
  float sqrt_c = sqrt(float(p.c));
  for (uint ch = 0u; ch < p.c; ++ch) {
    uint i = ch * p.positions + pos;
    y[i] = x[i] * inv_norm * (sqrt_c * LOAD_ANY_FLOAT(gamma_words, ch, p.gamma_dtype));
  }
}

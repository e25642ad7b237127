#version 460
// x [3, H, W] in [-1, 1] -> U8 [H, W, 3]: round_half_even(clamp(clamp(x,-1,1)·0.5 + 0.5, 0, 1)·255) (NaN
// clamps to the low end). U8 output is written as packed words: one thread per 4 output bytes.
#define WG 256
#include "common.glsl"
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y_words[]; };
layout(push_constant) uniform Params { uint n_out; uint pixels; } p;
const uint kChannels = 3u;
const float kU8Max = 255.0;
// clamp() leaves NaN undefined; this maps it to lo like the reference.
float clamp_nan_to_low(float v, float lo, float hi) { return v >= lo ? min(v, hi) : lo; }
void main() {
  uint word = linear_invocation_id();
  if (word * 4u >= p.n_out) return;
  uint result = 0u;
  for (uint j = 0u; j < 4u; ++j) {
    uint e = word * 4u + j;
    if (e >= p.n_out) break;
    uint pixel = e / kChannels, ch = e % kChannels;
    float v = clamp_nan_to_low(x[ch * p.pixels + pixel], -1.0, 1.0) * 0.5 + 0.5;
    v = clamp_nan_to_low(v, 0.0, 1.0) * kU8Max;
    result |= uint(roundEven(v)) << (8u * j);
  }
  y_words[word] = result;
}

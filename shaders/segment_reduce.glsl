// Reductions over segments of a workgroup: the WG threads (WG defined by the includer) form groups of `seg`
// consecutive threads (a power of two, uniform across the workgroup); segment_sum / segment_max return the
// sum / maximum of v over the caller's segment to every thread of it. Every thread must call them (they
// contain barriers).
#ifndef QI_SEGMENT_REDUCE_GLSL
#define QI_SEGMENT_REDUCE_GLSL

shared float segment_sums[WG];

float segment_sum(float v, uint seg) {
  uint t = gl_LocalInvocationID.x;
  uint base = t & ~(seg - 1u);
  segment_sums[t] = v;
  barrier();
  for (uint s = seg >> 1; s > 0u; s >>= 1) {
    if (t - base < s) segment_sums[t] += segment_sums[t + s];
    barrier();
  }
  float total = segment_sums[base];
  barrier();
  return total;
}

float segment_max(float v, uint seg) {
  uint t = gl_LocalInvocationID.x;
  uint base = t & ~(seg - 1u);
  segment_sums[t] = v;
  barrier();
  for (uint s = seg >> 1; s > 0u; s >>= 1) {
    if (t - base < s) segment_sums[t] = max(segment_sums[t], segment_sums[t + s]);
    barrier();
  }
  float m = segment_sums[base];
  barrier();
  return m;
}

#endif

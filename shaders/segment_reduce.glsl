// Reductions over segments of a workgroup: the WG threads (WG defined by the includer) form groups of `seg`
// consecutive threads (a power of two, uniform across the workgroup); segment_sum / segment_max return the
// sum / maximum of v over the caller's segment to every thread of it. Every thread must call them (they
// contain barriers).
//
// Two implementations, one per shader variant (vk_op_checks.h, row_reduce_shader):
//  SEGMENT_SUBGROUP defined: subgroup operations. A segment within one subgroup reduces with a butterfly of
//    shuffles (no barrier); a larger one (a whole number of subgroups) reduces each subgroup with one
//    subgroup operation and adds the subgroups' partials through shared memory (two barriers). Both need the
//    1-D workgroup laid out in subgroups of consecutive invocations (t = subgroup · size + lane), which the
//    parity tests check on every device they run on. The butterfly gives every lane of a segment the same
//    bits (each step adds a pair in both lanes, and addition is commutative).
//  otherwise: a tree through shared memory with a barrier per halving (every Vulkan device).
#ifndef QI_SEGMENT_REDUCE_GLSL
#define QI_SEGMENT_REDUCE_GLSL

#if defined(SEGMENT_SUBGROUP)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require

shared float segment_partials[WG];  // one per subgroup (WG bounds their count for any subgroup size)

// The total of `part` (one subgroup's reduction, in every lane) over the subgroups of this segment.
float segment_partials_sum(float part, uint seg) {
  uint per_segment = seg / gl_SubgroupSize, first = gl_SubgroupID & ~(per_segment - 1u);
  if (subgroupElect()) segment_partials[gl_SubgroupID] = part;
  barrier();
  float total = 0.0;
  for (uint i = 0u; i < per_segment; ++i) total += segment_partials[first + i];
  barrier();
  return total;
}

float segment_partials_max(float part, uint seg) {
  uint per_segment = seg / gl_SubgroupSize, first = gl_SubgroupID & ~(per_segment - 1u);
  if (subgroupElect()) segment_partials[gl_SubgroupID] = part;
  barrier();
  float m = part;
  for (uint i = 0u; i < per_segment; ++i) m = max(m, segment_partials[first + i]);
  barrier();
  return m;
}

float segment_sum(float v, uint seg) {
  if (seg <= gl_SubgroupSize) {
    for (uint s = seg >> 1; s > 0u; s >>= 1) v += subgroupShuffleXor(v, s);
    return v;
  }
  return segment_partials_sum(subgroupAdd(v), seg);
}

float segment_max(float v, uint seg) {
  if (seg <= gl_SubgroupSize) {
    for (uint s = seg >> 1; s > 0u; s >>= 1) v = max(v, subgroupShuffleXor(v, s));
    return v;
  }
  return segment_partials_max(subgroupMax(v), seg);
}

#else

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

#endif  // SEGMENT_SUBGROUP

#endif

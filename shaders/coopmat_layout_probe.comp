#version 460
// Where a 16×16 fp32 GL_NV_cooperative_matrix accumulator keeps its components: one subgroup sets component
// e of lane l to l·COMPONENT_SLOTS + e and stores the matrix row-major, so element (r, c) of the output names
// the lane and component that held it; word 256 receives the component count per lane. Shaders that do
// element-wise work on accumulators in registers (attention_coopmat_nv_register_softmax.comp) run only where
// the host found the layout they assume (vk_coopmat_layout.cpp).
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) writeonly buffer Out { float words[]; };  // [16·16 + 1]

const uint MMA = 16u;
const uint COMPONENT_SLOTS = 64u;  // mirrors kProbeComponentSlots in vk_coopmat_layout.h

void main() {
  uint lane = gl_SubgroupInvocationID;
  fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA> m = fcoopmatNV<32, gl_ScopeSubgroup, MMA, MMA>(0.0);
  for (int e = 0; e < m.length(); ++e) m[e] = float(lane * COMPONENT_SLOTS + uint(e));
  coopMatStoreNV(m, words, 0u, MMA, false);
  if (lane == 0u) words[MMA * MMA] = float(m.length());
}

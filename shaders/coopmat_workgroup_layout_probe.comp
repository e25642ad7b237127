#version 460
// Where a ROWS×COLS fp32 workgroup-scope cooperative-matrix accumulator (VK_NV_cooperative_matrix2; the SPIR-V
// rewritten to SPV_KHR_cooperative_matrix at build time) keeps its elements: invocation t sets its element e
// to t·ELEMENT_SLOTS + e and the workgroup stores the matrix row-major, so element (r, c) of the output names
// the invocation and element that held it; word ROWS·COLS receives the element count per invocation. The
// workgroup-scope attention (attention_coopmat_workgroup.comp) works on its accumulators' elements and runs
// only where the host found the layout it assumes (vk_coopmat_workgroup_layout.cpp).
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#if !defined(ROWS) || !defined(COLS) || !defined(WG_THREADS)
#error "define ROWS, COLS and WG_THREADS"
#endif
layout(local_size_x = WG_THREADS) in;
layout(std430, binding = 0) writeonly buffer Out { float words[]; };  // [ROWS·COLS + 1]

const uint ELEMENT_SLOTS = 64u;  // mirrors kWorkgroupProbeElementSlots in vk_coopmat_workgroup_layout.h

void main() {
  uint t = gl_LocalInvocationID.x;
  fcoopmatNV<32, gl_ScopeWorkgroup, ROWS, COLS> m = fcoopmatNV<32, gl_ScopeWorkgroup, ROWS, COLS>(0.0);
  for (int e = 0; e < m.length(); ++e) m[e] = float(t * ELEMENT_SLOTS + uint(e));
  coopMatStoreNV(m, words, 0u, COLS, false);
  if (t == 0u) words[ROWS * COLS] = float(m.length());
}

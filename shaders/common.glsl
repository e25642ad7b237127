// Helpers every shader shares: the linear workgroup index of a 2-D grid (vk::linear_grid splits large
// dispatches into x <= 65535 columns and y rows). The includer defines WG, its local_size_x: gl_WorkGroupSize
// is avoided because SPIR-V 1.6 turns it into a LocalSizeId constant that some drivers (Mesa lavapipe 22.3)
// evaluate as 1.
#ifndef QI_COMMON_GLSL
#define QI_COMMON_GLSL

uint linear_group_id() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
uint linear_invocation_id() { return linear_group_id() * WG + gl_LocalInvocationID.x; }

#endif

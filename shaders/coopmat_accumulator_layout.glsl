// Where the components of a 16×16 fp32 GL_NV_cooperative_matrix accumulator lie, for the kernels that work on
// them in registers: component e of lane l holds row l/4 + 8·bit(e, ROW_HALF_BIT), column
// 8·bit(e, COLUMN_HALF_BIT) + 2·(l mod 4) + bit(e, 0). So each lane holds two rows (its "slots": e's row-half
// bit), and a row lives in the four lanes of one quad. The extension does not promise this: the host probes
// the device (coopmat_layout_probe.comp, vk_coopmat_layout.cpp), runs these kernels only where the layout is
// of this form, and sets the two bits as specialization constants 0 and 1 (AccumulatorLayout in vk_context.h).
#ifndef QI_COOPMAT_ACCUMULATOR_LAYOUT_GLSL
#define QI_COOPMAT_ACCUMULATOR_LAYOUT_GLSL

layout(constant_id = 0) const uint ROW_HALF_BIT = 1u;
layout(constant_id = 1) const uint COLUMN_HALF_BIT = 2u;
const uint ACC_COMPONENTS = 8u;  // per lane
const uint ACC_QUAD = 4u;        // lanes sharing a row
const uint ACC_HALF = 8u;        // rows (columns) per half of the matrix

uint acc_slot(uint e) { return (e >> ROW_HALF_BIT) & 1u; }
uint acc_row(uint e, uint lane) { return lane / ACC_QUAD + ACC_HALF * acc_slot(e); }
uint acc_column(uint e, uint lane) { return ACC_HALF * ((e >> COLUMN_HALF_BIT) & 1u) + 2u * (lane % ACC_QUAD) + (e & 1u); }

#endif

// The matmul epilogue shared by every matmul variant: y = residual + gate ⊙ act(acc + bias) with each part
// optional (flags in the push block). The includer declares bias_words (uint[], any float format),
// residual[], gate[] and y[] and a push block p with n, rows_per_item, act, flags, bias_dtype.
#ifndef QI_MATMUL_EPILOGUE_GLSL
#define QI_MATMUL_EPILOGUE_GLSL
#include "activations.glsl"
#include "half_words.glsl"

// Mirrors the flag bits set in vk_matmul.cpp.
const uint FLAG_BIAS = 1u;
const uint FLAG_RESIDUAL = 2u;
const uint FLAG_GATE = 4u;
const uint FLAG_GATE_PER_ITEM = 8u;  // gate is [B, N] (else [N])

void store_output(uint row, uint col, float acc) {
  float v = acc;
  if ((p.flags & FLAG_BIAS) != 0u) v += LOAD_ANY_FLOAT(bias_words, col, p.bias_dtype);
  v = apply_activation(p.act, v);
  uint i = row * p.n + col;
  if ((p.flags & FLAG_RESIDUAL) != 0u) {
    if ((p.flags & FLAG_GATE) != 0u) {
      uint g = (p.flags & FLAG_GATE_PER_ITEM) != 0u ? (row / p.rows_per_item) * p.n + col : col;
      v *= gate[g];
    }
    v += residual[i];
  }
  y[i] = v;
}

#endif

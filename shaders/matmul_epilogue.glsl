// The matmul epilogue shared by every matmul variant: y = residual + gate ⊙ act(acc + bias) with each part
// optional (flags in the push block). The includer declares bias_words (uint[], any float format),
// residual[], gate[] and y[] and a push block p with n, rows_per_item, act, flags, bias_dtype.
#ifndef QI_MATMUL_EPILOGUE_GLSL
#define QI_MATMUL_EPILOGUE_GLSL
#include "activations.glsl"
#include "half_words.glsl"

// The epilogue's choices: from the push block by default; an includer may define them first as
// specialization constants, so the driver compiles only the parts in use (matmul_coopmat_nv.comp).
#ifndef EPILOGUE_FLAGS
#define EPILOGUE_FLAGS p.flags
#define EPILOGUE_ACT p.act
#define EPILOGUE_BIAS_DTYPE p.bias_dtype
#endif

// Mirrors the flag bits set in vk_matmul.cpp.
const uint FLAG_BIAS = 1u;
const uint FLAG_RESIDUAL = 2u;
const uint FLAG_GATE = 4u;
const uint FLAG_GATE_PER_ITEM = 8u;  // gate is [B, N] (else [N])

// y[row, col] for the accumulator acc.
float epilogue_value(uint row, uint col, float acc) {
  float v = acc;
  if ((EPILOGUE_FLAGS & FLAG_BIAS) != 0u) v += LOAD_ANY_FLOAT(bias_words, col, EPILOGUE_BIAS_DTYPE);
  v = apply_activation(EPILOGUE_ACT, v);
  if ((EPILOGUE_FLAGS & FLAG_RESIDUAL) != 0u) {
    if ((EPILOGUE_FLAGS & FLAG_GATE) != 0u) {
      uint g = (EPILOGUE_FLAGS & FLAG_GATE_PER_ITEM) != 0u ? (row / p.rows_per_item) * p.n + col : col;
      v *= gate[g];
    }
    v += residual[row * p.n + col];
  }
  return v;
}

void store_output(uint row, uint col, float acc) { y[row * p.n + col] = epilogue_value(row, col, acc); }

#endif

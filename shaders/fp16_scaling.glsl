// Power-of-two scales that let fp32 activations convert to fp16 without overflow (Qwen-Image's reach 2e7):
// the packing passes of the fp16 tensor-core kernels multiply a row, head or tensor by 2^k, and the kernels
// multiply their fp32 results by 2^−k; both are exact.
#ifndef QI_FP16_SCALING_GLSL
#define QI_FP16_SCALING_GLSL

const int FP16_SCALED_EXP = 15;  // scaled magnitudes < 2^15: half of fp16's 65504 as headroom for rounding
const int NORMAL_EXP_LIMIT = 126;  // 2^±126 are normal floats

// The exponent k with 2^k · m ∈ [2^(FP16_SCALED_EXP−1), 2^FP16_SCALED_EXP) for a largest magnitude m: 0 for
// zero or non-finite m, and clamped so that 2^k and 2^−k stay normal floats (an unclamped k for m below
// 2^−111 would make 2^k infinite).
int fp16_scale_exponent(float m) {
  if (!(m > 0.0) || isinf(m)) return 0;
  int e;
  frexp(m, e);  // m ∈ [2^(e−1), 2^e)
  return clamp(FP16_SCALED_EXP - e, -NORMAL_EXP_LIMIT, NORMAL_EXP_LIMIT);
}

#endif

// Activation functions shared by the unary op and the matmul epilogue (spec §3.7). Written with exp only:
// some drivers implement tanh with a low-precision approximation.
#ifndef QI_ACTIVATIONS_GLSL
#define QI_ACTIVATIONS_GLSL

// Mirror qi::Activation / qi::UnaryOp (the C++ side passes these codes).
const uint ACT_NONE = 0u;
const uint ACT_GELU_TANH = 1u;
const uint ACT_SILU = 2u;

float silu(float x) { return x / (1.0 + exp(-x)); }

// tanh(z) = 1 − 2/(e^{2|z|} + 1) with z's sign: saturates to ±1 without inf/inf (e^{2|z|} = inf gives 1).
float stable_tanh(float z) {
  float t = 1.0 - 2.0 / (exp(2.0 * abs(z)) + 1.0);
  return z < 0.0 ? -t : t;
}

float gelu_tanh(float u) {
  const float kSqrtTwoOverPi = 0.7978845608028654;
  const float kCubicCoefficient = 0.044715;
  return 0.5 * u * (1.0 + stable_tanh(kSqrtTwoOverPi * (u + kCubicCoefficient * u * u * u)));
}

float apply_activation(uint act, float x) {
  if (act == ACT_GELU_TANH) return gelu_tanh(x);
  if (act == ACT_SILU) return silu(x);
  return x;
}

#endif

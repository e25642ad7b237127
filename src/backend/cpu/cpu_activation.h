// The activation functions shared by the matmul epilogue and the unary op.
#pragma once
#include <cmath>

#include "ops/backend.h"

namespace qi::cpu {

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// GELU, tanh approximation (spec §3.7): 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))).
inline float gelu_tanh(float u) {
  constexpr float kSqrtTwoOverPi = 0.7978845608028654f;
  constexpr float kCubicCoefficient = 0.044715f;
  return 0.5f * u * (1.0f + std::tanh(kSqrtTwoOverPi * (u + kCubicCoefficient * u * u * u)));
}

inline float apply_activation(Activation act, float x) {
  switch (act) {
    case Activation::GeluTanh: return gelu_tanh(x);
    case Activation::Silu: return silu(x);
    case Activation::None: break;
  }
  return x;
}

}  // namespace qi::cpu

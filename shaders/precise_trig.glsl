// sin and cos of large fp32 arguments (timestep angles reach 1000 rad) to about 1e-7 absolute: Cody-Waite
// reduction by π/2 with a four-part constant whose first three parts have 12 significant bits, so n·part is
// exact for n < 2^12 (|a| < 6400) without relying on a fused multiply-add, then Cephes minimax polynomials
// on [−π/4, π/4]. Built-in sin/cos may lose accuracy far from zero.
#ifndef QI_PRECISE_TRIG_GLSL
#define QI_PRECISE_TRIG_GLSL

// Returns (sin a, cos a).
vec2 precise_sincos(float a) {
  const float kTwoOverPi = 0.636619772367581343;
  // π/2 = kPiOver2[0] + kPiOver2[1] + kPiOver2[2] + kPiOver2[3] (to 2e-21).
  const float kPiOver2A = 1.57080078125;             // 0x1.922p+0
  const float kPiOver2B = -4.453584551811218e-06;     // -0x1.2aep-18
  const float kPiOver2C = -8.706138032721356e-10;     // -0x1.deap-31
  const float kPiOver2D = 6.223371969669989e-14;      // 0x1.184698p-44
  float n = roundEven(a * kTwoOverPi);
  precise float r = a - n * kPiOver2A;
  r = r - n * kPiOver2B;
  r = r - n * kPiOver2C;
  r = r - n * kPiOver2D;
  float z = r * r;
  float s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  float c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  int q = int(n) & 3;
  if (q == 0) return vec2(s, c);
  if (q == 1) return vec2(c, -s);
  if (q == 2) return vec2(-s, -c);
  return vec2(-c, s);
}

#endif

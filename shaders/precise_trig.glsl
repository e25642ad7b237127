// sin and cos of large fp32 arguments (timestep angles reach 1000 rad) to about 1e-7 absolute: Cody-Waite
// reduction by π/2 with a three-part constant (exact through fma), then Cephes minimax polynomials on
// [−π/4, π/4]. Built-in sin/cos may lose accuracy far from zero.
#ifndef QI_PRECISE_TRIG_GLSL
#define QI_PRECISE_TRIG_GLSL

// Returns (sin a, cos a).
vec2 precise_sincos(float a) {
  const float kTwoOverPi = 0.636619772367581343;
  const float kPiOver2Hi = 1.57079601287841796875;      // π/2 split into three parts
  const float kPiOver2Mid = 3.13916473600640881340e-07;
  const float kPiOver2Lo = 5.39030252995776476554e-15;
  float n = roundEven(a * kTwoOverPi);
  float r = fma(-n, kPiOver2Hi, a);
  r = fma(-n, kPiOver2Mid, r);
  r = fma(-n, kPiOver2Lo, r);
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

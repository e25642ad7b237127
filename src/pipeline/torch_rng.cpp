#include "pipeline/torch_rng.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.h"

// Every float operation below must round exactly as torch's compiled kernel does. The products that GCC
// fused into multiply-adds there are written as std::fma; every other product and sum must stay unfused,
// whatever the target, so contraction is switched off for this file (-ffp-contract=off, CMakeLists.txt).

namespace qi {
namespace {

// torch fills and transforms float32 tensors of at least this many elements in Box-Muller blocks of this
// size (8 cosine and 8 sine outputs); smaller tensors take the scalar path.
constexpr int64_t kBlock = 16;
constexpr int kHalfBlock = 8;

// A uniform float uses the low 24 bits (float's significand width) of a draw: value = bits · 2^-24.
constexpr uint32_t kFloatUniformMask = (1u << std::numeric_limits<float>::digits) - 1;
constexpr float kFloatUniformScale = 1.0f / float(1u << std::numeric_limits<float>::digits);
// A uniform double uses the low 53 bits of a 64-bit draw.
constexpr uint64_t kDoubleUniformMask = (uint64_t(1) << std::numeric_limits<double>::digits) - 1;
constexpr double kDoubleUniformScale = 1.0 / double(uint64_t(1) << std::numeric_limits<double>::digits);

// 2π as torch's AVX2 kernel holds it: the double 2π rounded to float.
constexpr float kTwoPiFloat = float(2.0 * std::numbers::pi);

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

constexpr uint32_t kSignBit = 0x80000000u;
constexpr uint32_t kExponentMask = 0x7f800000u;
constexpr int kMantissaBits = 23;
constexpr int kExponentBias = 127;

// Natural logarithm of a positive float with torch's AVX2 algorithm (Cephes logf): split x = m·2^e with
// m in [√½, √2), then ln x = (m-1) + P(m-1)·(m-1)³ - (m-1)²/2 + e·ln 2, ln 2 split into a coarse and a fine
// part. Box-Muller only asks for x in [2^-24, 1], so the kernel's NaN handling for x <= 0 and its clamp of
// subnormals to the smallest normal are not needed.
float cephes_log(float x) {
  constexpr float kSqrtHalf = 0.707106781186547524f;
  constexpr float kPoly[] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                             -1.2420140846E-1f, 1.4249322787E-1f,  -1.6668057665E-1f,
                             2.0000714765E-1f,  -2.4999993993E-1f, 3.3333331174E-1f};
  constexpr float kLn2Fine = -2.12194440e-4f;
  constexpr float kLn2Coarse = 0.693359375f;

  // e + 1 and the mantissa rescaled into [0.5, 1).
  const int exponent = int(bits_of(x) >> kMantissaBits) - kExponentBias;
  float m = float_of((bits_of(x) & ~kExponentMask) | bits_of(0.5f));
  float e = float(exponent) + 1.0f;
  if (m < kSqrtHalf) {  // m in [0.5, √½): use 2m - 1 and one less in the exponent
    e = e - 1.0f;
    m = (m - 1.0f) + m;
  } else {
    m = m - 1.0f;
  }
  const float m2 = m * m;
  float poly = kPoly[0];
  for (size_t i = 1; i < std::size(kPoly); ++i) poly = std::fma(poly, m, kPoly[i]);
  float y = std::fma(poly * m, m2, e * kLn2Fine);
  y = std::fma(-m2, 0.5f, y);
  return std::fma(e, kLn2Coarse, m + y);
}

// sin θ and cos θ of a float with torch's AVX2 algorithm (Cephes sinf/cosf): reduce |θ| by the multiple
// of π/4 rounded to even octant j, in three exact-ish steps, then evaluate the sine or cosine polynomial on
// the reduced argument as the octant dictates, with the octant's signs.
void cephes_sincos(float theta, float& sin_out, float& cos_out) {
  constexpr float kFourOverPi = 1.27323954473516f;
  constexpr float kPiOver4Parts[] = {-0.78515625f, -2.4187564849853515625e-4f, -3.77489497744594108e-8f};
  constexpr float kSinPoly[] = {-1.9515295891E-4f, 8.3321608736E-3f, -1.6666654611E-1f};
  constexpr float kCosPoly[] = {2.443315711809948E-005f, -1.388731625493765E-003f, 4.166664568298827E-002f};

  uint32_t sin_sign = bits_of(theta) & kSignBit;
  float x = std::fabs(theta);
  // Octant index rounded up to even; the kernel truncates toward zero (x >= 0 here, so a plain cast).
  const int32_t octant = (int32_t(x * kFourOverPi) + 1) & ~1;
  const float octant_f = float(octant);
  for (float part : kPiOver4Parts) x = std::fma(octant_f, part, x);

  sin_sign ^= uint32_t(octant & 4) << 29;                 // octants 4..7 flip the sine
  const uint32_t cos_sign = uint32_t(~(octant - 2) & 4) << 29;  // octants 2..5 flip the cosine
  const bool sine_uses_sin_poly = (octant & 2) == 0;

  const float x2 = x * x;
  float cos_poly = kCosPoly[0];
  cos_poly = std::fma(cos_poly, x2, kCosPoly[1]);
  cos_poly = std::fma(cos_poly, x2, kCosPoly[2]);
  cos_poly = std::fma(cos_poly * x2, x2, -(x2 * 0.5f));
  cos_poly = cos_poly + 1.0f;

  float sin_poly = kSinPoly[0];
  sin_poly = std::fma(sin_poly, x2, kSinPoly[1]);
  sin_poly = std::fma(sin_poly, x2, kSinPoly[2]);
  sin_poly = std::fma(sin_poly * x2, x, x);

  // The kernel selects with bit masks and adds the unselected zero back in; the sums below keep those
  // additions because x + 0 turns -0 into +0.
  const float sin_part = sine_uses_sin_poly ? sin_poly : 0.0f;
  const float cos_part = sine_uses_sin_poly ? 0.0f : cos_poly;
  const float sine = cos_part + sin_part;
  const float cosine = (cos_poly - cos_part) + (sin_poly - sin_part);
  sin_out = float_of(bits_of(sine) ^ sin_sign);
  cos_out = float_of(bits_of(cosine) ^ cos_sign);
}

// One Box-Muller block: 16 uniforms in, 16 standard normal samples out.
void box_muller_block(float* block) {
  for (int j = 0; j < kHalfBlock; ++j) {
    const float u1 = 1.0f - block[j];  // [0, 1) -> (0, 1] for the logarithm
    const float u2 = block[j + kHalfBlock];
    const float radius = std::sqrt(-2.0f * cephes_log(u1));
    float sine, cosine;
    cephes_sincos(kTwoPiFloat * u2, sine, cosine);
    // torch finishes with value·std + mean (std 1, mean 0) in one multiply-add, which maps -0 to +0.
    block[j] = std::fma(radius * cosine, 1.0f, 0.0f);
    block[j + kHalfBlock] = std::fma(radius * sine, 1.0f, 0.0f);
  }
}

}  // namespace

TorchCpuGenerator::TorchCpuGenerator(uint64_t seed) : engine_(uint32_t(seed)) {}

uint32_t TorchCpuGenerator::next_u32() { return uint32_t(engine_()); }

uint64_t TorchCpuGenerator::next_u64() {
  const uint64_t high = next_u32();
  const uint64_t low = next_u32();
  return (high << 32) | low;
}

float TorchCpuGenerator::uniform_float() { return float(next_u32() & kFloatUniformMask) * kFloatUniformScale; }

double TorchCpuGenerator::uniform_double() {
  return double(next_u64() & kDoubleUniformMask) * kDoubleUniformScale;
}

void TorchCpuGenerator::fill_normal_blocks(std::vector<float>& values) {
  const int64_t n = int64_t(values.size());
  for (float& v : values) v = uniform_float();
  for (int64_t i = 0; i + kBlock <= n; i += kBlock) box_muller_block(values.data() + i);
  if (n % kBlock != 0) {
    float* tail = values.data() + (n - kBlock);
    for (int64_t i = 0; i < kBlock; ++i) tail[i] = uniform_float();
    box_muller_block(tail);
  }
}

float TorchCpuGenerator::scalar_normal() {
  double sample;
  if (cached_normal_) {
    sample = *cached_normal_;
    cached_normal_.reset();
  } else {
    const double u1 = uniform_double();
    const double u2 = uniform_double();
    const double radius = std::sqrt(-2.0 * std::log1p(-u2));
    const double theta = 2.0 * std::numbers::pi * u1;
    cached_normal_ = radius * std::sin(theta);
    sample = radius * std::cos(theta);
  }
  // value·std + mean with std 1, mean 0 (maps -0 to +0), then narrowed to float.
  return float(sample * 1.0 + 0.0);
}

std::vector<float> TorchCpuGenerator::randn(int64_t numel) {
  if (numel < 0) throw InputError("randn: negative element count " + std::to_string(numel));
  std::vector<float> values(static_cast<size_t>(numel));
  if (numel >= kBlock) {
    fill_normal_blocks(values);
  } else {
    for (float& v : values) v = scalar_normal();
  }
  return values;
}

std::vector<float> torch_randn(const Shape& shape, uint64_t seed) {
  for (int64_t d : shape)
    if (d < 0) throw InputError("randn: negative dimension in shape " + shape_str(shape));
  TorchCpuGenerator generator(seed);
  return generator.randn(shape_numel(shape));
}

}  // namespace qi

// A bit-exact reimplementation of PyTorch's CPU random generator and of torch.randn in float32, so that a
// seed means the same initial noise here as in diffusers or ComfyUI:
//
//   torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)
//
// equals torch_randn(shape, seed) value for value (row-major order).
//
// What --seed means. The seed is the integer handed to Generator.manual_seed. torch's CPU generator is a
// 32-bit Mersenne Twister (mt19937) whose state is initialised from the low 32 bits of the seed only, so
// seeds that agree modulo 2^32 give identical noise, in torch as here.
//
// How torch turns the engine's output into normal samples (aten normal_kernel on CPU):
// * A uniform float is the low 24 bits of one 32-bit draw times 2^-24, i.e. in [0, 1).
// * A float32 tensor with 16 or more elements is first filled with one uniform per element, then
//   transformed in place in blocks of 16 by Box-Muller: for j < 8, u1 = 1 - x[j], u2 = x[j+8],
//   r = sqrt(-2 ln u1), θ = 2π·u2, x[j] = r·cos θ, x[j+8] = r·sin θ. When the size is not a multiple of
//   16, 16 fresh uniforms are drawn into the last 16 slots and that block is transformed again.
//   On x86-64 torch evaluates ln, sin and cos with its AVX2 Cephes-style polynomials (avx_mathfun.h,
//   compiled with fused multiply-adds); this file evaluates the same polynomials with the same roundings.
//   (torch on ARM uses the C library's logf/cosf/sinf instead and its noise differs in the last bit of
//   about one value in five; diffusers/ComfyUI users on x86-64 get the values computed here.)
// * Tensors with fewer than 16 elements use the scalar double-precision Box-Muller of
//   at::normal_distribution<double>: two 53-bit uniforms from 64-bit draws (high word first),
//   r = sqrt(-2 log1p(-u2)), θ = 2π·u1, returns r·cos θ rounded to float and keeps r·sin θ for the next
//   scalar sample drawn from the same generator.
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace qi {

// torch.Generator("cpu") after manual_seed(seed).
class TorchCpuGenerator {
 public:
  explicit TorchCpuGenerator(uint64_t seed);

  // One 32-bit engine output (CPUGeneratorImpl::random).
  uint32_t next_u32();
  // Two engine outputs, the first as the high word (CPUGeneratorImpl::random64).
  uint64_t next_u64();

  // The next `numel` values of torch.randn(..., dtype=torch.float32) for a contiguous tensor of that many
  // elements. Throws InputError for a negative count.
  std::vector<float> randn(int64_t numel);

 private:
  float uniform_float();
  double uniform_double();
  void fill_normal_blocks(std::vector<float>& values);
  float scalar_normal();

  std::mt19937 engine_;
  // The second Box-Muller value of the scalar path, kept for the next scalar sample (as torch caches it).
  std::optional<double> cached_normal_;
};

// torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32), row-major.
// Throws InputError for a negative dimension.
std::vector<float> torch_randn(const Shape& shape, uint64_t seed);

}  // namespace qi

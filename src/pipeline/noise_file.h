// --noise FILE: initial noise from a safetensors file holding exactly one F32 tensor of shape
// [z_dim, h, w] or [1, z_dim, 1, h, w] (diffusers' unpacked latents), so a run can be matched to diffusers.
#pragma once
#include <filesystem>
#include <vector>

namespace qi {

// Returns z_dim·h·w values; InputError naming the file, tensor and expected vs found shape otherwise.
std::vector<float> load_noise_file(const std::filesystem::path& file, int z_dim, int64_t h, int64_t w);

}  // namespace qi

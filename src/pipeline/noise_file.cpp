#include "pipeline/noise_file.h"

#include <cstring>

#include "core/error.h"
#include "io/safetensors.h"

namespace qi {

std::vector<float> load_noise_file(const std::filesystem::path& file, int z_dim, int64_t h, int64_t w) {
  auto f = SafetensorsFile::open(file);
  if (f->tensors().size() != 1)
    throw InputError(file.string() + ": a noise file must hold exactly one tensor, found " +
                     std::to_string(f->tensors().size()));
  const TensorView& v = f->tensors().begin()->second;
  const Shape flat = {z_dim, h, w}, full = {1, z_dim, 1, h, w};
  if (v.shape != flat && v.shape != full)
    throw InputError(file.string() + ": tensor '" + v.name + "' has shape " + shape_str(v.shape) + "; expected " +
                     shape_str(flat) + " or " + shape_str(full) + " for this image size");
  if (v.dtype != DType::F32)
    throw InputError(file.string() + ": tensor '" + v.name + "' is " + std::string(dtype_name(v.dtype)) +
                     "; the noise must be F32");
  std::vector<float> out(size_t(v.numel()));
  std::memcpy(out.data(), v.data, v.bytes);
  return out;
}

}  // namespace qi

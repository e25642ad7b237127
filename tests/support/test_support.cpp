#include "support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "io/safetensors.h"

namespace qi::test {

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("QI_SHARED_DIR"); env && *env) return env;
  return QI_SHARED_DIR_DEFAULT;
}

std::filesystem::path tiny_a_dir() { return shared_dir() / "fixtures" / "tiny-a"; }

bool have_shared() { return std::filesystem::exists(tiny_a_dir() / "model" / "model_index.json"); }

ReferenceTensor reference_tensor(const std::string& name) {
  static const std::shared_ptr<SafetensorsFile> file =
      SafetensorsFile::open(tiny_a_dir() / "reference" / "reference.safetensors");
  const TensorView& v = file->get(name);
  ReferenceTensor r{v.shape, std::vector<float>(size_t(v.numel()))};
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (v.dtype == DType::F32) {
      std::memcpy(&r.values[i], v.data + 4 * i, 4);
    } else if (v.dtype == DType::I32) {
      int32_t x;
      std::memcpy(&x, v.data + 4 * i, 4);
      r.values[i] = float(x);
    } else if (v.dtype == DType::U8) {
      r.values[i] = float(v.data[i]);
    } else {
      throw std::runtime_error("reference tensor " + name + " has an unexpected dtype");
    }
  }
  return r;
}

Diff compare(const std::vector<float>& actual, const std::vector<float>& expected) {
  if (actual.size() != expected.size())
    throw std::runtime_error("compare: sizes differ (" + std::to_string(actual.size()) + " vs " +
                             std::to_string(expected.size()) + ")");
  Diff d;
  double num = 0, den = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    double a = actual[i], e = expected[i];
    if (!std::isfinite(a)) d.nonfinite = true;
    double diff = std::fabs(a - e);
    if (diff > d.max_abs || std::isnan(diff)) d.max_abs = diff;
    num += (a - e) * (a - e);
    den += e * e;
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (d.nonfinite) d.rel_l2 = INFINITY;
  return d;
}

}  // namespace qi::test

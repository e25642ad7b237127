// Shared helpers for the test binaries: where the fixtures live, and numeric comparison.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace qi::test {

// ../shared next to the checkout, or $QI_SHARED_DIR.
std::filesystem::path shared_dir();
// shared_dir()/fixtures/tiny-a
std::filesystem::path tiny_a_dir();
bool have_shared();

// A tensor of ../shared/fixtures/tiny-a/reference/reference.safetensors widened to fp32 (ids included).
struct ReferenceTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
ReferenceTensor reference_tensor(const std::string& name);

struct Diff {
  double max_abs = 0;
  double rel_l2 = 0;     // ‖a − b‖₂ / ‖b‖₂
  bool nonfinite = false; // a holds NaN/Inf (never passes)
};
Diff compare(const std::vector<float>& actual, const std::vector<float>& expected);

}  // namespace qi::test

#include "support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace qi::test {

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("QI_SHARED_DIR"); env && *env) return env;
  return std::filesystem::path(QI_SOURCE_DIR_FALLBACK) / ".." / "shared";
}

std::filesystem::path tiny_a_dir() { return shared_dir() / "fixtures" / "tiny-a"; }

bool have_shared() { return std::filesystem::exists(tiny_a_dir() / "model" / "model_index.json"); }

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

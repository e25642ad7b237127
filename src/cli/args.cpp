#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace qi::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
           const std::set<std::string>& bool_flags) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a.compare(0, 2, "--") != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool has_inline = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_inline = true;
    }
    if (bool_flags.count(name)) {
      if (has_inline) throw UsageError(name + " takes no value");
      bools_.insert(name);
    } else if (value_flags.count(name)) {
      if (!has_inline) {
        if (i + 1 >= argv.size()) throw UsageError(name + " needs a value");
        value = argv[++i];
      }
      if (values_.count(name)) throw UsageError(name + " given more than once");
      values_[name] = value;
    } else {
      throw UsageError("unknown flag " + name + " (see --help)");
    }
  }
}

bool Args::has(const std::string& flag) const { return bools_.count(flag) || values_.count(flag); }

std::optional<std::string> Args::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& flag, const std::string& fallback) const {
  auto v = get(flag);
  return v ? *v : fallback;
}

std::string Args::require(const std::string& flag) const {
  auto v = get(flag);
  if (!v) throw UsageError(flag + " is required");
  return *v;
}

std::optional<int64_t> Args::get_int(const std::string& flag, int64_t min, int64_t max) const {
  auto v = get(flag);
  if (!v) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(flag + ": '" + *v + "' is not a whole number");
  if (x < min || x > max)
    throw UsageError(flag + ": " + *v + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return int64_t(x);
}

std::optional<uint64_t> Args::get_uint64(const std::string& flag) const {
  auto v = get(flag);
  if (!v) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  if (v->empty() || (*v)[0] == '-') throw UsageError(flag + ": '" + *v + "' is not a non-negative whole number");
  unsigned long long x = std::strtoull(v->c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE)
    throw UsageError(flag + ": '" + *v + "' is not a whole number in [0, 2^64)");
  return uint64_t(x);
}

std::optional<double> Args::get_double(const std::string& flag) const {
  auto v = get(flag);
  if (!v) return std::nullopt;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') throw UsageError(flag + ": '" + *v + "' is not a number");
  if (!std::isfinite(x)) throw UsageError(flag + ": " + *v + " is not finite");
  return x;
}

std::optional<double> Args::get_positive(const std::string& flag, double max) const {
  auto x = get_double(flag);
  if (x && (*x <= 0 || *x > max))
    throw UsageError(flag + " must be a number in (0, " + std::to_string(int64_t(max)) + "] (got " + *get(flag) + ")");
  return x;
}

}  // namespace qi::cli

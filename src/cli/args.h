// Plain llama.cpp-style flag parsing: `--name value` or `--name=value`, boolean `--flag`. Every error is a
// UsageError (exit code 2) naming the flag.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace qi::cli {

class Args {
 public:
  // value_flags take a value; bool_flags do not. Anything else starting with "--" is an unknown flag.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
       const std::set<std::string>& bool_flags);

  bool has(const std::string& flag) const;
  std::optional<std::string> get(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& fallback) const;
  std::string require(const std::string& flag) const;
  // Numeric values: a malformed or out-of-range number is a UsageError naming the flag.
  std::optional<int64_t> get_int(const std::string& flag, int64_t min, int64_t max) const;
  std::optional<uint64_t> get_uint64(const std::string& flag) const;
  std::optional<double> get_double(const std::string& flag) const;
  // A number in (0, max]: e.g. --vram-budget GiB.
  std::optional<double> get_positive(const std::string& flag, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> bools_;
  std::vector<std::string> positional_;
};

}  // namespace qi::cli

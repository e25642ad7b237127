// Shader variants per op: which implementations this device can run, and which one runs. An op's dispatch
// code registers its variants (first = automatic choice), and asks selected() each time it runs.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qi::vk {

class VariantTable {
 public:
  // Registers op's variants usable on this device, best first (the automatic choice is the first).
  void add(std::string op, std::vector<std::string> usable);
  std::vector<std::string> usable(std::string_view op) const;
  // Whether `variant` is one of op's usable variants (no copy of the list).
  bool has(std::string_view op, std::string_view variant) const;
  // "" restores the automatic choice. Throws RuntimeFailure for an unknown op or a variant not usable here.
  void select(std::string_view op, std::string_view variant);
  // The variant the op runs now.
  const std::string& selected(std::string_view op) const;

 private:
  struct Entry {
    std::vector<std::string> usable;
    std::string chosen;  // "" = automatic
  };
  std::map<std::string, Entry, std::less<>> ops_;
};

}  // namespace qi::vk

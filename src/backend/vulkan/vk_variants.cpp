#include "backend/vulkan/vk_variants.h"

#include <algorithm>

#include "core/error.h"

namespace qi::vk {

void VariantTable::add(std::string op, std::vector<std::string> usable) {
  ops_[std::move(op)] = Entry{std::move(usable), ""};
}

std::vector<std::string> VariantTable::usable(std::string_view op) const {
  auto it = ops_.find(op);
  return it == ops_.end() ? std::vector<std::string>{} : it->second.usable;
}

bool VariantTable::has(std::string_view op, std::string_view variant) const {
  auto it = ops_.find(op);
  return it != ops_.end() && std::find(it->second.usable.begin(), it->second.usable.end(), variant) != it->second.usable.end();
}

void VariantTable::select(std::string_view op, std::string_view variant) {
  auto it = ops_.find(op);
  if (it == ops_.end()) throw RuntimeFailure("select_variant: unknown op '" + std::string(op) + "'");
  Entry& e = it->second;
  if (!variant.empty() && std::find(e.usable.begin(), e.usable.end(), variant) == e.usable.end()) {
    std::string list;
    for (const auto& v : e.usable) list += (list.empty() ? "" : ", ") + v;
    throw RuntimeFailure("select_variant: op '" + std::string(op) + "' has no variant '" + std::string(variant) +
                         "' usable on this device (usable: " + list + ")");
  }
  e.chosen = std::string(variant);
}

const std::string& VariantTable::selected(std::string_view op) const {
  auto it = ops_.find(op);
  if (it == ops_.end() || it->second.usable.empty())
    throw std::logic_error("vulkan: op '" + std::string(op) + "' has no registered variant");
  return it->second.chosen.empty() ? it->second.usable.front() : it->second.chosen;
}

}  // namespace qi::vk

#include "backend/vulkan/vk_driver_pinning.h"

#include <dlfcn.h>
#include <link.h>

namespace qi::vk {

std::set<std::string> loaded_shared_objects() {
  std::set<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name && *info->dlpi_name) static_cast<std::set<std::string>*>(data)->insert(info->dlpi_name);
        return 0;
      },
      &names);
  return names;
}

int keep_loaded_since(const std::set<std::string>& before) {
  int marked = 0;
  for (const std::string& name : loaded_shared_objects()) {
    if (before.count(name)) continue;
    // RTLD_NOLOAD: only an object already loaded; the extra reference is dropped again at once, the
    // NODELETE flag stays.
    if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) {
      dlclose(handle);
      ++marked;
    }
  }
  return marked;
}

}  // namespace qi::vk

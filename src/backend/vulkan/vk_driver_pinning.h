// Keeps the Vulkan driver loaded for the life of the process. Debian's Vulkan loader (1.3.239) unloads the
// driver's shared objects when an instance is destroyed and loads them again for the next one. NVIDIA's
// driver (libnvidia-tls) takes glibc static TLS every time it is loaded, and the static TLS block runs out
// after about 30 loads in one process: vkCreateInstance then fails with VK_ERROR_INCOMPATIBLE_DRIVER
// ("libnvidia-tls.so: cannot allocate memory in static TLS block" in VK_LOADER_DEBUG; measured on an H100,
// driver 580.159.04, 2026-11-22: the 31st instance of a process failed, with or without layers or devices).
// So the objects loaded since the process's first instance was asked for are marked RTLD_NODELETE after
// each instance creation: later instances reuse them.
#pragma once
#include <set>
#include <string>

namespace qi::vk {

// The paths of the shared objects loaded into the process now.
std::set<std::string> loaded_shared_objects();

// Marks every shared object loaded now that is not in `before` as never to be unloaded (dlopen with
// RTLD_NOLOAD | RTLD_NODELETE); returns how many it marked.
int keep_loaded_since(const std::set<std::string>& before);

}  // namespace qi::vk

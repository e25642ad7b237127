// qwen-image-vk devices: the Vulkan devices this machine offers, with what the kernels care about (memory,
// limits, fp16/int8/subgroup features, cooperative-matrix shapes) and which one runs by default.
#include <cstdio>
#include <string>
#include <vector>

#include "backend/vulkan/vulkan_backend.h"
#include "cli/args.h"

namespace qi::cli {
namespace {

const char* kDevicesHelp =
    "usage: qwen-image-vk devices\n\n"
    "Lists the Vulkan devices with their index (for --device), type, driver, memory heaps, the limits that\n"
    "bound tensor sizes and kernels, and the optional features the shaders use (fp16, 16/8-bit storage,\n"
    "int8, subgroup arithmetic, NV/KHR cooperative matrix with the supported shapes). The device used when\n"
    "--device is not given is marked.\n\n"
    "Exit status: 0 when at least one device is usable, 1 when there is none.\n";

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", double(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s.empty() ? "none" : s;
}

}  // namespace

int cmd_devices(const std::vector<std::string>& argv) {
  Args args(argv, {}, {"--help"});
  if (args.has("--help")) {
    std::fputs(kDevicesHelp, stdout);
    return 0;
  }
  const auto devices = list_vulkan_devices();
  if (devices.empty()) {
    std::fprintf(stderr, "no Vulkan device found (install a GPU driver, or Mesa lavapipe: mesa-vulkan-drivers)\n");
    return 1;
  }
  for (const auto& d : devices) {
    std::printf("%d: %s%s\n", d.index, d.name.c_str(), d.default_choice ? "  (default)" : "");
    std::printf("   type %s, Vulkan %s, driver %s\n", d.type.c_str(), d.api_version.c_str(), d.driver.c_str());
    std::printf("   memory heaps: %s; uploads %s\n", join(d.memory_heaps, ", ").c_str(),
                d.host_visible_device_local ? "zero-copy (host-visible device memory)" : "staged");
    std::printf("   limits: max allocation %s, max storage buffer %s, shared memory %u KiB, subgroup %u\n",
                mib(d.max_allocation_bytes).c_str(), mib(d.max_storage_buffer_range).c_str(),
                d.max_shared_memory / 1024, d.subgroup_size);
    std::printf("   features: %s\n", join(d.features, ", ").c_str());
    if (!d.coopmat_shapes.empty())
      std::printf("   cooperative matrix: %s\n", join(d.coopmat_shapes, "; ").c_str());
  }
  return 0;
}

}  // namespace qi::cli

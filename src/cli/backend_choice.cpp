#include "cli/backend_choice.h"

#include <algorithm>
#include <optional>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "core/error.h"
#include "core/log.h"
#include "cli/memory_estimate.h"

namespace qi::cli {

// Upper bound for --threads: more than any machine this runs on, small enough to catch typos.
constexpr int64_t kMaxThreads = 4096;

std::unique_ptr<Backend> make_backend(const std::string& kind, const std::string& device, int threads, bool verbose) {
  if (kind == "cpu") return make_cpu_backend(threads);
  if (kind != "vulkan" && kind != "auto") throw UsageError("--backend must be vulkan, cpu or auto (got '" + kind + "')");
  VulkanOptions vo;
  vo.device = device;
  vo.verbose = verbose;
  if (kind == "vulkan") return make_vulkan_backend(vo);
  if (list_vulkan_devices().empty()) {
    log_warn("no Vulkan device found; --backend auto falls back to the CPU backend");
    return make_cpu_backend(threads);
  }
  return make_vulkan_backend(vo);
}

std::unique_ptr<Backend> make_backend(const Args& args, bool verbose) {
  const int threads = int(args.get_int("--threads", 0, kMaxThreads).value_or(0));
  return make_backend(args.get_or("--backend", "vulkan"), args.get_or("--device", ""), threads, verbose);
}

namespace {
// The device make_vulkan_backend picks: --device as an index or a name substring, else the default.
std::optional<VulkanDeviceInfo> chosen_vulkan_device(const Args& args) {
  const std::string want = args.get_or("--device", "");
  const bool by_index = !want.empty() && want.find_first_not_of("0123456789") == std::string::npos;
  for (const VulkanDeviceInfo& d : list_vulkan_devices()) {
    const bool match = want.empty() ? d.default_choice
                       : by_index   ? want == std::to_string(d.index)
                                    : d.name.find(want) != std::string::npos;
    if (match) return d;
  }
  return std::nullopt;
}
}  // namespace

uint64_t backend_memory_bytes(const Backend& backend, const Args& args) {
  if (backend.name() == "cpu") return system_memory_bytes();
  const auto d = chosen_vulkan_device(args);
  if (!d) return 0;
  // A CPU implementation (lavapipe) allocates from system RAM whatever heap size it reports.
  return d->type == "cpu" ? std::max(d->device_local_bytes, system_memory_bytes()) : d->device_local_bytes;
}

bool backend_memory_is_system_ram(const Backend& backend, const Args& args) {
  if (backend.name() == "cpu") return true;
  const auto d = chosen_vulkan_device(args);
  return d && d->type == "cpu";
}

std::string backend_device_name(const Backend& backend, const Args& args) {
  if (backend.name() == "cpu") return "CPU (fp32 reference backend)";
  const auto d = chosen_vulkan_device(args);
  return d ? d->name : backend.name();
}

}  // namespace qi::cli

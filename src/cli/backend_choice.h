// --backend vulkan|cpu|auto, --device N|NAME, --threads N: shared by every command that computes.
#pragma once
#include <memory>
#include <string>

#include "cli/args.h"
#include "ops/backend.h"

namespace qi::cli {

// The flags this helper reads (to add to a command's value flags).
inline const char* const kBackendFlags[] = {"--backend", "--device", "--threads"};

// "vulkan" (default): a Vulkan device or a clear error. "cpu": the fp32 reference backend. "auto": Vulkan
// when a device exists, else the CPU backend with a warning.
std::unique_ptr<Backend> make_backend(const Args& args, bool verbose = true);
// Memory the backend can use for one generation: the chosen Vulkan device's device-local memory, or this
// machine's RAM for the CPU backend; 0 when unknown.
uint64_t backend_memory_bytes(const Backend& backend, const Args& args);
// True when that memory is this machine's RAM (the CPU backend, a CPU Vulkan device such as lavapipe):
// streaming weights from host memory then saves nothing.
bool backend_memory_is_system_ram(const Backend& backend, const Args& args);

// The device's name for reports ("NVIDIA H200", ...): the chosen Vulkan device's, or the CPU backend's.
std::string backend_device_name(const Backend& backend, const Args& args);

std::unique_ptr<Backend> make_backend(const std::string& kind, const std::string& device, int threads, bool verbose);

}  // namespace qi::cli

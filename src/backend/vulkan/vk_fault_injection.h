// Fault injection for tests: makes the Vulkan runtime meet the GPU failures that cannot be provoked on a
// healthy device (lavapipe included), so that the real error handling runs and can be tested end to end.
//
// Off unless the environment variable QI_VK_FAULT is set; it is read once, when a Vulkan context is
// created. Off, the allocator and the command stream hold a null FaultInjector pointer and test it only
// where they are about to call the driver anyway (new memory blocks, submissions, fence waits).
//
//   QI_VK_FAULT=<item>[,<item>...]
//     alloc_limit=<size>              device-local memory obtained from the driver may total at most <size>
//                                     (bytes, or with a K/M/G suffix: KiB/MiB/GiB): a vkAllocateMemory that
//                                     would go beyond it returns VK_ERROR_OUT_OF_DEVICE_MEMORY, as a full
//                                     device does. Memory given back (vkFreeMemory) can be obtained again.
//     alloc_fail_at=[<stage>:]<N>     the device's memory runs out at the N-th allocation request (tensors
//                                     and staging, counted from 1; within <stage> when one is named): that
//                                     request finds no room in the memory the allocator already holds (as if
//                                     fragmented) and from then on every vkAllocateMemory of device-local
//                                     memory returns VK_ERROR_OUT_OF_DEVICE_MEMORY.
//     device_lost_at=[<stage>:]<N>    the device is lost at the N-th queue submission (counted from 1; within
//                                     <stage> when one is named): that submission still runs to completion
//                                     (so nothing is left executing), but its fence wait and every later fence
//                                     wait and submission return VK_ERROR_DEVICE_LOST, as after a hang.
//   A <stage> is a name the pipeline gives Backend::begin_stage ("text encoding", "transformer load",
//   "denoising", "decoding"); its count starts again each time the stage begins. A stage that never runs
//   never triggers its fault. A malformed value is a UsageError naming the item.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace qi::vk {

// "The N-th event", counted over the whole run or within one stage.
struct FaultTrigger {
  std::string stage;  // empty: count from the start of the run
  uint64_t n = 0;     // >= 1
  bool operator==(const FaultTrigger&) const = default;
};

struct FaultPlan {
  std::optional<uint64_t> alloc_limit;        // bytes of device-local memory
  std::optional<FaultTrigger> alloc_fail_at;  // allocation requests
  std::optional<FaultTrigger> device_lost_at; // queue submissions
  bool empty() const { return !alloc_limit && !alloc_fail_at && !device_lost_at; }
  bool operator==(const FaultPlan&) const = default;
};

// Parses the QI_VK_FAULT syntax above; throws UsageError("QI_VK_FAULT: ...") naming the bad item.
FaultPlan parse_fault_plan(std::string_view spec);

// The name of the environment variable.
inline constexpr const char* kFaultEnvVar = "QI_VK_FAULT";

// Shared by one context's allocator and command stream. Thread-safe.
class FaultInjector {
 public:
  explicit FaultInjector(FaultPlan plan) : plan_(std::move(plan)) {}

  // The injector QI_VK_FAULT asks for, or nullptr when it is unset or empty (then there is no cost at all).
  static std::shared_ptr<FaultInjector> from_environment();

  const FaultPlan& plan() const { return plan_; }

  // The command stream reports the stage boundaries (Backend::begin_stage / end_stage).
  void enter_stage(std::string_view name);
  void leave_stage();

  // Allocator: one allocation request. True when this is the request at which memory runs out: it must
  // not be served from memory the allocator already holds.
  bool on_allocation_request();
  // Allocator, before vkAllocateMemory of `bytes` of device-local memory: false = answer
  // VK_ERROR_OUT_OF_DEVICE_MEMORY without calling the driver.
  bool may_allocate(uint64_t bytes);
  // Allocator, after a successful vkAllocateMemory / before vkFreeMemory of device-local memory.
  void allocated(uint64_t bytes);
  void freed(uint64_t bytes);
  // Device-local bytes the driver would still hand out under the plan (UINT64_MAX when unlimited).
  uint64_t available() const;

  // Command stream, before vkQueueSubmit: true when this submission is the one at which the device is lost.
  bool on_submit();
  // True once the device counts as lost: fence waits and submissions must answer VK_ERROR_DEVICE_LOST.
  bool device_lost() const;

 private:
  // Counts one event; true for the one `trigger` names, which sets `fired` (it fires once).
  bool count(const std::optional<FaultTrigger>& trigger, uint64_t& run_count, uint64_t& stage_count, bool& fired);

  const FaultPlan plan_;
  mutable std::mutex mutex_;
  std::string stage_;
  uint64_t requests_ = 0, stage_requests_ = 0;
  uint64_t submissions_ = 0, stage_submissions_ = 0;
  uint64_t held_ = 0;        // device-local bytes obtained from the driver and not yet freed
  bool exhausted_ = false;   // alloc_fail_at has fired: the driver hands out nothing more
  bool lost_ = false;
};

}  // namespace qi::vk

#include "backend/vulkan/vk_fault_injection.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "core/error.h"
#include "core/log.h"

namespace qi::vk {
namespace {

[[noreturn]] void bad_item(std::string_view item, const std::string& why) {
  throw UsageError(std::string(kFaultEnvVar) + ": '" + std::string(item) + "': " + why +
                   " (items: alloc_limit=<bytes>[K|M|G], alloc_fail_at=[<stage>:]<N>, device_lost_at=[<stage>:]<N>, "
                   "separated by commas)");
}

// A whole number of at least `min` that fits in 64 bits, nothing else (no sign, no spaces).
std::optional<uint64_t> parse_count(std::string_view text, uint64_t min) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min) return std::nullopt;
  return v;
}

uint64_t parse_size(std::string_view item, std::string_view text) {
  uint64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': case 'k': unit = 1ull << 10; break;
      case 'M': case 'm': unit = 1ull << 20; break;
      case 'G': case 'g': unit = 1ull << 30; break;
      default: break;
    }
    if (unit != 1) text.remove_suffix(1);
  }
  const auto v = parse_count(text, 0);
  if (!v) bad_item(item, "the size must be a whole number of bytes, optionally with a K, M or G suffix");
  if (*v > std::numeric_limits<uint64_t>::max() / unit) bad_item(item, "the size does not fit in 64 bits");
  return *v * unit;
}

FaultTrigger parse_trigger(std::string_view item, std::string_view text) {
  FaultTrigger t;
  const size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    t.stage = std::string(text.substr(0, colon));
    if (t.stage.empty()) bad_item(item, "the stage name before ':' is empty");
    text.remove_prefix(colon + 1);
  }
  const auto n = parse_count(text, 1);
  if (!n) bad_item(item, "the count must be a whole number >= 1");
  t.n = *n;
  return t;
}

}  // namespace

FaultPlan parse_fault_plan(std::string_view spec) {
  const std::string_view whole = spec;
  FaultPlan plan;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) bad_item(item, "empty item");
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) bad_item(item, "expected <name>=<value>");
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (value.empty()) bad_item(item, "the value is empty");
    if (key == "alloc_limit") {
      if (plan.alloc_limit) bad_item(item, "given twice");
      plan.alloc_limit = parse_size(item, value);
    } else if (key == "alloc_fail_at") {
      if (plan.alloc_fail_at) bad_item(item, "given twice");
      plan.alloc_fail_at = parse_trigger(item, value);
    } else if (key == "device_lost_at") {
      if (plan.device_lost_at) bad_item(item, "given twice");
      plan.device_lost_at = parse_trigger(item, value);
    } else {
      bad_item(item, "unknown fault '" + std::string(key) + "'");
    }
    if (comma != std::string_view::npos && spec.empty()) bad_item(whole, "empty item after the last comma");
  }
  return plan;
}

std::shared_ptr<FaultInjector> FaultInjector::from_environment() {
  const char* spec = std::getenv(kFaultEnvVar);
  if (!spec || !*spec) return nullptr;
  FaultPlan plan = parse_fault_plan(spec);
  if (plan.empty()) return nullptr;
  log_warn(std::string(kFaultEnvVar) + "=" + spec + ": Vulkan fault injection is on (a test hook)");
  return std::make_shared<FaultInjector>(std::move(plan));
}

void FaultInjector::enter_stage(std::string_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  stage_ = std::string(name);
  stage_requests_ = 0;
  stage_submissions_ = 0;
}

void FaultInjector::leave_stage() {
  std::lock_guard<std::mutex> lock(mutex_);
  stage_.clear();
}

bool FaultInjector::count(const std::optional<FaultTrigger>& trigger, uint64_t& run_count, uint64_t& stage_count,
                          bool& fired) {
  ++run_count;
  ++stage_count;
  if (fired || !trigger) return false;
  fired = trigger->stage.empty() ? run_count == trigger->n : trigger->stage == stage_ && stage_count == trigger->n;
  return fired;
}

bool FaultInjector::on_allocation_request() {
  std::lock_guard<std::mutex> lock(mutex_);
  return count(plan_.alloc_fail_at, requests_, stage_requests_, exhausted_);
}

bool FaultInjector::may_allocate(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (exhausted_) return false;
  return !plan_.alloc_limit || (held_ <= *plan_.alloc_limit && bytes <= *plan_.alloc_limit - held_);
}

void FaultInjector::allocated(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  held_ += bytes;
}

void FaultInjector::freed(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  held_ -= std::min(held_, bytes);
}

uint64_t FaultInjector::available() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (exhausted_) return 0;
  if (!plan_.alloc_limit) return std::numeric_limits<uint64_t>::max();
  return held_ < *plan_.alloc_limit ? *plan_.alloc_limit - held_ : 0;
}

bool FaultInjector::on_submit() {
  std::lock_guard<std::mutex> lock(mutex_);
  return count(plan_.device_lost_at, submissions_, stage_submissions_, lost_);
}

bool FaultInjector::device_lost() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lost_;
}

}  // namespace qi::vk

// What the benchmarks share: anchors.json, image-size lists, medians and the per-op time split.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "ops/backend.h"

namespace qi::bench {

// $QI_SHARED_DIR/reference/anchors.json, else ../shared/reference/anchors.json.
std::filesystem::path default_anchors();
// anchors.json from --anchors (or the default); null where it cannot be read or parsed.
nlohmann::json load_anchors(const cli::Args& args);
// A comma-separated list of image sizes, each a positive multiple of `multiple` (UsageError otherwise).
std::vector<int64_t> parse_sizes(const std::string& list, int64_t multiple);
// The median (the upper one of an even count); 0 for none.
double median(std::vector<double> v);
// Selects the variants named by a comma-separated "op=variant" list (--variants; an unknown op or variant is
// an error naming the choices).
void select_variants(Backend& backend, const std::string& list);
// Wall times of a piece of work and the device-time split of its last run.
struct TimedRuns {
  double median_ms = 0;
  std::vector<OpTiming> split;
};
// Runs `work` once to warm up (pipelines, allocator blocks), resets the peak memory, then `repeats` timed times
// (wall time to the end of a flush), with device timestamps on the last run only (they add a little time).
TimedRuns time_runs(Backend& backend, int repeats, const std::function<void()>& work);
// Prints the op timings, largest first, with their share of the total, and returns them as JSON
// ({op, count, ms} per op).
nlohmann::json print_op_split(std::vector<OpTiming> split);

}  // namespace qi::bench

// What the benchmarks share: anchors.json, image-size lists, medians and the per-op time split.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli/args.h"
#include "ops/backend.h"

namespace qi::bench {

inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// The value flags of the full-size model benchmarks (bench transformer, vae, text-encoder): the ones they all
// take, and `own`.
std::set<std::string> full_size_bench_flags(std::initializer_list<std::string> own);
// The arguments they share: --random-weights SEED (required), --repeats N (1 to 100; default_repeats without
// it) and anchors.json (load_anchors).
struct FullSizeBenchArgs {
  uint64_t seed = 0;
  int repeats = 0;
  nlohmann::json anchors;
};
FullSizeBenchArgs full_size_bench_args(const cli::Args& args, int default_repeats);

// $QI_SHARED_DIR/reference/anchors.json, else ../shared/reference/anchors.json.
std::filesystem::path default_anchors();
// anchors.json from --anchors (or the default); null where it cannot be read or parsed.
nlohmann::json load_anchors(const cli::Args& args);
// anchors[table][key] in ms, or 0 where anchors.json lacks it.
double anchor_ms(const nlohmann::json& anchors, const std::string& table, const std::string& key);
// Says where the diffusers figures come from (`what` ran on an H200) and whether this device is that type.
void print_diffusers_source(const std::string& device, const std::string& what);
// Writes the report to --json's file, if given (InputError where it cannot).
void write_json_report(const cli::Args& args, const nlohmann::json& report);
// The comma-separated list of `flag` (image sizes, prompt lengths), each a positive multiple of `multiple`
// (UsageError otherwise).
std::vector<int64_t> parse_sizes(const std::string& flag, const std::string& list, int64_t multiple);
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
// Before the first measurement a GPU runs work for this long, so that its clocks have left their idle state:
// on an H100 the first kernel case ran at a quarter of its later rate without it, and cases within the first
// ~4 s after a one-second warm-up still ran 3-4x slow; on an H200 a text-encoder forward right after the
// host had made 14 GB of random weights took 52.7 ms with one warm-up forward, against 22.0 ms on a GPU
// that had just been busy (2026-11-23).
inline constexpr double kClockWarmupSeconds = 5.0;
// kClockWarmupSeconds for a GPU, 0 for a CPU device (the CPU backend, lavapipe: no clocks to ramp, and each
// run already takes long).
double clock_warmup_seconds(Backend& backend, const cli::Args& args);
// Runs `work` once to warm up (pipelines, allocator blocks) and again until warmup_seconds have passed,
// resets the peak memory, then `repeats` timed times (wall time to the end of a flush), with device
// timestamps on the last run only (they add a little time).
TimedRuns time_runs(Backend& backend, int repeats, double warmup_seconds, const std::function<void()>& work);
// Prints the op timings, largest first, with their share of the total, and returns them as JSON
// ({op, count, ms} per op).
nlohmann::json print_op_split(std::vector<OpTiming> split);

}  // namespace qi::bench

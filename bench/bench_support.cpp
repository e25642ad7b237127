#include "bench/bench_support.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli/backend_choice.h"
#include "core/error.h"

namespace qi::bench {

std::filesystem::path default_anchors() {
  if (const char* env = std::getenv("QI_SHARED_DIR"); env && *env)
    return std::filesystem::path(env) / "reference" / "anchors.json";
  return std::filesystem::path("..") / "shared" / "reference" / "anchors.json";
}

nlohmann::json load_anchors(const cli::Args& args) {
  if (std::ifstream in(args.get_or("--anchors", default_anchors().string())); in)
    return nlohmann::json::parse(in, nullptr, false);
  return nullptr;
}

double anchor_ms(const nlohmann::json& anchors, const std::string& table, const std::string& key) {
  return anchors.is_object() ? anchors.value(table, nlohmann::json::object()).value(key, 0.0) : 0.0;
}

void print_diffusers_source(const std::string& device, const std::string& what) {
  const bool same_gpu_type = device.find("H200") != std::string::npos;
  std::printf("(diffusers figures: anchors.json, %s on an NVIDIA H200, %s)\n", what.c_str(),
              same_gpu_type ? "the same GPU type as this device" : "not this device");
}

void write_json_report(const cli::Args& args, const nlohmann::json& report) {
  const auto path = args.get("--json");
  if (!path) return;
  std::ofstream f(*path);
  f << report.dump(1) << "\n";
  if (!f) throw InputError("cannot write " + *path);
}

std::vector<int64_t> parse_sizes(const std::string& flag, const std::string& list, int64_t multiple) {
  std::vector<int64_t> sizes;
  size_t at = 0;
  while (at <= list.size()) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(at, comma - at);
    const int64_t s = std::atoll(item.c_str());
    if (s <= 0 || s % multiple != 0)
      throw UsageError(flag + ": '" + item + "' is not a positive " +
                       (multiple > 1 ? "multiple of " + std::to_string(multiple) : std::string("integer")));
    sizes.push_back(s);
    at = comma + 1;
  }
  return sizes;
}

void select_variants(Backend& backend, const std::string& list) {
  size_t at = 0;
  while (at < list.size()) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(at, comma - at);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--variants: '" + item + "' is not op=variant");
    const std::string op = item.substr(0, eq), variant = item.substr(eq + 1);
    const std::vector<std::string> choices = backend.variants(op);
    if (std::find(choices.begin(), choices.end(), variant) == choices.end()) {
      std::string names;
      for (const auto& c : choices) names += (names.empty() ? "" : ", ") + c;
      throw UsageError("--variants: " + backend.name() + " has no variant '" + variant + "' of '" + op + "'" +
                       (choices.empty() ? std::string(" (no such op)") : " (it has: " + names + ")"));
    }
    backend.select_variant(op, variant);
    at = comma + 1;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::set<std::string> full_size_bench_flags(std::initializer_list<std::string> own) {
  std::set<std::string> flags{"--backend", "--device", "--threads", "--json", "--anchors", "--repeats",
                              "--random-weights", "--tokenizer"};
  flags.insert(own.begin(), own.end());
  return flags;
}

FullSizeBenchArgs full_size_bench_args(const cli::Args& args, int default_repeats) {
  constexpr int64_t kMaxRepeats = 100;
  return {uint64_t(args.get_int("--random-weights", 0, INT64_MAX).value()),
          int(args.get_int("--repeats", 1, kMaxRepeats).value_or(default_repeats)), load_anchors(args)};
}

double clock_warmup_seconds(Backend& backend, const cli::Args& args) {
  return cli::backend_memory_is_system_ram(backend, args) ? 0.0 : kClockWarmupSeconds;
}

TimedRuns time_runs(Backend& backend, int repeats, double warmup_seconds, const std::function<void()>& work) {
  const auto warm_start = std::chrono::steady_clock::now();
  do {
    work();
    backend.flush();
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count() < warmup_seconds);
  backend.reset_peak_memory();
  std::vector<double> wall;
  TimedRuns r;
  for (int i = 0; i < repeats; ++i) {
    const bool profile = i == repeats - 1;
    backend.set_profiling(profile);
    const auto t0 = std::chrono::steady_clock::now();
    work();
    backend.flush();
    wall.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (profile) r.split = backend.op_timings();
  }
  backend.set_profiling(false);
  r.median_ms = median(wall);
  return r;
}

nlohmann::json print_op_split(std::vector<OpTiming> split) {
  std::sort(split.begin(), split.end(), [](const OpTiming& a, const OpTiming& c) { return a.total_ms > c.total_ms; });
  double total = 0;
  for (const auto& t : split) total += t.total_ms;
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& t : split) {
    std::printf("    %-24s %6llu calls %10.2f ms %5.1f%%\n", t.op.c_str(), static_cast<unsigned long long>(t.count),
                t.total_ms, total > 0 ? 100.0 * t.total_ms / total : 0.0);
    ops.push_back({{"op", t.op}, {"count", t.count}, {"ms", t.total_ms}});
  }
  return ops;
}

}  // namespace qi::bench

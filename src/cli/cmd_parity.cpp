// qwen-image-vk parity: runs the fixture reference's generation settings and compares every stage with the
// reference (diffusers), or compares two backends with each other.
#include <cstdio>

#include "cli/args.h"
#include "cli/backend_choice.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "pipeline/parity.h"

namespace qi::cli {

static const char* kParityHelp =
    "usage: qwen-image-vk parity --model DIR --reference FILE.safetensors [--backend vulkan|cpu]\n"
    "                            [--backends cpu,vulkan] [--device N|NAME] [--threads N]\n\n"
    "Runs the generation settings stored beside the reference (FILE.json: prompt, negative prompt, size,\n"
    "steps, cfg, seed) and prints one table: stage, max abs, mean abs, relative L2, pass/fail, then the\n"
    "first divergence. With --backends A,B the two backends are compared with each other instead.\n"
    "Bounds: fp32 CPU backend rel L2 <= 1e-4 and uint8 max diff <= 1; GPU backends rel L2 <= 1e-2, uint8\n"
    "mean diff <= 1 and max <= 8. Exit code 0 when every stage passes, 1 otherwise.\n";

int cmd_parity(const std::vector<std::string>& argv) {
  Args args(argv, {"--model", "--reference", "--backend", "--backends", "--device", "--threads"}, {"--help"});
  if (args.has("--help")) {
    std::printf("%s", kParityHelp);
    return 0;
  }
  const ModelDir model = ModelDir::open(args.require("--model"));
  const std::filesystem::path reference = args.require("--reference");
  GenerationOptions opts = reference_generation_options(reference);
  const int threads = int(args.get_int("--threads", 0, 4096).value_or(0));

  auto run = [&](const std::string& kind) {
    auto backend = make_backend(kind, args.get_or("--device", ""), threads, true);
    Generator gen(model, *backend);
    return collect_stages(gen, *backend, opts);
  };
  auto tolerance_for = [](const std::string& kind) {
    return kind == "cpu" ? cpu_parity_tolerance() : device_parity_tolerance();
  };

  ParityReport report;
  if (auto pair = args.get("--backends")) {
    const auto comma = pair->find(',');
    if (comma == std::string::npos) throw UsageError("--backends takes two backends, e.g. cpu,vulkan");
    const std::string a = pair->substr(0, comma), b = pair->substr(comma + 1);
    StageTensors sa = run(a), sb = run(b);
    std::printf("%s vs %s\n", b.c_str(), a.c_str());
    report = compare_stages(sb, sa, tolerance_for(a == "cpu" ? b : a));
  } else {
    const std::string kind = args.get_or("--backend", "vulkan");
    StageTensors s = run(kind);
    std::printf("%s vs %s\n", kind.c_str(), reference.string().c_str());
    report = compare_with_reference(s, reference, tolerance_for(kind));
  }
  std::printf("%s", report.table().c_str());
  return report.pass() ? 0 : 1;
}

}  // namespace qi::cli

// `qwen-image-vk bench <kernels|tokenizer|...>`: benchmarks, not tests.
#include <cstdio>

#include "bench/bench_commands.h"
#include "core/error.h"

namespace qi::bench {

int cmd_bench(const std::vector<std::string>& argv) {
  struct Entry {
    const char* name;
    int (*run)(const std::vector<std::string>&);
    const char* summary;
  };
  static const Entry entries[] = {
      {"kernels", bench_kernels, "every op on the model's real shapes; ratios to anchors.json"},
      {"transformer", bench_transformer, "full-size transformer forwards (random weights); ratio to diffusers"},
      {"vae", bench_vae, "full-size VAE decodes (random weights); ratio to diffusers"},
      {"text-encoder", bench_text_encoder, "full-size text-encoder forwards (random weights); ratio to diffusers"},
      {"tokenizer", bench_tokenizer, "tokenizer throughput on typical prompts"},
  };
  if (argv.empty() || argv[0] == "--help") {
    std::printf("usage: qwen-image-vk bench <what> [flags]   (bench <what> --help for its flags)\n\n");
    for (const auto& e : entries) std::printf("  %-13s %s\n", e.name, e.summary);
    return argv.empty() ? 2 : 0;
  }
  for (const auto& e : entries)
    if (argv[0] == e.name) return e.run(std::vector<std::string>(argv.begin() + 1, argv.end()));
  throw UsageError("unknown benchmark '" + argv[0] + "' (see bench --help)");
}

}  // namespace qi::bench

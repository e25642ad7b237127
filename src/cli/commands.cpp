#include "cli/commands.h"

#include <cstdio>
#include <cstring>
#include <exception>

#include "bench/bench_commands.h"
#include "core/error.h"

namespace qi::cli {

// Each command is defined in its own file.
int cmd_generate(const std::vector<std::string>& args);
int cmd_parity(const std::vector<std::string>& args);
int cmd_make_model(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_devices(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"generate", "text to image", cmd_generate},
      {"parity", "compare every stage of a generation with a reference (or two backends)", cmd_parity},
      {"make-model", "write a small random-weight model in the published diffusers layout", cmd_make_model},
      {"devices", "list the Vulkan devices, their memory, limits and the features the kernels use", cmd_devices},
      {"inspect", "check a model directory: configs, tensor shapes, NaN/Inf and all-zero weights", cmd_inspect},
      {"tokenize", "text to Qwen2 token ids (JSON lines on stdin and stdout)", cmd_tokenize},
      {"bench", "microbenchmarks (kernels, tokenizer)", bench::cmd_bench},
  };
  return list;
}

static void print_usage(FILE* out) {
  std::fprintf(out,
               "qwen-image-vk: Qwen-Image text-to-image generation on Vulkan compute shaders\n\n"
               "usage: qwen-image-vk <command> [flags]   (qwen-image-vk <command> --help for its flags)\n\n"
               "commands:\n");
  for (const auto& c : commands()) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
}

int run_main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const auto& c : commands()) {
    if (name != c.name) continue;
    std::vector<std::string> rest(argv + 2, argv + argc);
    try {
      return c.run(rest);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}

}  // namespace qi::cli

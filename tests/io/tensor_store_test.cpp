// TensorStore: single files and sharded checkpoints, and every way an index and its shards can disagree.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "support/test_support.h"
#include "temp_files.h"

namespace qi {
namespace {

namespace fs = std::filesystem;

std::string error_opening(const fs::path& dir) {
  try {
    TensorStore::open_dir(dir);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << dir;
  return "";
}

// Two shards holding a, b (shard 1) and c (shard 2), with an index listing exactly that.
struct ShardedDir {
  test::ScratchDir dir;
  ShardedDir() {
    write_safetensors(dir / "m-1.safetensors", {test::patterned_tensor("a", DType::BF16, {2, 3}),
                                                test::patterned_tensor("b", DType::F32, {4})});
    write_safetensors(dir / "m-2.safetensors", {test::patterned_tensor("c", DType::F16, {5})});
    write_index(R"({"a":"m-1.safetensors","b":"m-1.safetensors","c":"m-2.safetensors"})");
  }
  void write_index(const std::string& weight_map) {
    test::write_file(dir / "model.safetensors.index.json",
                     R"({"metadata":{"total_size":46},"weight_map":)" + weight_map + "}");
  }
};

TEST(TensorStore, OpensShardedCheckpoint) {
  ShardedDir s;
  auto store = TensorStore::open_dir(s.dir.path());
  EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(store.get("a").file.filename(), "m-1.safetensors");
  EXPECT_EQ(store.get("c").file.filename(), "m-2.safetensors");
  EXPECT_EQ(store.get("c").shape, Shape{5});
  EXPECT_EQ(store.files().size(), 2u);
  EXPECT_EQ(store.total_bytes(), 12u + 16u + 10u);
  EXPECT_EQ(store.location(), s.dir.path());
}

TEST(TensorStore, OpensSingleFile) {
  test::ScratchDir dir;
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", {test::patterned_tensor("x", DType::F32, {2})});
  auto store = TensorStore::open_dir(dir.path());
  EXPECT_TRUE(store.has("x"));
  EXPECT_FALSE(store.has("y"));
  EXPECT_EQ(store.size(), 1u);
}

TEST(TensorStore, PrefersTheStandardFileNameAndRefusesToGuess) {
  test::ScratchDir dir;
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", {test::patterned_tensor("std", DType::U8, {1})});
  write_safetensors(dir / "diffusion_pytorch_model.fp16.safetensors", {test::patterned_tensor("v", DType::U8, {1})});
  EXPECT_TRUE(TensorStore::open_dir(dir.path()).has("std"));
  fs::remove(dir / "diffusion_pytorch_model.safetensors");
  write_safetensors(dir / "other.safetensors", {test::patterned_tensor("o", DType::U8, {1})});
  std::string msg = error_opening(dir.path());
  EXPECT_NE(msg.find("several safetensors files and none with a standard name"), std::string::npos) << msg;
}

TEST(TensorStore, MissingOrEmptyDirectory) {
  test::ScratchDir dir;
  EXPECT_NE(error_opening(dir / "nope").find("does not exist"), std::string::npos);
  EXPECT_NE(error_opening(dir.path()).find("holds no .safetensors file"), std::string::npos);
}

TEST(TensorStore, MissingShard) {
  ShardedDir s;
  fs::remove(s.dir / "m-2.safetensors");
  std::string msg = error_opening(s.dir.path());
  EXPECT_NE(msg.find("shard m-2.safetensors (holding 1 tensors, e.g. 'c') does not exist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors.index.json"), std::string::npos) << msg;
}

TEST(TensorStore, IndexPointsAtAShardThatLacksTheTensor) {
  ShardedDir s;
  s.write_index(R"({"a":"m-1.safetensors","b":"m-2.safetensors","c":"m-2.safetensors"})");
  std::string msg = error_opening(s.dir.path());
  EXPECT_NE(msg.find("tensor 'b' is listed in shard m-2.safetensors, which does not hold it"), std::string::npos)
      << msg;
}

TEST(TensorStore, ShardHoldsATensorMissingFromTheIndex) {
  ShardedDir s;
  s.write_index(R"({"a":"m-1.safetensors","c":"m-2.safetensors"})");
  std::string msg = error_opening(s.dir.path());
  EXPECT_NE(msg.find("m-1.safetensors: tensor 'b' is not listed in the index"), std::string::npos) << msg;
}

TEST(TensorStore, TensorInTwoShards) {
  ShardedDir s;
  write_safetensors(s.dir / "m-2.safetensors", {test::patterned_tensor("c", DType::F16, {5}),
                                                test::patterned_tensor("a", DType::BF16, {2, 3})});
  std::string msg = error_opening(s.dir.path());
  EXPECT_NE(msg.find("tensor 'a' is also in this shard, but the index"), std::string::npos) << msg;
}

TEST(TensorStore, BadIndexJsonNamesTheIndex) {
  ShardedDir s;
  test::write_file(s.dir / "model.safetensors.index.json", "{\"weight_map\": {\"a\": ");
  std::string msg = error_opening(s.dir.path());
  EXPECT_NE(msg.find("model.safetensors.index.json: safetensors index is not valid JSON"), std::string::npos) << msg;
}

TEST(TensorStore, CorruptShardNamesTheShard) {
  ShardedDir s;
  test::write_file(s.dir / "m-2.safetensors", test::safetensors_image("{\"c\":", 0));
  std::string msg = error_opening(s.dir.path());
  EXPECT_NE(msg.find("m-2.safetensors: safetensors header is not valid JSON"), std::string::npos) << msg;
}

TEST(TensorStore, GetNamesTheLocation) {
  ShardedDir s;
  auto store = TensorStore::open_dir(s.dir.path());
  try {
    store.get("zzz");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(s.dir.path().string() + ": no tensor 'zzz'"), std::string::npos);
  }
}

TEST(TensorStore, TinyAShardedComponentsOpen) {
  if (!test::have_shared()) GTEST_SKIP() << "shared fixtures not found";
  auto transformer = TensorStore::open_dir(test::tiny_a_dir() / "model" / "transformer");
  EXPECT_EQ(transformer.files().size(), 3u);
  EXPECT_TRUE(transformer.has("transformer_blocks.1.attn.to_q.weight"));
  auto text = TensorStore::open_dir(test::tiny_a_dir() / "model" / "text_encoder");
  EXPECT_EQ(text.files().size(), 3u);
  EXPECT_TRUE(text.has("lm_head.weight"));
}

}  // namespace
}  // namespace qi

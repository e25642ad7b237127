// What each model says its constructor reads whole (keys_read_at_load), which the generator reads ahead
// into the page cache while the model uploads: checked on the tiny-a fixture's files. Every key is a tensor of
// the store; the text encoder leaves out its embedding table (read a row per token) and nothing else; the VAE
// leaves out the encoder the files also hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "io/model_dir.h"
#include "io/weight_map.h"
#include "model/mmdit.h"
#include "model/text_encoder.h"
#include "model/vae_decoder.h"
#include "support/test_support.h"

namespace qi {
namespace {

class KeysReadAtLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "fixtures not found under " << test::shared_dir();
  }
  ModelDir model_ = ModelDir::open(test::tiny_a_dir() / "model");
};

void expect_all_in_store(const std::vector<std::string>& keys, const TensorStore& store) {
  EXPECT_FALSE(keys.empty());
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size()) << "a key is listed twice";
  for (const std::string& k : keys) EXPECT_TRUE(store.has(k)) << k;
}

TEST_F(KeysReadAtLoad, TextEncoderLeavesOutOnlyTheEmbeddingTable) {
  TensorStore store = model_.text_encoder_weights();
  const std::vector<std::string> keys = TextEncoder::keys_read_at_load(model_.text_encoder, store);
  expect_all_in_store(keys, store);
  const std::string prefix = text_encoder_prefix(store);
  const std::string embedding = prefix + kTextEmbeddingKey;
  ASSERT_TRUE(store.has(embedding));
  EXPECT_EQ(std::count(keys.begin(), keys.end(), embedding), 0);
  EXPECT_EQ(keys.size() + 1, expected_text_encoder_tensors(model_.text_encoder, prefix).size());
  EXPECT_EQ(std::count(keys.begin(), keys.end(), prefix + "layers.0.self_attn.q_proj.weight"), 1);
}

TEST_F(KeysReadAtLoad, TransformerReadsEveryExpectedTensor) {
  TensorStore store = model_.transformer_weights();
  const std::vector<std::string> keys = Mmdit::keys_read_at_load(model_.transformer);
  expect_all_in_store(keys, store);
  EXPECT_EQ(keys.size(), store.size());  // the transformer's files hold nothing it does not read
}

TEST_F(KeysReadAtLoad, VaeReadsTheDecoderNotTheEncoder) {
  TensorStore store = model_.vae_weights();
  const std::vector<std::string> keys = VaeDecoder::keys_read_at_load(model_.vae);
  expect_all_in_store(keys, store);
  for (const std::string& k : keys) EXPECT_FALSE(is_vae_encoder_key(k)) << k;
  size_t encoder = 0;
  for (const std::string& k : store.names()) encoder += is_vae_encoder_key(k) ? 1 : 0;
  EXPECT_GT(encoder, 0u) << "the fixture's VAE holds an encoder";
  EXPECT_EQ(keys.size() + encoder, store.size());
}

}  // namespace
}  // namespace qi

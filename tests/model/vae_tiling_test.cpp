// Tiled VAE decoding (model/vae_tiling.h), diffusers' AutoencoderKLWan.tiled_decode: the blend of decoded
// tiles (ramps over the overlaps, each tile blended with its already blended upper and left neighbours, then
// cropped to the stride) on hand-made tiles with known results, and the tiled decoder on the tiny-a fixture's
// VAE on both backends: latents within one tile are decoded whole (as diffusers decides), and several tiles
// are the blend of each latent crop's own decode (tiles cut and placed where they belong); and the tiled
// decode on Vulkan against the CPU reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "io/model_dir.h"
#include "model/vae_tiling.h"
#include "support/test_support.h"

namespace qi {
namespace {

// Vulkan against the CPU reference, both fp32, as the multi-frame decode in stage_parity_test.cpp.
constexpr double kTiledVulkanRelL2 = 1e-5;

ImageTile constant_tile(int y, int x, int height, int width, float value) {
  return {y, x, height, width, std::vector<float>(size_t(height) * size_t(width), value)};
}

// A 28×28 single-channel image from tiles of 16 pixels every 12 (ramps of 4), each tile a constant:
// (0,0) = 0, (0,1) = 1, (1,0) = 2, (1,1) = 3.
std::vector<float> blend_constant_grid() {
  std::vector<std::vector<ImageTile>> rows = {
      {constant_tile(0, 0, 16, 16, 0.0f), constant_tile(0, 12, 16, 16, 1.0f)},
      {constant_tile(12, 0, 16, 16, 2.0f), constant_tile(12, 12, 16, 16, 3.0f)}};
  return blend_tiles(rows, 1, 28, 28, 12, 4);
}

TEST(VaeTilingBlend, RampsFromTheUpperAndLeftTilesOverTheOverlap) {
  const std::vector<float> img = blend_constant_grid();
  auto px = [&](int y, int x) { return img[size_t(y) * 28 + size_t(x)]; };
  EXPECT_EQ(px(5, 5), 0.0f);    // only tile (0,0)
  EXPECT_EQ(px(5, 20), 1.0f);   // only tile (0,1)
  EXPECT_EQ(px(20, 5), 2.0f);   // only tile (1,0)
  EXPECT_EQ(px(20, 20), 3.0f);  // only tile (1,1)
  // Tile (0,1)'s first columns ramp from tile (0,0): x/4 at local column x.
  for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(px(5, 12 + x), float(x) / 4.0f) << x;
  // Tile (1,0)'s first rows ramp from tile (0,0): 2·y/4.
  for (int y = 0; y < 4; ++y) EXPECT_FLOAT_EQ(px(12 + y, 5), 2.0f * float(y) / 4.0f) << y;
  // The corner: tile (1,1) blends first with (0,1) as already blended (its rows 12+y, columns x: x/4), then
  // with (1,0) as already blended (columns 12+x, rows y: y/2). At local (1, 2):
  //   vertical:   (2/4)·(1 − 1/4) + 3·(1/4) = 1.125
  //   horizontal: (1/2)·(1 − 2/4) + 1.125·(2/4) = 0.8125
  EXPECT_FLOAT_EQ(px(13, 14), 0.8125f);
}

// Tiles cut from one image (consistent over every overlap) blend back into that image, edge tiles smaller
// than the rest included.
TEST(VaeTilingBlend, ConsistentTilesGiveBackTheImage) {
  const int channels = 3, height = 37, width = 50, tile = 16, stride = 12;
  std::mt19937 rng(0x711e5u);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> image(size_t(channels * height * width));
  for (float& v : image) v = uniform(rng);
  std::vector<std::vector<ImageTile>> rows;
  for (int y0 = 0; y0 < height; y0 += stride) {
    std::vector<ImageTile>& row = rows.emplace_back();
    for (int x0 = 0; x0 < width; x0 += stride) {
      ImageTile t{y0, x0, std::min(tile, height - y0), std::min(tile, width - x0), {}};
      for (int c = 0; c < channels; ++c)
        for (int y = 0; y < t.height; ++y)
          for (int x = 0; x < t.width; ++x) t.values.push_back(image[size_t((c * height + y0 + y) * width + x0 + x)]);
      row.push_back(std::move(t));
    }
  }
  const std::vector<float> blended = blend_tiles(rows, channels, height, width, stride, tile - stride);
  ASSERT_EQ(blended.size(), image.size());
  for (size_t i = 0; i < image.size(); ++i) ASSERT_NEAR(blended[i], image[i], 1e-6f) << i;
}

TEST(VaeTilingBlend, TilesNeededOnlyBeyondOneTile) {
  const VaeTiling t;
  EXPECT_FALSE(tiles_needed(t, 32, 32));
  EXPECT_TRUE(tiles_needed(t, 32, 33));
  EXPECT_TRUE(tiles_needed(t, 166, 166));
}

class VaeTilingDecode : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "fixtures not found under " << test::shared_dir();
    backend = GetParam() ? make_vulkan_backend({.validation = true, .verbose = false}) : make_cpu_backend();
    model = std::make_unique<ModelDir>(ModelDir::open(test::tiny_a_dir() / "model"));
    store = std::make_unique<TensorStore>(model->vae_weights());
    vae = std::make_unique<VaeDecoder>(model->vae, *store, *backend);
  }
  Tensor latents(int64_t h, int64_t w) {
    std::mt19937 rng(0x1a7e57u);
    std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
    std::vector<float> v(size_t(model->vae.z_dim * h * w));
    for (float& x : v) x = uniform(rng);
    return backend->from_host_f32(v, {model->vae.z_dim, 1, h, w});
  }

  std::unique_ptr<Backend> backend;
  std::unique_ptr<ModelDir> model;
  std::unique_ptr<TensorStore> store;
  std::unique_ptr<VaeDecoder> vae;
};

TEST_P(VaeTilingDecode, LatentsWithinOneTileAreDecodedWhole) {
  const Tensor z = latents(6, 9);
  const std::vector<float> plain = backend->to_host_f32(vae->decode(z));
  const Tensor tiled = decode_tiled(*vae, *backend, z, VaeTiling{9, 7});
  EXPECT_EQ(tiled.shape(), Shape({3, 1, 48, 72}));
  EXPECT_EQ(backend->to_host_f32(tiled), plain);
}

// Latents of 11×14 in tiles of 5 every 4: a 3×4 grid with smaller tiles at the bottom and right edges. Each
// tile must be the decode of its own latent crop, placed at 8× its latent position.
TEST_P(VaeTilingDecode, SeveralTilesAreTheBlendOfEachCropsDecode) {
  const int64_t h = 11, w = 14, tile = 5, stride = 4, z_dim = model->vae.z_dim;
  const Tensor z = latents(h, w);
  const std::vector<float> all = backend->to_host_f32(z);
  std::vector<std::vector<ImageTile>> rows;
  for (int64_t i0 = 0; i0 < h; i0 += stride) {
    std::vector<ImageTile>& row = rows.emplace_back();
    for (int64_t j0 = 0; j0 < w; j0 += stride) {
      const int64_t th = std::min(tile, h - i0), tw = std::min(tile, w - j0);
      std::vector<float> crop;
      for (int64_t c = 0; c < z_dim; ++c)
        for (int64_t y = 0; y < th; ++y)
          for (int64_t x = 0; x < tw; ++x) crop.push_back(all[size_t((c * h + i0 + y) * w + j0 + x)]);
      const Tensor img = vae->decode(backend->from_host_f32(crop, {z_dim, 1, th, tw}));
      row.push_back({int(8 * i0), int(8 * j0), int(8 * th), int(8 * tw), backend->to_host_f32(img)});
    }
  }
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[0].size(), 4u);
  const std::vector<float> expected = blend_tiles(rows, 3, int(8 * h), int(8 * w), int(8 * stride), int(8 * (tile - stride)));
  const Tensor tiled = decode_tiled(*vae, *backend, z, VaeTiling{int(tile), int(stride)});
  EXPECT_EQ(tiled.shape(), Shape({3, 1, 8 * h, 8 * w}));
  EXPECT_EQ(backend->to_host_f32(tiled), expected);
}

// The tiled decode agrees between the CPU reference and Vulkan on random non-zero latents (both in fp32: the
// tensor-core variants, automatic on NVIDIA, are checked with their fp16-operand bounds by the op parity
// harness), with poisoned allocations.
TEST(VaeTilingParity, CpuMatchesVulkan) {
  if (!test::have_shared()) GTEST_SKIP() << "fixtures not found under " << test::shared_dir();
  auto cpu = make_cpu_backend();
  auto vk = make_vulkan_backend({.validation = true, .verbose = false});
  for (Backend* be : {cpu.get(), vk.get()}) be->set_poison_allocations(true);
  vk->select_variant("matmul", "scalar");
  vk->select_variant("attention", "scalar");
  vk->select_variant("conv3d", "scalar");
  const ModelDir model = ModelDir::open(test::tiny_a_dir() / "model");
  const TensorStore store = model.vae_weights();
  const VaeDecoder cpu_vae(model.vae, store, *cpu), vk_vae(model.vae, store, *vk);
  const int64_t h = 11, w = 14;
  std::mt19937 rng(0x9a71u);
  std::uniform_real_distribution<float> uniform(0.1f, 2.0f);
  std::bernoulli_distribution negative(0.5);
  std::vector<float> z(size_t(model.vae.z_dim * h * w));
  for (float& x : z) x = negative(rng) ? -uniform(rng) : uniform(rng);
  const VaeTiling tiling{5, 4};
  const Shape shape = {model.vae.z_dim, 1, h, w};
  const std::vector<float> a = cpu->to_host_f32(decode_tiled(cpu_vae, *cpu, cpu->from_host_f32(z, shape), tiling));
  const std::vector<float> b = vk->to_host_f32(decode_tiled(vk_vae, *vk, vk->from_host_f32(z, shape), tiling));
  const test::Diff d = test::compare(b, a);
  std::printf("tiled decode vulkan vs cpu: rel L2 %.3g\n", d.rel_l2);
  EXPECT_LE(d.rel_l2, kTiledVulkanRelL2);
  EXPECT_EQ(vulkan_validation_message_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, VaeTilingDecode, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "vulkan" : "cpu"; });

}  // namespace
}  // namespace qi

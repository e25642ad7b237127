// Tiled VAE decoding, as diffusers' AutoencoderKLWan.tiled_decode (vae.enable_tiling()): the latents are cut
// into overlapping spatial tiles, each decoded on its own, and the decoded tiles are blended with linear ramps
// over their overlap. The decoder's memory then follows the tile, not the image: a 2048×2048 decode needs
// about as much device memory as a 256×256 one. The image differs slightly from an untiled decode (each tile's
// convolutions and mid-block attention see only the tile), as in diffusers.
#pragma once
#include <vector>

#include "model/vae_decoder.h"
#include "ops/backend.h"

namespace qi {

struct VaeTiling {
  // diffusers' defaults: tiles of 256 pixels every 192 (so 64-pixel ramps), in latents (VAE factor 8).
  static constexpr int kDefaultTileLatents = 32;
  static constexpr int kDefaultStrideLatents = 24;
  int tile_latents = kDefaultTileLatents;
  int stride_latents = kDefaultStrideLatents;  // 0 < stride <= tile
};

// A decoded tile: a [channels, height, width] float image placed at (y, x) pixels in the full image.
struct ImageTile {
  int y = 0, x = 0, height = 0, width = 0;
  std::vector<float> values;
};

// Blends a grid of decoded tiles, row-major (rows[i][j] starts at row i·stride, column j·stride in pixels and
// spans up to stride + blend pixels each way), into a [channels, height, width] image: each tile is first
// blended with the (already blended) tile above over min(blend, both heights) rows, weights (1 − t) and t for
// t = k / extent, then with the tile to its left over columns the same way, and contributes its first
// `stride` rows and columns. The tiles are modified in place.
std::vector<float> blend_tiles(std::vector<std::vector<ImageTile>>& rows, int channels, int height, int width,
                               int stride_px, int blend_px);

// Whether `tiling` splits latents of h × w into more than one tile (diffusers tiles only then).
bool tiles_needed(const VaeTiling& tiling, int64_t h, int64_t w);

// latents [z_dim, 1, h, w] (a single frame, normalised as the transformer produces them) -> the image
// [3, 1, 8h, 8w] decoded tile by tile (not yet clamped, as VaeDecoder::decode); latents within one tile are
// decoded whole. The tiles' images are blended on the host; the device holds one tile's decoder activations
// at a time.
Tensor decode_tiled(const VaeDecoder& vae, Backend& backend, const Tensor& latents, const VaeTiling& tiling);

}  // namespace qi

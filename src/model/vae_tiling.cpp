#include "model/vae_tiling.h"

#include <algorithm>

#include "core/error.h"

namespace qi {

std::vector<float> blend_tiles(std::vector<std::vector<ImageTile>>& rows, int channels, int height, int width,
                               int stride_px, int blend_px) {
  std::vector<float> out(size_t(channels) * size_t(height) * size_t(width), 0.0f);
  auto at = [](ImageTile& t, int c, int y, int x) -> float& {
    return t.values[(size_t(c) * size_t(t.height) + size_t(y)) * size_t(t.width) + size_t(x)];
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      ImageTile& b = rows[i][j];
      if (i > 0) {  // ramp down from the tile above over the top rows
        ImageTile& a = rows[i - 1][j];
        const int extent = std::min({a.height, b.height, blend_px});
        if (a.width != b.width) throw std::logic_error("blend_tiles: tiles of one column differ in width");
        for (int c = 0; c < channels; ++c)
          for (int y = 0; y < extent; ++y) {
            const float t = float(y) / float(extent);
            for (int x = 0; x < b.width; ++x)
              at(b, c, y, x) = at(a, c, a.height - extent + y, x) * (1.0f - t) + at(b, c, y, x) * t;
          }
      }
      if (j > 0) {  // and from the tile to the left over the first columns
        ImageTile& a = rows[i][j - 1];
        const int extent = std::min({a.width, b.width, blend_px});
        if (a.height != b.height) throw std::logic_error("blend_tiles: tiles of one row differ in height");
        for (int c = 0; c < channels; ++c)
          for (int y = 0; y < b.height; ++y)
            for (int x = 0; x < extent; ++x) {
              const float t = float(x) / float(extent);
              at(b, c, y, x) = at(a, c, y, a.width - extent + x) * (1.0f - t) + at(b, c, y, x) * t;
            }
      }
      const int keep_h = std::min({b.height, stride_px, height - b.y});
      const int keep_w = std::min({b.width, stride_px, width - b.x});
      for (int c = 0; c < channels; ++c)
        for (int y = 0; y < keep_h; ++y)
          std::copy_n(&at(b, c, y, 0), size_t(keep_w),
                      &out[(size_t(c) * size_t(height) + size_t(b.y + y)) * size_t(width) + size_t(b.x)]);
    }
  }
  return out;
}

bool tiles_needed(const VaeTiling& tiling, int64_t h, int64_t w) {
  return h > tiling.tile_latents || w > tiling.tile_latents;
}

Tensor decode_tiled(const VaeDecoder& vae, Backend& backend, const Tensor& latents, const VaeTiling& tiling) {
  if (tiling.stride_latents <= 0 || tiling.stride_latents > tiling.tile_latents)
    throw std::invalid_argument("VAE tiling: the stride must be in (0, tile]");
  if (latents.rank() != 4 || latents.dim(1) != 1)
    throw std::invalid_argument("VAE tiling decodes single-frame latents [z, 1, h, w], got " + latents.describe());
  const int64_t z = latents.dim(0), h = latents.dim(2), w = latents.dim(3);
  if (!tiles_needed(tiling, h, w)) return vae.decode(latents);  // as diffusers: one tile is a plain decode
  const std::vector<float> all = backend.to_host_f32(latents);
  std::vector<std::vector<ImageTile>> rows;
  int64_t scale = 0, channels = 0;
  for (int64_t i0 = 0; i0 < h; i0 += tiling.stride_latents) {
    std::vector<ImageTile>& row = rows.emplace_back();
    for (int64_t j0 = 0; j0 < w; j0 += tiling.stride_latents) {
      const int64_t th = std::min<int64_t>(tiling.tile_latents, h - i0), tw = std::min<int64_t>(tiling.tile_latents, w - j0);
      std::vector<float> part(size_t(z * th * tw));
      for (int64_t c = 0; c < z; ++c)
        for (int64_t y = 0; y < th; ++y)
          std::copy_n(&all[size_t((c * h + i0 + y) * w + j0)], size_t(tw), &part[size_t((c * th + y) * tw)]);
      const Tensor image = vae.decode(backend.from_host_f32(part, {z, 1, th, tw}));
      scale = image.dim(2) / th;
      channels = image.dim(0);
      row.push_back({int(i0 * scale), int(j0 * scale), int(image.dim(2)), int(image.dim(3)), backend.to_host_f32(image)});
    }
  }
  const int64_t stride_px = tiling.stride_latents * scale, blend_px = (tiling.tile_latents - tiling.stride_latents) * scale;
  std::vector<float> image =
      blend_tiles(rows, int(channels), int(h * scale), int(w * scale), int(stride_px), int(blend_px));
  return backend.from_host_f32(image, {channels, 1, h * scale, w * scale});
}

}  // namespace qi

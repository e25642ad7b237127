// Reading a PNG back as 8-bit RGB with its text chunks (for comparing outputs with reference pictures and
// checking the metadata the writer stored).
#pragma once
#include <filesystem>
#include <vector>

#include "io/png_writer.h"

namespace qi {

struct PngImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;        // height rows of width × 3 bytes, top row first
  std::vector<PngTextEntry> text;  // tEXt, zTXt and iTXt chunks in file order, values as UTF-8
};

// Any PNG (palette, grey, alpha, 16-bit, interlaced) converted to 8-bit RGB: palettes and grey are
// expanded, 16-bit samples are reduced to their high byte and alpha is dropped (not composited).
// Throws InputError naming the path when it cannot be opened or is not a valid PNG.
PngImage read_png_rgb8(const std::filesystem::path& path);

}  // namespace qi

// Writing the generated picture: an 8-bit RGB PNG with textual metadata, written atomically (a temporary
// file in the same directory, flushed to disk, then renamed over the target), so the output path holds
// either the previous file or the complete new one, never a partial PNG.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qi {

// One textual chunk. The key is 1-79 printable ASCII characters without leading, trailing or doubled
// spaces; the value is UTF-8. As PIL does (and so A1111 and ComfyUI, which read metadata through PIL), a
// value representable in Latin-1 is stored as a tEXt chunk, any other as an uncompressed iTXt chunk.
struct PngTextEntry {
  std::string key;
  std::string value;
};

// What the A1111 "parameters" text records about one generation.
struct GenerationParameters {
  std::string prompt;
  std::string negative_prompt;  // empty: no "Negative prompt:" line
  int steps = 0;
  std::string sampler;  // e.g. "Euler"
  double cfg_scale = 0;
  uint64_t seed = 0;
  int width = 0, height = 0;
  std::string model;  // e.g. "Qwen-Image"
};

// The key under which A1111 stores its generation text, and under which ComfyUI/Civitai look for it.
inline constexpr const char* kParametersTextKey = "parameters";

// The A1111 generation text ("infotext"), as stable-diffusion-webui writes it:
//   <prompt>
//   Negative prompt: <negative prompt>
//   Steps: 50, Sampler: Euler, CFG scale: 4, Seed: 1234, Size: 1328x1328, Model: Qwen-Image
// The second line is left out when there is no negative prompt; Size is width x height; numbers use
// the shortest decimal that reads back the same (4, 4.5); a value holding ',', ':' or a newline is
// written as a JSON string, and the whole text is trimmed of surrounding whitespace, as webui does.
// Throws InputError for text that is not valid UTF-8.
std::string a1111_parameters(const GenerationParameters& parameters);

// Refuses, before any work is done, an output path that could not be written: InputError naming the path
// when its directory does not exist, is not a directory or is not writable, or when the path itself is a
// directory. (The later write can still fail, e.g. when the disk fills up.)
void check_output_path_writable(const std::filesystem::path& path);

// Writes `rgb` (height rows of width × 3 bytes, top row first) as an 8-bit RGB PNG with the given text
// chunks, atomically. On any failure the temporary file is removed and the target is left as it was;
// the error names the path: InputError for a bad path or bad arguments (wrong pixel count, bad text key,
// invalid UTF-8), RuntimeFailure for an I/O failure while writing.
void write_png_rgb8(const std::filesystem::path& path, int width, int height, const std::vector<uint8_t>& rgb,
                    const std::vector<PngTextEntry>& text = {});

}  // namespace qi

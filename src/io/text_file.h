// Reading a whole (small) text file such as a config or a safetensors index, with errors that name the file.
#pragma once
#include <filesystem>
#include <string>

namespace qi {

// Files larger than this are refused: the largest JSON file of a model directory (a sharded index) is a few
// hundred kB, so anything near this size is the wrong file, not a config.
constexpr size_t kMaxTextFileBytes = 100u << 20;

// InputError "<what> <path> does not exist" / "... cannot be read" / "... is too large".
std::string read_text_file(const std::filesystem::path& path, const char* what);

}  // namespace qi

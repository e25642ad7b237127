// Scratch files for the I/O tests: raw file writers for building corrupt inputs byte by byte (the
// directories they go in: ScratchDir, support/scratch_dir.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "support/scratch_dir.h"

namespace qi::test {

void write_file(const std::filesystem::path& path, const std::string& contents);
void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& contents);
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

// A safetensors file image: 8-byte little-endian length of header_json, header_json, then data_bytes.
std::vector<uint8_t> safetensors_image(const std::string& header_json, size_t data_bytes);

// A tensor of the given shape whose bytes are 0, 1, 2, ... (mod 251, so no two neighbours repeat).
TensorToWrite patterned_tensor(const std::string& name, DType dtype, Shape shape);

}  // namespace qi::test

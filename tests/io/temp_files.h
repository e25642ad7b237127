// Scratch files for the I/O tests: a temporary directory removed at scope exit, and raw file writers for
// building corrupt inputs byte by byte.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace qi::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& contents);
void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& contents);
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

// A safetensors file image: 8-byte little-endian length of header_json, header_json, then data_bytes.
std::vector<uint8_t> safetensors_image(const std::string& header_json, size_t data_bytes);

// A tensor of the given shape whose bytes are 0, 1, 2, ... (mod 251, so no two neighbours repeat).
TensorToWrite patterned_tensor(const std::string& name, DType dtype, Shape shape);

}  // namespace qi::test

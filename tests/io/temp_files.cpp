#include "temp_files.h"

#include <fstream>
#include <stdexcept>

namespace qi::test {

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& contents) {
  write_file(path, std::string(contents.begin(), contents.end()));
}

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> safetensors_image(const std::string& header_json, size_t data_bytes) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(uint64_t(header_json.size()) >> (8 * i)));
  out.insert(out.end(), header_json.begin(), header_json.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(uint8_t(i % 251));
  return out;
}

TensorToWrite patterned_tensor(const std::string& name, DType dtype, Shape shape) {
  TensorToWrite t{name, dtype, shape, {}};
  t.data.resize(size_t(shape_numel(shape)) * dtype_size(dtype));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = uint8_t(i % 251);
  return t;
}

}  // namespace qi::test

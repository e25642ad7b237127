// safetensors reading (memory-mapped, strictly validated) and writing.
//
// Layout of a file: 8-byte little-endian header length n, n bytes of JSON header
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// data area; offsets are relative to the start of the data area.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace qi {

// One tensor inside a mapped file. data points into the mapping and lives as long as the file object.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  const uint8_t* data = nullptr;  // no alignment guarantee: read elements with memcpy
  size_t bytes = 0;
  std::filesystem::path file;
  uint64_t file_offset = 0;  // where data starts in file (for pread-style loaders)
  int64_t numel() const { return shape_numel(shape); }
};

// The largest header accepted; the reference implementation (huggingface/safetensors) uses the same limit.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// One validated header entry; begin/end are byte offsets relative to the start of the data area.
struct SafetensorsEntry {
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// A validated safetensors header.
struct SafetensorsLayout {
  uint64_t data_start = 0;  // 8 + header length: where the data area begins in the file
  std::map<std::string, SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;
};

// Validates the header of a safetensors file whose complete contents are `file` (memory-mapped or in memory):
// only the 8 + n header bytes are read, the data area is only bounds-checked against file.size(). Accepts
// F32/F16/BF16/I32/U8; any problem is an InputError naming `origin` and the tensor.
SafetensorsLayout parse_safetensors_layout(std::span<const uint8_t> file, const std::string& origin);

// The weight_map of a sharded checkpoint's *.safetensors.index.json: tensor name -> shard file name. Every
// shard name must be a plain file name (no directories), as the shards live next to the index.
std::map<std::string, std::string> parse_safetensors_index(std::string_view json_text, const std::string& origin);

// A memory-mapped .safetensors file. open() validates the whole header (length, JSON, dtypes, shapes,
// offsets inside the data area, no overlaps, byte size = numel·dtype size) before any data is touched and
// throws InputError naming the file (and tensor) on the first problem.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorView& get(const std::string& name) const;  // InputError naming file and tensor if absent

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor held in host memory: written by write_safetensors, or served by TensorStore::from_memory.
struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> data;  // numel·dtype_size bytes
};

// All tensors of one model component: a single file, or shards listed by a *.safetensors.index.json
// (every index entry must point at an existing shard that really holds the tensor).
class TensorStore {
 public:
  // dir holds either a *.safetensors.index.json + its shards, or one *.safetensors file. When several are
  // present the diffusers/transformers names win (diffusion_pytorch_model.* / model.*); otherwise the choice
  // must be unambiguous.
  static TensorStore open_dir(const std::filesystem::path& dir);
  static TensorStore open_file(const std::filesystem::path& file);
  // Tensors held in memory (random weights for benchmarks); `location` names them in messages.
  static TensorStore from_memory(const std::string& location, std::vector<TensorToWrite> tensors);

  bool has(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // InputError naming the key and directory
  std::vector<std::string> names() const;                  // sorted
  size_t size() const { return views_.size(); }
  const std::filesystem::path& location() const { return location_; }
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  uint64_t total_bytes() const;  // sum of all tensors' data sizes

 private:
  std::filesystem::path location_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> views_;
  // from_memory(): the tensors' bytes and their views (shared so that copies of the store stay valid).
  std::shared_ptr<const std::vector<TensorToWrite>> memory_data_;
  std::shared_ptr<const std::map<std::string, TensorView>> memory_views_;
};

// Writes tensors (F32/F16/BF16/I32/U8) to a .safetensors file atomically (temporary file, then rename).

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace qi

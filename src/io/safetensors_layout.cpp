// Strict validation of a safetensors header (see safetensors.h for the layout).
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "core/error.h"
#include "io/json_fields.h"
#include "io/safetensors.h"

namespace qi {

static_assert(sizeof(size_t) == 8, "safetensors offsets are 64-bit");

namespace {

constexpr size_t kHeaderLengthBytes = 8;  // little-endian u64 at the start of every file
constexpr const char* kMetadataKey = "__metadata__";

std::optional<DType> supported_dtype(const std::string& name) {
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  if (name == "I32") return DType::I32;
  if (name == "U8") return DType::U8;
  return std::nullopt;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

[[noreturn]] void fail_tensor(const std::string& origin, const std::string& name, const std::string& problem) {
  throw InputError(origin + ": tensor '" + name + "' " + problem);
}

// A JSON list of non-negative integers that fit u64.
std::vector<uint64_t> unsigned_list(const nlohmann::json& v, const std::string& origin, const std::string& name,
                                    const char* field) {
  if (!v.is_array()) fail_tensor(origin, name, std::string(field) + " must be a list, got " + v.type_name());
  std::vector<uint64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_unsigned() && !(x.is_number_integer() && x.get<int64_t>() == 0))
      fail_tensor(origin, name, std::string(field) + " must hold non-negative integers, got " + x.dump());
    out.push_back(x.get<uint64_t>());
  }
  return out;
}

SafetensorsEntry parse_entry(const nlohmann::json& v, const std::string& origin, const std::string& name) {
  if (!v.is_object()) fail_tensor(origin, name, std::string("must be a JSON object, got ") + v.type_name());
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) fail_tensor(origin, name, std::string("has no ") + field);

  const auto& dtype = v["dtype"];
  if (!dtype.is_string()) fail_tensor(origin, name, std::string("dtype must be a string, got ") + dtype.type_name());
  auto parsed_dtype = supported_dtype(dtype.get<std::string>());
  if (!parsed_dtype)
    fail_tensor(origin, name, "has unsupported dtype " + dtype.get<std::string>() +
                                  " (supported: F32, F16, BF16, I32, U8)");

  SafetensorsEntry e;
  e.dtype = *parsed_dtype;
  uint64_t numel = 1;
  bool overflow = false;
  for (uint64_t d : unsigned_list(v["shape"], origin, name, "shape")) {
    if (d > uint64_t(INT64_MAX)) overflow = true;
    overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
    e.shape.push_back(int64_t(d));
  }
  uint64_t bytes = 0;
  overflow = overflow || numel > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, dtype_size(e.dtype), &bytes);
  if (overflow) fail_tensor(origin, name, "has shape " + shape_str(e.shape) + " whose size overflows 64 bits");

  auto offsets = unsigned_list(v["data_offsets"], origin, name, "data_offsets");
  if (offsets.size() != 2)
    fail_tensor(origin, name, "data_offsets must be [begin, end], got " + std::to_string(offsets.size()) + " values");
  e.begin = offsets[0];
  e.end = offsets[1];
  if (e.begin > e.end)
    fail_tensor(origin, name, "has data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                  "] with begin after end");
  if (e.end - e.begin != bytes)
    fail_tensor(origin, name, "holds " + std::to_string(e.end - e.begin) + " bytes but " +
                                  std::string(dtype_name(e.dtype)) + shape_str(e.shape) + " needs " +
                                  std::to_string(bytes));
  return e;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& v, const std::string& origin) {
  if (!v.is_object())
    throw InputError(origin + ": " + kMetadataKey + " must be a JSON object, got " + v.type_name());
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      throw InputError(origin + ": " + kMetadataKey + " entry '" + key + "' must be a string, got " +
                       value.type_name());
    out[key] = value.get<std::string>();
  }
  return out;
}

// No two non-empty tensors may share a byte.
void check_no_overlap(const std::map<std::string, SafetensorsEntry>& tensors, const std::string& origin) {
  std::vector<std::pair<const std::string*, const SafetensorsEntry*>> by_offset;
  for (const auto& [name, e] : tensors)
    if (e.end > e.begin) by_offset.emplace_back(&name, &e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, e] = by_offset[i];
    if (e->begin < prev->end)
      fail_tensor(origin, *name, "overlaps tensor '" + *prev_name + "' (bytes [" + std::to_string(e->begin) + ", " +
                                     std::to_string(e->end) + ") vs [" + std::to_string(prev->begin) + ", " +
                                     std::to_string(prev->end) + "))");
  }
}

}  // namespace

SafetensorsLayout parse_safetensors_layout(std::span<const uint8_t> file, const std::string& origin) {
  if (file.size() < kHeaderLengthBytes)
    throw InputError(origin + ": file is " + std::to_string(file.size()) +
                     " bytes, too small for a safetensors header length");
  uint64_t header_bytes = read_le64(file.data());
  if (header_bytes > kMaxSafetensorsHeaderBytes)
    throw InputError(origin + ": header length " + std::to_string(header_bytes) + " exceeds the " +
                     std::to_string(kMaxSafetensorsHeaderBytes) + "-byte limit (not a safetensors file?)");
  if (header_bytes > file.size() - kHeaderLengthBytes)
    throw InputError(origin + ": header length " + std::to_string(header_bytes) + " runs past the end of the " +
                     std::to_string(file.size()) + "-byte file (truncated?)");

  SafetensorsLayout layout;
  layout.data_start = kHeaderLengthBytes + header_bytes;
  const uint64_t data_bytes = file.size() - layout.data_start;
  std::string_view header(reinterpret_cast<const char*>(file.data() + kHeaderLengthBytes), header_bytes);
  nlohmann::json root = parse_json(header, origin, "safetensors header");
  require_json_object(root, origin, "safetensors header");

  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) {
      layout.metadata = parse_metadata(value, origin);
      continue;
    }
    SafetensorsEntry e = parse_entry(value, origin, name);
    if (e.end > data_bytes)
      fail_tensor(origin, name, "has data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                    "] past the end of the " + std::to_string(data_bytes) +
                                    "-byte data area (truncated file?)");
    layout.tensors.emplace(name, std::move(e));
  }
  check_no_overlap(layout.tensors, origin);
  return layout;
}

}  // namespace qi

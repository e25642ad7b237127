// Fuzzes safetensors header validation and index parsing on arbitrary bytes. Only InputError may escape the
// parsers; whatever a header accepts must lie inside the buffer (each accepted tensor's first and last
// bytes are read, so AddressSanitizer catches any range the validation let through).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    qi::SafetensorsLayout layout = qi::parse_safetensors_layout({data, size}, "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const auto& [name, entry] : layout.tensors) {
      if (entry.end == entry.begin) continue;
      sink = sink ^ data[layout.data_start + entry.begin] ^ data[layout.data_start + entry.end - 1];
    }
  } catch (const qi::InputError&) {
  }
  try {
    qi::parse_safetensors_index(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
  } catch (const qi::InputError&) {
  }
  return 0;
}

#include "text/nfc.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "core/error.h"

namespace qi::text {

namespace {

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (uint8_t(c) >= 0x80) return false;
  return true;
}

}  // namespace

std::string nfc(std::string_view utf8) {
  // ASCII is its own NFC: no ASCII character decomposes or composes with a following ASCII character.
  if (is_ascii(utf8)) return std::string(utf8);
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()), utf8proc_ssize_t(utf8.size()), &mapped,
                   utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  if (length < 0) throw InputError(std::string("NFC normalisation failed: ") + utf8proc_errmsg(length));
  return std::string(reinterpret_cast<const char*>(mapped), size_t(length));
}

}  // namespace qi::text

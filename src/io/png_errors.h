// What the PNG reader and writer share: the 8-bit RGB format they exchange, and libpng's error protocol
// (libpng reports an error by calling the error function, which must not return: it records the message
// and longjmps back to the caller's setjmp).
#pragma once
#include <png.h>

#include <cstddef>
#include <cstdio>

namespace qi::png_detail {

constexpr int kBitDepth = 8;
constexpr int kChannels = 3;  // RGB
constexpr size_t kErrorMessageSize = 256;

struct PngErrorState {
  char message[kErrorMessageSize] = {};
};

// The error function for png_create_{read,write}_struct, with a PngErrorState as its error pointer.
inline void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

}  // namespace qi::png_detail

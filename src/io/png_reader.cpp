#include "io/png_reader.h"

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "core/error.h"
#include "io/png_errors.h"

namespace qi {
namespace {

using namespace png_detail;

constexpr size_t kSignatureBytes = 8;

// Warnings are about recoverable oddities (e.g. a bad ancillary chunk libpng skipped); the picture is still
// read in full, so they are not reported.
void on_png_warning(png_structp, png_const_charp) {}

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

// libpng's read structures.
struct ReadStructs {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ReadStructs() = default;
  ReadStructs(const ReadStructs&) = delete;
  ReadStructs& operator=(const ReadStructs&) = delete;
  ~ReadStructs() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

// The open file and libpng's structures for reading it, released together (also when construction fails
// half way, since the members are destroyed then).
class PngReadHandle {
 public:
  explicit PngReadHandle(const std::filesystem::path& path) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) throw InputError("cannot open PNG " + path.string() + ": " + std::strerror(errno));
    structs_.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state_, on_png_error, on_png_warning);
    if (structs_.png) structs_.info = png_create_info_struct(structs_.png);
    if (!structs_.png || !structs_.info) throw InputError("cannot read PNG " + path.string() + ": out of memory");
  }

  FILE* file() const { return file_.get(); }
  png_structp png() const { return structs_.png; }
  png_infop info() const { return structs_.info; }
  const char* error() const { return state_.message; }

 private:
  std::unique_ptr<FILE, FileCloser> file_;
  PngErrorState state_;
  ReadStructs structs_;
};

// The two phases below are where libpng may longjmp; they own nothing with a destructor.

// Reads the header and sets the conversions to 8-bit RGB. Returns false on a libpng error.
bool read_header(png_structp png, png_infop info, FILE* file, png_uint_32& width, png_uint_32& height,
                 int& passes, size_t& row_bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  png_set_expand(png);  // palette -> RGB, grey below 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != kChannels || png_get_bit_depth(png, info) != kBitDepth)
    png_error(png, "cannot convert to 8-bit RGB");
  width = png_get_image_width(png, info);
  height = png_get_image_height(png, info);
  row_bytes = png_get_rowbytes(png, info);
  return true;
}

// Reads every pass of every row into `rgb`, then the chunks after the image data. Returns false on a
// libpng error.
bool read_pixels(png_structp png, png_infop info, uint8_t* rgb, png_uint_32 height, int passes,
                 size_t row_bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  for (int pass = 0; pass < passes; ++pass)
    for (png_uint_32 y = 0; y < height; ++y) png_read_row(png, rgb + size_t(y) * row_bytes, nullptr);
  png_read_end(png, info);
  return true;
}

std::string latin1_to_utf8(const char* text, size_t length) {
  std::string out;
  out.reserve(length);
  for (size_t i = 0; i < length; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out.push_back(char(c));
    } else {
      out.push_back(char(0xC0 | (c >> 6)));
      out.push_back(char(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

}  // namespace

PngImage read_png_rgb8(const std::filesystem::path& path) {
  PngReadHandle handle(path);
  unsigned char signature[kSignatureBytes];
  if (std::fread(signature, 1, kSignatureBytes, handle.file()) != kSignatureBytes ||
      png_sig_cmp(signature, 0, kSignatureBytes) != 0)
    throw InputError("cannot read PNG " + path.string() + ": not a PNG file");
  png_set_sig_bytes(handle.png(), int(kSignatureBytes));

  png_uint_32 width = 0, height = 0;
  int passes = 0;
  size_t row_bytes = 0;
  if (!read_header(handle.png(), handle.info(), handle.file(), width, height, passes, row_bytes))
    throw InputError("cannot read PNG " + path.string() + ": " + handle.error());

  PngImage image;
  image.width = int(width);
  image.height = int(height);
  image.rgb.resize(size_t(height) * row_bytes);
  if (!read_pixels(handle.png(), handle.info(), image.rgb.data(), height, passes, row_bytes))
    throw InputError("cannot read PNG " + path.string() + ": " + handle.error());

  png_textp texts = nullptr;
  const int count = png_get_text(handle.png(), handle.info(), &texts, nullptr);
  for (int i = 0; i < count; ++i) {
    const png_text& t = texts[i];
    const bool international = t.compression == PNG_ITXT_COMPRESSION_NONE || t.compression == PNG_ITXT_COMPRESSION_zTXt;
    PngTextEntry entry;
    entry.key = latin1_to_utf8(t.key, std::strlen(t.key));
    entry.value = international ? std::string(t.text, t.itxt_length) : latin1_to_utf8(t.text, t.text_length);
    image.text.push_back(std::move(entry));
  }
  return image;
}

}  // namespace qi

#include "io/png_writer.h"

#include <fcntl.h>
#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "io/png_errors.h"
#include "core/log.h"

namespace qi {
namespace {

using namespace png_detail;

// ---- text ------------------------------------------------------------------------------------------------

// PNG keywords are 1-79 bytes (PNG specification, 11.3.4.2).
constexpr size_t kMaxKeyLength = 79;
constexpr char32_t kLastLatin1 = 0xFF;

// Decodes UTF-8, rejecting overlong forms, surrogates and values past U+10FFFF. Returns nullopt when
// `text` is not valid UTF-8.
std::optional<std::u32string> decode_utf8(std::string_view text) {
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    int extra;
    char32_t cp;
    char32_t min_value;
    if (lead < 0x80) {
      extra = 0, cp = lead, min_value = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1, cp = lead & 0x1F, min_value = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, cp = lead & 0x0F, min_value = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, cp = lead & 0x07, min_value = 0x10000;
    } else {
      return std::nullopt;
    }
    if (size_t(extra) >= text.size() - i) return std::nullopt;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + size_t(k)]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (next & 0x3F);
    }
    if (cp < min_value || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    out.push_back(cp);
    i += size_t(extra) + 1;
  }
  return out;
}

void check_text_key(const std::string& key) {
  const bool printable = std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
  if (key.empty() || key.size() > kMaxKeyLength || !printable || key.front() == ' ' || key.back() == ' ' ||
      key.find("  ") != std::string::npos)
    throw InputError("PNG text key \"" + key +
                     "\" is invalid: it must be 1-79 printable ASCII characters without leading, trailing or "
                     "doubled spaces");
}

// A text chunk ready for libpng: tEXt with Latin-1 bytes, or iTXt with the UTF-8 value.
struct EncodedText {
  std::string key;
  std::string bytes;
  bool international = false;
};

EncodedText encode_text(const PngTextEntry& entry) {
  check_text_key(entry.key);
  const auto code_points = decode_utf8(entry.value);
  if (!code_points) throw InputError("PNG text \"" + entry.key + "\" is not valid UTF-8");
  if (std::find(code_points->begin(), code_points->end(), U'\0') != code_points->end())
    throw InputError("PNG text \"" + entry.key + "\" contains a NUL character");
  EncodedText encoded{entry.key, {}, false};
  if (std::all_of(code_points->begin(), code_points->end(), [](char32_t cp) { return cp <= kLastLatin1; })) {
    for (char32_t cp : *code_points) encoded.bytes.push_back(static_cast<char>(cp));
  } else {
    encoded.bytes = entry.value;
    encoded.international = true;
  }
  return encoded;
}

// Python's str() of an int / shortest repr of a float, without a trailing ".0" for whole numbers.
std::string shortest_decimal(double value) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

// webui's infotext quoting: values holding ',', ':' or a newline become JSON strings (non-ASCII kept).
std::string quote_value(const std::string& value) {
  if (value.find_first_of(",:\n") == std::string::npos) return value;
  try {
    return nlohmann::json(value).dump();
  } catch (const nlohmann::json::exception&) {
    throw InputError("generation parameter \"" + value + "\" is not valid UTF-8");
  }
}

std::string trim_ascii_whitespace(const std::string& text) {
  constexpr const char* kWhitespace = " \t\n\r\f\v";
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string::npos) return {};
  const size_t last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

// ---- files -----------------------------------------------------------------------------------------------

// Path problems the user can fix are input errors; anything else while writing is a runtime failure.
[[noreturn]] void throw_file_error(const std::string& what, const std::filesystem::path& path, int error) {
  const std::string message = what + " " + path.string() + ": " + std::strerror(error);
  switch (error) {
    case EACCES: case EPERM: case ENOENT: case ENOTDIR: case EISDIR: case EROFS: case ENAMETOOLONG:
    case ELOOP: case EEXIST:
      throw InputError(message);
    default:
      throw RuntimeFailure(message);
  }
}

std::filesystem::path directory_of(const std::filesystem::path& path) {
  const std::filesystem::path parent = path.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

// New files are created with these permission bits, less the umask (as any program's output files are).
constexpr mode_t kNewFileMode = 0666;
// Attempts at a fresh temporary name before giving up (names only collide with leftovers of a crash).
constexpr int kMaxTempNameAttempts = 100;

// ".<name>.tmp.<pid>.<serial>": hidden, and unique among this process's writes.
std::string temp_name(const std::filesystem::path& target, unsigned serial) {
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp.";
  name += std::to_string(::getpid());
  name += '.';
  name += std::to_string(serial);
  return name;
}

// An open temporary file beside the target; removed on destruction unless committed by rename.
class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& target) {
    static std::atomic<unsigned> counter{0};
    const std::filesystem::path dir = directory_of(target);
    for (int attempt = 0; attempt < kMaxTempNameAttempts; ++attempt) {
      path_ = dir / temp_name(target, counter++);
      const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kNewFileMode);
      if (fd >= 0) {
        file_ = ::fdopen(fd, "wb");
        if (!file_) {
          const int error = errno;
          ::close(fd);
          ::unlink(path_.c_str());
          throw_file_error("cannot write PNG", target, error);
        }
        return;
      }
      if (errno != EEXIST) throw_file_error("cannot create a temporary file for PNG", target, errno);
    }
    throw RuntimeFailure("cannot create a temporary file for PNG " + target.string() +
                         ": too many leftover temporary files in " + dir.string());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (file_) std::fclose(file_);
    if (!committed_) ::unlink(path_.c_str());
  }

  FILE* file() const { return file_; }

  // Flushes the data to disk and closes the file; errno-based failure naming `target`.
  void sync_and_close(const std::filesystem::path& target) {
    FILE* file = file_;
    file_ = nullptr;
    const bool flushed = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
    const int error = errno;
    const bool closed = std::fclose(file) == 0;
    if (!flushed) throw_file_error("cannot write PNG", target, error);
    if (!closed) throw_file_error("cannot write PNG", target, errno);
  }

  void rename_to(const std::filesystem::path& target) {
    if (std::rename(path_.c_str(), target.c_str()) != 0) throw_file_error("cannot write PNG", target, errno);
    committed_ = true;
  }

 private:
  std::filesystem::path path_;
  FILE* file_ = nullptr;
  bool committed_ = false;
};

// Makes the rename itself durable. Best effort: some file systems cannot sync a directory, and the PNG is
// complete and in place whether or not this succeeds.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// ---- libpng ----------------------------------------------------------------------------------------------


void on_png_warning(png_structp, png_const_charp message) {
  try {
    log_warn(std::string("libpng: ") + message);
  } catch (...) {  // a failed log line must not unwind through libpng
  }
}

// Encodes the image into `file`. libpng reports errors by longjmp out of this function, so it owns no
// object with a destructor; returns false with state.message set on an error.
bool encode_png(FILE* file, int width, int height, const uint8_t* rgb, png_text* texts, int text_count,
                PngErrorState& state) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(state.message, sizeof state.message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(state.message, sizeof state.message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, png_uint_32(width), png_uint_32(height), kBitDepth, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (text_count > 0) png_set_text(png, info, texts, text_count);
  png_write_info(png, info);
  const size_t stride = size_t(width) * kChannels;
  for (int y = 0; y < height; ++y) png_write_row(png, rgb + size_t(y) * stride);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::string a1111_parameters(const GenerationParameters& p) {
  std::string fields = "Steps: " + std::to_string(p.steps);
  if (!p.sampler.empty()) fields += ", Sampler: " + quote_value(p.sampler);
  fields += ", CFG scale: " + shortest_decimal(p.cfg_scale);
  fields += ", Seed: " + std::to_string(p.seed);
  fields += ", Size: " + std::to_string(p.width) + "x" + std::to_string(p.height);
  if (!p.model.empty()) fields += ", Model: " + quote_value(p.model);

  std::string text = p.prompt;
  if (!p.negative_prompt.empty()) text += "\nNegative prompt: " + p.negative_prompt;
  text += "\n" + fields;
  if (!decode_utf8(text)) throw InputError("generation parameters are not valid UTF-8");
  return trim_ascii_whitespace(text);
}

void check_output_path_writable(const std::filesystem::path& path) {
  if (path.empty()) throw InputError("output path is empty");
  const std::filesystem::path dir = directory_of(path);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    throw InputError("cannot write " + path.string() + ": directory " + dir.string() + " does not exist");
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError("cannot write " + path.string() + ": " + dir.string() + " is not a directory");
  if (std::filesystem::is_directory(path, ec))
    throw InputError("cannot write " + path.string() + ": it is a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw InputError("cannot write " + path.string() + ": directory " + dir.string() +
                     " is not writable (" + std::strerror(errno) + ")");
}

void write_png_rgb8(const std::filesystem::path& path, int width, int height, const std::vector<uint8_t>& rgb,
                    const std::vector<PngTextEntry>& text) {
  if (width <= 0 || height <= 0)
    throw InputError("cannot write PNG " + path.string() + ": invalid size " + std::to_string(width) + "x" +
                     std::to_string(height));
  const size_t expected = size_t(width) * size_t(height) * kChannels;
  if (rgb.size() != expected)
    throw InputError("cannot write PNG " + path.string() + ": " + std::to_string(rgb.size()) +
                     " bytes of pixels for a " + std::to_string(width) + "x" + std::to_string(height) +
                     " RGB image (expected " + std::to_string(expected) + ")");

  std::vector<EncodedText> encoded;
  encoded.reserve(text.size());
  for (const PngTextEntry& entry : text) encoded.push_back(encode_text(entry));
  std::vector<png_text> chunks(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    png_text& chunk = chunks[i];
    chunk.compression = encoded[i].international ? PNG_ITXT_COMPRESSION_NONE : PNG_TEXT_COMPRESSION_NONE;
    chunk.key = encoded[i].key.data();
    chunk.text = encoded[i].bytes.data();
    chunk.text_length = encoded[i].international ? 0 : encoded[i].bytes.size();
    chunk.itxt_length = encoded[i].international ? encoded[i].bytes.size() : 0;
    chunk.lang = nullptr;
    chunk.lang_key = nullptr;
  }

  TempFile temp(path);
  PngErrorState state;
  if (!encode_png(temp.file(), width, height, rgb.data(), chunks.data(), int(chunks.size()), state))
    throw RuntimeFailure("cannot write PNG " + path.string() + ": libpng: " + state.message);
  temp.sync_and_close(path);
  temp.rename_to(path);
  sync_directory(directory_of(path));
}

}  // namespace qi

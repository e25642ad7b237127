#include "io/text_file.h"

#include <fstream>
#include <system_error>

#include "core/error.h"

namespace qi {

std::string read_text_file(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    throw InputError(std::string(what) + " " + path.string() + " does not exist");
  if (!std::filesystem::is_regular_file(status))
    throw InputError(std::string(what) + " " + path.string() + " is not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(std::string(what) + " " + path.string() + " cannot be read (" + ec.message() + ")");
  if (size > kMaxTextFileBytes)
    throw InputError(std::string(what) + " " + path.string() + " is " + std::to_string(size) +
                     " bytes, more than the " + std::to_string(kMaxTextFileBytes) + "-byte limit for a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(std::string(what) + " " + path.string() + " cannot be opened");
  std::string text(size, '\0');
  in.read(text.data(), std::streamsize(size));
  if (size_t(in.gcount()) != size) throw InputError(std::string(what) + " " + path.string() + " cannot be read");
  return text;
}

}  // namespace qi

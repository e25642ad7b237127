// Directories for tests (every test area uses these): a scratch directory removed at scope exit, and a
// directory nobody may write into.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace qi::test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "qi-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a scratch directory from " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    // Tests may leave read-only directories behind: give them back their write bit first.
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory(ec))
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                     ec);
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // Writes `contents` to path()/name (bytes as given) and returns the file's path.
  std::filesystem::path write(const std::string& name, std::string_view contents) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), std::streamsize(contents.size()));
    if (!out) throw std::runtime_error("cannot write " + file.string());
    return file;
  }

  // Every entry of the directory tree (relative paths, sorted): a failed run must leave nothing behind (no
  // output, no temporary file).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path_))
      names.push_back(std::filesystem::relative(e.path(), path_).string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

// A directory in which nobody, root included, may create a file: /proc/sys (the kernel's sysctl
// permission check refuses writes whatever the caller's capabilities; containers also mount it read-only).
// Root ignores permission bits, so a chmod'ed directory does not test a refusal when the tests run as root.
// Empty where this system has no such directory (no /proc).
inline std::optional<std::filesystem::path> unwritable_directory() {
  const std::filesystem::path dir = "/proc/sys";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec) || ::access(dir.c_str(), W_OK | X_OK) == 0) return std::nullopt;
  return dir;
}

}  // namespace qi::test

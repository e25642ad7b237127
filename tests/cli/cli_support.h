// Running the real qwen-image-vk binary (QI_BINARY_PATH) from the CLI tests: exit status, stdout and
// stderr of one run, scratch directories, and copies of the tiny-a model to corrupt.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace qi::test {

struct RunResult {
  int exit_code = -1;      // the process's exit status; -1 when it was killed by a signal
  int signal = 0;          // the signal that killed it (never expected)
  std::string out, err;    // stdout and stderr
};

// Runs QI_BINARY_PATH with `args` (each passed as one argument, bytes intact), with `env` entries
// ("NAME=value") added to the environment and `stdin_file` (if not empty) as standard input.
RunResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                  const std::string& stdin_file = "");

// A fresh directory under the system temp dir, removed (recursively) at scope exit.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Every entry of the directory tree (relative paths, sorted): used to check that a failed run left
  // nothing behind (no output, no temporary file).
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

// A writable copy of the tiny-a model at `dst`.
void copy_tiny_model(const std::filesystem::path& dst);

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

}  // namespace qi::test

// Running the real qwen-image-vk binary (QI_BINARY_PATH) from the CLI tests: exit status, stdout and
// stderr of one run (scratch directories: support/scratch_dir.h), and copies of the tiny-a model to corrupt.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/scratch_dir.h"

namespace qi::test {

struct RunResult {
  int exit_code = -1;      // the process's exit status; -1 when it was killed by a signal
  int signal = 0;          // the signal that killed it (never expected)
  bool timed_out = false;  // still running after the timeout: killed with SIGKILL (a hang)
  std::string out, err;    // stdout and stderr
};

// Runs QI_BINARY_PATH with `args` (each passed as one argument, bytes intact), with `env` entries
// ("NAME=value") added to the environment and `stdin_file` (if not empty) as standard input. A non-zero
// `timeout` kills a run that takes longer (timed_out, signal SIGKILL).
RunResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                  const std::string& stdin_file = "", std::chrono::seconds timeout = std::chrono::seconds(0));

// A writable copy of the tiny-a model at `dst`.
void copy_tiny_model(const std::filesystem::path& dst);

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

}  // namespace qi::test

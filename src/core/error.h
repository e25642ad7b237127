// Error types. Every failure the user can cause is one of these, with one clear message; the CLI maps
// UsageError to exit code 2 and everything else to exit code 1.
#pragma once
#include <stdexcept>
#include <string>

namespace qi {

// Bad command line or bad option values: exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad input files (model directory, weights, tokenizer, noise file): exit code 1.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// GPU / runtime failures (no device, out of memory, device lost, NaN guard): exit code 1.
struct RuntimeFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace qi

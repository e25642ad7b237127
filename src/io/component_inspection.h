// One weight component examined the way `qwen-image-vk inspect` reports it: every tensor, the check
// against the config, and health statistics that catch silent load failures (zero-filled or non-finite
// weights). Problems are recorded, not thrown, so that one broken component does not hide the others.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "io/model_dir.h"
#include "io/tensor_health.h"
#include "io/tensor_loading.h"

namespace qi {

struct TensorReport {
  const TensorView* view = nullptr;
  bool used = false;                   // read by the pipeline (not lm_head, the vision tower, ...)
  std::optional<TensorHealth> health;  // for used tensors, when statistics were requested
};

struct ComponentInspection {
  std::string component;   // "transformer", "vae" or "text_encoder"
  std::string open_error;  // the store could not be opened or its layout recognised; nothing else is filled
  TensorStore store;
  std::vector<TensorReport> tensors;  // in store.names() order
  size_t expected_tensors = 0;        // how many tensors the config implies
  std::string check_error;            // check_tensors' report; empty when the tensors match the config
  std::optional<LoadStats> read;      // the prefetch before the statistics
  std::vector<std::string> unhealthy;  // "decoder.conv_in.weight is all zero"
  int64_t used_parameters = 0;
  int64_t all_parameters = 0;

  bool broken() const { return !open_error.empty() || !check_error.empty() || !unhealthy.empty(); }
};

// Opens and checks one component of `model`; with `stats`, prefetches and scans the used tensors on
// `threads` threads (0 = all cores). A VAE that ships its encoder is checked with it.
ComponentInspection inspect_component(const ModelDir& model, const std::string& component, bool stats,
                                      unsigned threads = 0);

}  // namespace qi

// Fuzzes the config parsers (transformer, VAE, text encoder, scheduler, model_index.json) on one JSON blob.
// Only InputError may escape; UndefinedBehaviorSanitizer checks the size arithmetic of accepted configs,
// which also feed the weight-map derivation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/model_config.h"
#include "io/model_dir.h"
#include "io/weight_map.h"

namespace {

template <class Fn>
void expect_input_errors_only(Fn&& fn) {
  try {
    fn();
  } catch (const qi::InputError&) {
  }
}

// Shape derivation over configs with thousands of layers is slow and proves nothing more: cap the work.
constexpr int kMaxLayersToExpand = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  expect_input_errors_only([&] {
    auto c = qi::parse_transformer_config_text(text, "transformer/config.json");
    if (c.num_layers <= kMaxLayersToExpand) qi::expected_transformer_tensors(c);
  });
  expect_input_errors_only([&] {
    auto c = qi::parse_vae_config_text(text, "vae/config.json");
    if (c.num_res_blocks <= kMaxLayersToExpand) qi::expected_vae_tensors(c, true);
  });
  expect_input_errors_only([&] {
    auto c = qi::parse_text_encoder_config_text(text, "text_encoder/config.json");
    if (c.num_hidden_layers <= kMaxLayersToExpand) qi::expected_text_encoder_tensors(c, "model.");
  });
  expect_input_errors_only([&] { qi::parse_scheduler_config_text(text, "scheduler/scheduler_config.json"); });
  expect_input_errors_only([&] { qi::parse_model_index(text, "model_index.json"); });
  return 0;
}

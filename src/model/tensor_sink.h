// Receives named intermediate tensors (names as in the fixture reference, e.g. "vae.decoder.conv_in") for
// --dump and the parity command. Models call it only when one is set, so normal runs never synchronise.
#pragma once
#include <functional>
#include <string>

#include "core/tensor.h"

namespace qi {

using TensorSink = std::function<void(const std::string& name, const Tensor& t)>;

inline void emit(const TensorSink& sink, const std::string& name, const Tensor& t) {
  if (sink) sink(name, t);
}

}  // namespace qi

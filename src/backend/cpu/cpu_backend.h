// The fp32 CPU reference backend: clear code, multithreaded where cheap. Every other backend is checked
// against it.
#pragma once
#include <memory>

#include "ops/backend.h"

namespace qi {

// threads = 0: one per hardware thread.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace qi

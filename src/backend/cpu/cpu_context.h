// What the CPU op implementations share: the owning backend (for allocation and ownership checks), the
// thread pool, argument validation that names the op and the shapes, and raw access to host storage.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "backend/cpu/host_storage.h"
#include "backend/cpu/thread_pool.h"
#include "ops/backend.h"

namespace qi::cpu {

struct CpuContext {
  Backend& backend;
  ThreadPool& pool;

  // A fresh output tensor (poisoned when the backend poisons allocations).
  Tensor alloc(const Shape& shape, DType dtype) const { return backend.empty(shape, dtype); }
};

// Throws std::invalid_argument("<op>: <message>").
[[noreturn]] void fail(std::string_view op, const std::string& message);

// Checks that t is defined and lives in this backend's host memory.
void check_tensor(const CpuContext& ctx, std::string_view op, std::string_view name, const Tensor& t);
// check_tensor plus dtype F32.
void check_f32(const CpuContext& ctx, std::string_view op, std::string_view name, const Tensor& t);
// check_tensor plus a floating dtype (F32, F16 or BF16): weights and other parameters.
void check_float(const CpuContext& ctx, std::string_view op, std::string_view name, const Tensor& t);
void check_rank(std::string_view op, std::string_view name, const Tensor& t, int rank);
void check_min_rank(std::string_view op, std::string_view name, const Tensor& t, int rank);

inline bool is_float_dtype(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

// Raw storage of a tensor that passed check_tensor (or was allocated by this backend).
inline void* raw_data(const Tensor& t) { return static_cast<HostStorage*>(t.storage())->data(); }
inline float* f32_data(const Tensor& t) { return static_cast<float*>(raw_data(t)); }

// Widens n elements of src (F32, F16 or BF16) to fp32.
void widen_to_f32(const void* src, DType dtype, int64_t n, float* dst);
// The whole tensor (F32, F16 or BF16) as fp32 values: for small parameters such as biases and gammas.
std::vector<float> read_f32(const Tensor& t);

}  // namespace qi::cpu

// The fp32 GEMM every heavy CPU op is built on (linear layers, attention scores and values, convolutions).
// Cache-blocked: the right-hand operand is packed (and widened from F16/BF16 to fp32) one block at a time
// into panels of 16 columns, and a register-blocked micro-kernel of 6 rows × 16 columns runs over them.
// Accumulation is fp32 in a fixed order that does not depend on the thread count.
#pragma once
#include <cstdint>

#include "backend/cpu/thread_pool.h"
#include "core/dtype.h"

namespace qi::cpu {

// How the right-hand matrix B is stored (row-major, leading dimension ld).
enum class RhsLayout : uint8_t {
  NK,  // B is [N, K] (PyTorch Linear weight): C = A·Bᵀ
  KN,  // B is [K, N]: C = A·B
};

struct RhsMatrix {
  const void* data = nullptr;
  DType dtype = DType::F32;  // F32, F16 or BF16
  int64_t ld = 0;
  RhsLayout layout = RhsLayout::NK;
};

// C[M, N] = A[M, K] · B (B read as RhsMatrix says). A and C are fp32 row-major with leading dimensions lda
// and ldc; C is overwritten. With a pool the tiles of C are spread over its threads.
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const RhsMatrix& b, float* c, int64_t ldc,
          ThreadPool* pool);

}  // namespace qi::cpu

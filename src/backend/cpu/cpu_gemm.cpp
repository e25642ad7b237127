#include "backend/cpu/cpu_gemm.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace qi::cpu {
namespace {

constexpr int64_t kPanelWidth = 16;   // columns of C per micro-kernel call: 2 AVX2 or 4 SSE vectors
constexpr int kMicroRows = 6;         // rows of C per micro-kernel call: 6 × 16 accumulators fit the registers
constexpr int64_t kDepthBlock = 256;  // K per packed block: one panel slice (16 KiB) stays in L1
constexpr int64_t kColumnBlock = 256; // columns per task: one packed block (256 KiB) stays in L2
constexpr int64_t kMinRowsPerTask = 48;  // below this, splitting rows over tasks costs more than it saves

// Native vector types: 8 lanes with AVX2, 4 lanes with the baseline SSE2.
using Vec8 = float __attribute__((vector_size(8 * sizeof(float))));
using Vec4 = float __attribute__((vector_size(4 * sizeof(float))));

// Packs B[cols n0..n0+width, depth k0..k0+depth] into panels of kPanelWidth columns, each stored k-major
// ([depth][kPanelWidth]); columns past `width` are zero.
template <typename Element, typename Widen>
__attribute__((always_inline)) inline void pack_block_typed(const Element* b, int64_t ld, RhsLayout layout,
                                                             int64_t n0, int64_t width, int64_t k0, int64_t depth,
                                                             float* out, Widen widen) {
  for (int64_t p = 0; p * kPanelWidth < width; ++p) {
    float* panel = out + p * depth * kPanelWidth;
    int64_t cols = std::min(kPanelWidth, width - p * kPanelWidth);
    int64_t col0 = n0 + p * kPanelWidth;
    if (layout == RhsLayout::NK) {
      for (int64_t j = 0; j < cols; ++j) {
        const Element* row = b + (col0 + j) * ld + k0;
        for (int64_t kk = 0; kk < depth; ++kk) panel[kk * kPanelWidth + j] = widen(row[kk]);
      }
    } else {
      for (int64_t kk = 0; kk < depth; ++kk) {
        const Element* row = b + (k0 + kk) * ld + col0;
        for (int64_t j = 0; j < cols; ++j) panel[kk * kPanelWidth + j] = widen(row[j]);
      }
    }
    if (cols < kPanelWidth)
      for (int64_t kk = 0; kk < depth; ++kk)
        for (int64_t j = cols; j < kPanelWidth; ++j) panel[kk * kPanelWidth + j] = 0.0f;
  }
}

__attribute__((always_inline)) inline void pack_block(const RhsMatrix& b, int64_t n0, int64_t width, int64_t k0,
                                                       int64_t depth, float* out) {
  switch (b.dtype) {
    case DType::F16:
      pack_block_typed(static_cast<const uint16_t*>(b.data), b.ld, b.layout, n0, width, k0, depth, out,
                       [](uint16_t h) { return f16_to_f32(h); });
      return;
    case DType::BF16:
      pack_block_typed(static_cast<const uint16_t*>(b.data), b.ld, b.layout, n0, width, k0, depth, out,
                       [](uint16_t h) { return bf16_to_f32(h); });
      return;
    default:
      pack_block_typed(static_cast<const float*>(b.data), b.ld, b.layout, n0, width, k0, depth, out,
                       [](float f) { return f; });
      return;
  }
}

// Vectors travel by reference: passing them by value would depend on the target's vector ABI.
template <typename Vec>
__attribute__((always_inline)) inline void load_vec(Vec& v, const float* p) {
  std::memcpy(&v, p, sizeof(v));
}

// C[rows, cols] (+)= A[rows, depth] · panel[depth, kPanelWidth], rows <= kMicroRows, cols <= kPanelWidth.
// Vec is the native vector of the target the caller is compiled for; the accumulators are never addressed,
// so they stay in registers.
template <typename Vec, int Rows>
__attribute__((always_inline)) inline void micro_kernel(const float* a, int64_t lda, const float* panel,
                                                        int64_t depth, float* c, int64_t ldc, int64_t cols,
                                                        bool accumulate) {
  constexpr int kLanes = int(sizeof(Vec) / sizeof(float));
  constexpr int kVecs = int(kPanelWidth) / kLanes;
  Vec acc[Rows][kVecs];
  for (int i = 0; i < Rows; ++i)
    for (int v = 0; v < kVecs; ++v) acc[i][v] = Vec{};
  for (int64_t kk = 0; kk < depth; ++kk) {
    Vec bv[kVecs];
    for (int v = 0; v < kVecs; ++v) load_vec(bv[v], panel + kk * kPanelWidth + v * kLanes);
    for (int i = 0; i < Rows; ++i) {
      float ai = a[i * lda + kk];
      for (int v = 0; v < kVecs; ++v) acc[i][v] += ai * bv[v];
    }
  }
  for (int i = 0; i < Rows; ++i) {
    float* row = c + i * ldc;
    for (int v = 0; v < kVecs; ++v) {
      Vec out = acc[i][v];
      int64_t j0 = int64_t(v) * kLanes;
      if (j0 + kLanes <= cols) {
        if (accumulate) {
          Vec old;
          load_vec(old, row + j0);
          out += old;
        }
        std::memcpy(row + j0, &out, sizeof(out));
      } else {
        for (int64_t j = j0; j < cols; ++j) row[j] = accumulate ? row[j] + out[j - j0] : out[j - j0];
      }
    }
  }
}

template <typename Vec>
__attribute__((always_inline)) inline void micro_kernel_rows(int rows, const float* a, int64_t lda,
                                                             const float* panel, int64_t depth, float* c,
                                                             int64_t ldc, int64_t cols, bool accumulate) {
  switch (rows) {
    case 6: micro_kernel<Vec, 6>(a, lda, panel, depth, c, ldc, cols, accumulate); return;
    case 5: micro_kernel<Vec, 5>(a, lda, panel, depth, c, ldc, cols, accumulate); return;
    case 4: micro_kernel<Vec, 4>(a, lda, panel, depth, c, ldc, cols, accumulate); return;
    case 3: micro_kernel<Vec, 3>(a, lda, panel, depth, c, ldc, cols, accumulate); return;
    case 2: micro_kernel<Vec, 2>(a, lda, panel, depth, c, ldc, cols, accumulate); return;
    default: micro_kernel<Vec, 1>(a, lda, panel, depth, c, ldc, cols, accumulate); return;
  }
}
static_assert(kMicroRows == 6, "micro_kernel_rows dispatches 1..6 rows");

// One task: C[m0..m1, n0..n0+width]. `packed` holds kDepthBlock × kColumnBlock floats.
struct TileArgs {
  int64_t m0, m1, n0, width, k;
  const float* a;
  int64_t lda;
  const RhsMatrix* b;
  float* c;
  int64_t ldc;
  float* packed;
};

template <typename Vec>
__attribute__((always_inline)) inline void gemm_tile_impl(const TileArgs& t) {
  if (t.k == 0) {
    for (int64_t i = t.m0; i < t.m1; ++i) std::fill(t.c + i * t.ldc + t.n0, t.c + i * t.ldc + t.n0 + t.width, 0.0f);
    return;
  }
  for (int64_t k0 = 0; k0 < t.k; k0 += kDepthBlock) {
    int64_t depth = std::min(kDepthBlock, t.k - k0);
    pack_block(*t.b, t.n0, t.width, k0, depth, t.packed);
    for (int64_t p = 0; p * kPanelWidth < t.width; ++p) {
      const float* panel = t.packed + p * depth * kPanelWidth;
      int64_t cols = std::min(kPanelWidth, t.width - p * kPanelWidth);
      for (int64_t i = t.m0; i < t.m1; i += kMicroRows) {
        int rows = int(std::min<int64_t>(kMicroRows, t.m1 - i));
        micro_kernel_rows<Vec>(rows, t.a + i * t.lda + k0, t.lda, panel, depth,
                               t.c + i * t.ldc + t.n0 + p * kPanelWidth, t.ldc, cols, k0 > 0);
      }
    }
  }
}

void gemm_tile_baseline(const TileArgs& t) { gemm_tile_impl<Vec4>(t); }

#if defined(__x86_64__) && defined(__GNUC__)
#define QI_CPU_HAVE_AVX2_KERNEL 1
// The same code compiled for AVX2 + FMA (8 lanes, fused multiply-add), chosen at run time when the CPU has them.
__attribute__((target("avx2,fma"))) void gemm_tile_avx2(const TileArgs& t) { gemm_tile_impl<Vec8>(t); }
#endif

using TileFunction = void (*)(const TileArgs&);

TileFunction select_tile_function() {
#ifdef QI_CPU_HAVE_AVX2_KERNEL
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gemm_tile_avx2;
#endif
  return gemm_tile_baseline;
}

}  // namespace

void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const RhsMatrix& b, float* c, int64_t ldc,
          ThreadPool* pool) {
  if (b.dtype != DType::F32 && b.dtype != DType::F16 && b.dtype != DType::BF16)
    throw std::logic_error("gemm: unsupported right-hand dtype " + std::string(dtype_name(b.dtype)));
  if (m <= 0 || n <= 0) return;
  int64_t column_tasks = (n + kColumnBlock - 1) / kColumnBlock;
  // Split rows too when there are fewer column blocks than threads (narrow outputs such as 64 channels).
  int64_t threads = pool ? pool->threads() : 1;
  int64_t row_tasks = 1;
  if (column_tasks < 2 * threads) {
    int64_t wanted = (2 * threads + column_tasks - 1) / column_tasks;
    row_tasks = std::clamp<int64_t>(m / kMinRowsPerTask, 1, wanted);
  }
  int64_t rows_per_task = (m + row_tasks - 1) / row_tasks;
  rows_per_task = (rows_per_task + kMicroRows - 1) / kMicroRows * kMicroRows;
  row_tasks = (m + rows_per_task - 1) / rows_per_task;

  static const TileFunction tile = select_tile_function();
  auto run = [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> packed;
    packed.resize(size_t(kDepthBlock * kColumnBlock));
    for (int64_t t = begin; t < end; ++t) {
      int64_t n0 = (t % column_tasks) * kColumnBlock;
      int64_t m0 = (t / column_tasks) * rows_per_task;
      tile(TileArgs{m0, std::min(m, m0 + rows_per_task), n0, std::min(kColumnBlock, n - n0), k, a, lda, &b, c, ldc,
                    packed.data()});
    }
  };
  int64_t tasks = column_tasks * row_tasks;
  if (pool)
    pool->parallel_for(tasks, 1, run);
  else
    run(0, tasks);
}

}  // namespace qi::cpu

// Parallel prefetch and copy: every byte arrives, the byte count is exact, and thread counts do not matter.
#include <gtest/gtest.h>

#include "core/parallel_for.h"
#include "io/tensor_loading.h"
#include "temp_files.h"

namespace qi {
namespace {

TEST(ParallelFor, VisitsEveryIndexOnceAndRethrows) {
  for (unsigned threads : {0u, 1u, 3u, 16u}) {
    std::vector<int> hits(1000, 0);
    parallel_for(hits.size(), threads, [&](size_t i) { hits[i]++; });
    EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), 1000) << threads;
  }
  EXPECT_THROW(parallel_for(100, 4, [](size_t i) { if (i == 57) throw std::runtime_error("x"); }), std::runtime_error);
  parallel_for(0, 4, [](size_t) { FAIL(); });
}

// Tensors large enough to span several 16 MiB chunks, plus small and empty ones.
struct LoadFixture {
  test::ScratchDir dir;
  TensorStore store;
  LoadFixture() {
    write_safetensors(dir / "w.safetensors", {test::patterned_tensor("big", DType::BF16, {5, 4 << 20}),
                                              test::patterned_tensor("small", DType::F32, {3}),
                                              test::patterned_tensor("empty", DType::F16, {0})});
    store = TensorStore::open_dir(dir.path());
  }
};

TEST(TensorLoading, CopyDeliversEveryByte) {
  LoadFixture f;
  for (unsigned threads : {1u, 2u, 5u}) {
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<TensorCopy> copies;
    for (const auto& name : f.store.names()) buffers.emplace_back(f.store.get(name).bytes, 0xAB);
    size_t i = 0;
    for (const auto& name : f.store.names()) copies.push_back({&f.store.get(name), buffers[i++].data()});
    LoadStats stats = copy_tensors(copies, threads);
    EXPECT_EQ(stats.bytes, f.store.total_bytes());
    EXPECT_GT(stats.gigabytes_per_second(), 0);
    for (size_t k = 0; k < copies.size(); ++k)
      ASSERT_TRUE(std::equal(buffers[k].begin(), buffers[k].end(), copies[k].src->data)) << copies[k].src->name;
  }
}

TEST(TensorLoading, PrefetchReadsTheNamedTensors) {
  LoadFixture f;
  const std::vector<std::string> all = f.store.names();
  LoadStats stats = prefetch_store(f.store, all, 2);
  EXPECT_EQ(stats.bytes, f.store.total_bytes());
  EXPECT_EQ(stats.bytes, 5u * (4u << 20) * 2u + 12u);
  EXPECT_EQ(store_bytes(f.store, all), f.store.total_bytes());
  // A subset (and names the store lacks, skipped): only those bytes.
  const std::vector<std::string> some = {all.front(), "no.such.tensor"};
  const uint64_t first = f.store.get(all.front()).bytes;
  EXPECT_EQ(prefetch_store(f.store, some, 2).bytes, first);
  EXPECT_EQ(store_bytes(f.store, some), first);
}

}  // namespace
}  // namespace qi

// The weight-streaming ring (model/weight_stream.h) on the CPU and Vulkan backends: which group each slot
// holds as forward passes go round, prefetching, and the hazard that matters: the copy of group j+2 into
// the slot of group j is recorded right after group j's reads (no wait in between), and those reads must
// still see group j. The Vulkan backend runs with synchronization validation and must stay silent.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "model/weight_stream.h"

namespace qi {
namespace {

constexpr int64_t kN = 24, kK = 40, kRows = 5;

struct Case {
  const char* label;
  bool vulkan;
};

class WeightStreamRing : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    be = GetParam().vulkan ? make_vulkan_backend({.validation = true, .verbose = false}) : make_cpu_backend(2);
    be->set_poison_allocations(true);  // the slots start as NaN
    messages_before = vulkan_validation_message_count();
  }
  void TearDown() override {
    be.reset();
    EXPECT_EQ(vulkan_validation_message_count(), messages_before) << "Vulkan validation messages";
  }

  std::vector<float> random(int64_t n) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(size_t(n), 0.0f);
    for (float& x : v) x = u(rng);
    return v;
  }
  // Group g: two weights (a matrix and a differently shaped one), distinct for every group.
  std::vector<Tensor> make_group(std::vector<std::vector<float>>& host) {
    host.push_back(random(kN * kK));
    std::vector<Tensor> g;
    g.push_back(be->upload_host_weight(host.back().data(), DType::F32, {kN, kK}));
    g.push_back(be->upload_host_weight(host.back().data(), DType::F32, {kK, kN}));
    return g;
  }

  std::unique_ptr<Backend> be;
  uint64_t messages_before = 0;
  std::mt19937 rng{1234};
};

// Three forward passes over 5 groups with a ring of 2: every acquire after the first finds its group
// already copied (prefetched by the previous acquire), each pass copies every group once, and every matmul
// reads the group it asked for although the next-but-one group overwrites that slot right after.
TEST_P(WeightStreamRing, ReusesSlotsOnlyAfterTheirReads) {
  constexpr int kGroups = 5, kPasses = 3;
  WeightStream ws(*be, 2);
  std::vector<std::vector<float>> host;
  std::vector<Tensor> reference;  // the same weights uploaded directly
  for (int g = 0; g < kGroups; ++g) {
    EXPECT_EQ(ws.add_group(make_group(host)), g);
    reference.push_back(be->upload_weight(host.back().data(), DType::F32, {kN, kK}));
  }
  EXPECT_EQ(ws.group_bytes(), uint64_t(2 * kN * kK * 4));
  const std::vector<float> xv = random(kRows * kK);
  const Tensor x = be->from_host_f32(xv, {kRows, kK});

  std::vector<Tensor> got, want;
  for (int pass = 0; pass < kPasses; ++pass)
    for (int g = 0; g < kGroups; ++g) {
      const std::vector<Tensor>& w = ws.acquire(g);
      ASSERT_EQ(w.size(), 2u);
      EXPECT_EQ(w[1].shape(), (Shape{kK, kN}));
      got.push_back(be->matmul(x, w[0]));
      // Records the prefetch of group g+1 into the slot group g-1 was read from (a write after read).
      while (ws.stats().copies < ws.stats().loads * 2) ws.pump();
      want.push_back(be->matmul(x, reference[size_t(g)]));
    }
  // Nothing was waited for until here: on Vulkan the whole sequence is one stream of commands.
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(be->to_host_f32(got[i]), be->to_host_f32(want[i])) << "call " << i;

  const WeightStream::Stats& s = ws.stats();
  EXPECT_EQ(s.acquires, uint64_t(kGroups * kPasses));
  // The first acquire loads group 0 and prefetches group 1; then one prefetch per acquire.
  EXPECT_EQ(s.loads, uint64_t(kGroups * kPasses + 1));
  EXPECT_EQ(s.copies, 2 * s.loads);
  EXPECT_EQ(s.bytes, s.loads * ws.group_bytes());
  EXPECT_EQ(s.pumped, s.copies - 2);  // all but group 0's first load went through pump()
}

// Without pump() calls the queued copies are made when their group is acquired: same results.
TEST_P(WeightStreamRing, AcquireFlushesWhatPumpDidNotCopy) {
  WeightStream ws(*be, 2);
  std::vector<std::vector<float>> host;
  for (int g = 0; g < 3; ++g) ws.add_group(make_group(host));
  const Tensor x = be->from_host_f32(random(kRows * kK), {kRows, kK});
  for (int round = 0; round < 2; ++round)
    for (int g = 0; g < 3; ++g) {
      const Tensor y = be->matmul(x, ws.acquire(g)[0]);
      const Tensor ref = be->upload_weight(host[size_t(g)].data(), DType::F32, {kN, kK});
      EXPECT_EQ(be->to_host_f32(y), be->to_host_f32(be->matmul(x, ref))) << "group " << g;
    }
  EXPECT_EQ(ws.stats().pumped, 0u);
}

// Groups acquired out of order (not the cyclic order the prefetch expects) are still correct; a ring at
// least as large as the model keeps every group after the first pass (no further copies); a ring of one
// slot works without prefetching.
TEST_P(WeightStreamRing, OutOfOrderLargeRingAndSingleSlot) {
  std::vector<std::vector<float>> host;
  WeightStream big(*be, 4), single(*be, 1), small(*be, 2);
  for (int g = 0; g < 3; ++g) {
    std::vector<Tensor> group = make_group(host);
    big.add_group(group);
    single.add_group(group);
    small.add_group(group);
  }
  const Tensor x = be->from_host_f32(random(kRows * kK), {kRows, kK});
  auto check = [&](WeightStream& ws, int g) {
    const Tensor y = be->matmul(x, ws.acquire(g)[0]);
    ws.pump();
    const Tensor ref = be->upload_weight(host[size_t(g)].data(), DType::F32, {kN, kK});
    EXPECT_EQ(be->to_host_f32(y), be->to_host_f32(be->matmul(x, ref))) << "group " << g;
  };
  for (int g : {0, 1, 2, 0, 1, 2}) check(big, g);
  EXPECT_EQ(big.stats().loads, 3u);  // three slots used, never reloaded
  for (int g : {0, 1, 2, 0, 1, 2}) check(single, g);
  EXPECT_EQ(single.stats().loads, 6u);
  for (int g : {2, 0, 0, 1, 2, 1, 0, 2}) check(small, g);
}

TEST_P(WeightStreamRing, RefusesGroupsOfAnotherLayoutAndBadIndices) {
  WeightStream ws(*be, 2);
  std::vector<std::vector<float>> host;
  ws.add_group(make_group(host));
  std::vector<Tensor> other = make_group(host);
  other.pop_back();
  EXPECT_THROW(ws.add_group(other), std::invalid_argument);
  EXPECT_THROW(ws.acquire(1), std::out_of_range);
  EXPECT_THROW(ws.acquire(-1), std::out_of_range);
  EXPECT_THROW(WeightStream(*be, 0), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Backends, WeightStreamRing, ::testing::Values(Case{"cpu", false}, Case{"vulkan", true}),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace qi

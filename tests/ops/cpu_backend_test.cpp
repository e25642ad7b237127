// The CPU backend's non-numeric contract: memory accounting, poisoning, weight formats, profiling, variants,
// and argument validation that names the op.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "ops/op_test_util.h"

namespace qi::test {
namespace {

TEST(CpuBackend, MemoryStatsTrackLiveBytesAndPeak) {
  auto be = make_cpu_backend(1);
  EXPECT_EQ(be->memory_stats().in_use, 0u);
  {
    Tensor a = be->empty({100, 10}, DType::F32);
    Tensor b = be->empty({7}, DType::U8);
    EXPECT_EQ(be->memory_stats().in_use, 4007u);
    Tensor view = a.reshape({1000});  // shares storage: no new bytes
    EXPECT_EQ(be->memory_stats().in_use, 4007u);
  }
  EXPECT_EQ(be->memory_stats().in_use, 0u);
  EXPECT_EQ(be->memory_stats().peak, 4007u);
  be->reset_peak_memory();
  EXPECT_EQ(be->memory_stats().peak, 0u);
  Tensor c = be->empty({3}, DType::F16);
  EXPECT_EQ(be->memory_stats().peak, 6u);
}

TEST(CpuBackend, TensorsMayOutliveTheBackend) {
  Tensor t;
  {
    auto be = make_cpu_backend(1);
    t = be->empty({4}, DType::F32);
  }
  EXPECT_EQ(t.numel(), 4);  // releasing t afterwards must not touch the destroyed backend
}

TEST(CpuBackend, PoisonFillsNaNForFloatsAndOnesForIntegers) {
  auto be = make_cpu_backend(1);
  be->set_poison_allocations(true);
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    std::vector<float> v = be->to_host_f32(be->empty({5}, d));
    for (float f : v) EXPECT_TRUE(std::isnan(f)) << dtype_name(d);
  }
  std::vector<int32_t> ints(3);
  be->to_host(be->empty({3}, DType::I32), ints.data());
  for (int32_t i : ints) EXPECT_EQ(i, -1);
  std::vector<uint8_t> bytes(3);
  be->to_host(be->empty({3}, DType::U8), bytes.data());
  for (uint8_t b : bytes) EXPECT_EQ(b, 0xFF);
}

TEST(CpuBackend, UploadWeightKeepsFormatAndCountsValues) {
  auto be = make_cpu_backend(1);
  WeightUploadStats stats;
  std::vector<uint16_t> bf = {f32_to_bf16(1.5f), f32_to_bf16(-3e38f)};
  Tensor w = be->upload_weight(bf.data(), DType::BF16, {2}, &stats);
  EXPECT_EQ(w.dtype(), DType::BF16);
  EXPECT_EQ(be->to_host_f32(w), (std::vector<float>{1.5f, bf16_to_f32(bf[1])}));
  std::vector<float> f = {1, 2, 3};
  Tensor wf = be->upload_weight(f.data(), DType::F32, {3}, &stats);
  EXPECT_EQ(wf.dtype(), DType::F32);
  EXPECT_EQ(stats.values, 5);
  EXPECT_EQ(stats.overflowed, 0);  // kept as given: nothing narrows
  std::vector<uint16_t> h = {f32_to_f16(0.25f)};
  EXPECT_EQ(be->upload_weight(h.data(), DType::F16, {1}).dtype(), DType::F16);
  std::vector<int32_t> ints = {1};
  EXPECT_THROW(be->upload_weight(ints.data(), DType::I32, {1}), std::invalid_argument);
}

TEST(CpuBackend, FromHostWidensOrCopiesExactly) {
  auto be = make_cpu_backend(1);
  std::vector<uint16_t> h = {f32_to_f16(0.5f), f32_to_f16(-2.0f)};
  EXPECT_EQ(be->to_host_f32(be->from_host(h.data(), DType::F16, {2}, DType::F32)), (std::vector<float>{0.5f, -2.0f}));
  std::vector<float> f = {1.0f};
  EXPECT_THROW(be->from_host(f.data(), DType::F32, {1}, DType::F16), std::invalid_argument);
  std::vector<uint8_t> u = {7, 9};
  Tensor t = be->from_host(u.data(), DType::U8, {2}, DType::U8);
  EXPECT_EQ(be->to_host_f32(t), (std::vector<float>{7, 9}));
}

TEST(CpuBackend, ProfilingRecordsOpsOnlyWhenOn) {
  auto be = make_cpu_backend(1);
  Tensor x = be->from_host_f32({1, 2, 3, 4}, {2, 2});
  be->scale(x, 2.0f);
  EXPECT_TRUE(be->op_timings().empty());
  be->set_profiling(true);
  be->scale(x, 2.0f);
  be->scale(x, 3.0f);
  be->transpose(x);
  auto timings = be->op_timings();
  ASSERT_EQ(timings.size(), 2u);
  for (const OpTiming& t : timings) {
    EXPECT_EQ(t.count, t.op == "scale" ? 2u : 1u) << t.op;
    EXPECT_GE(t.total_ms, 0.0);
  }
  be->set_profiling(false);
  be->scale(x, 2.0f);
  EXPECT_EQ(be->op_timings().size(), 2u);
}

TEST(CpuBackend, EveryOpHasTheReferenceVariant) {
  auto be = make_cpu_backend(1);
  for (const std::string& op : all_op_names()) {
    EXPECT_EQ(be->variants(op), (std::vector<std::string>{"reference"})) << op;
    EXPECT_NO_THROW(be->select_variant(op, "reference"));
    EXPECT_NO_THROW(be->select_variant(op, ""));
  }
  EXPECT_THROW(be->select_variant("matmul", "coopmat_nv"), std::invalid_argument);
  EXPECT_THROW(be->select_variant("no_such_op", ""), std::invalid_argument);
  EXPECT_TRUE(be->variants("no_such_op").empty());
}

// The message names the op and the offending shape.
void expect_invalid(const std::function<void()>& call, const std::string& op, const std::string& shape) {
  try {
    call();
    ADD_FAILURE() << op << ": no exception";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
    EXPECT_NE(msg.find(shape), std::string::npos) << msg;
  }
}

TEST(CpuBackend, MisuseThrowsNamingOpAndShapes) {
  auto be = make_cpu_backend(1);
  auto other = make_cpu_backend(1);
  Tensor x = be->empty({4, 6}, DType::F32);
  Tensor w = be->empty({5, 7}, DType::F32);
  Tensor u8 = be->empty({3, 2, 2}, DType::U8);
  expect_invalid([&] { be->matmul(x, w); }, "matmul", "[5, 7]");
  expect_invalid([&] { be->matmul(x, be->empty({5, 6}, DType::F32), MatmulArgs{.bias = be->empty({4}, DType::F32)}); },
                 "matmul", "[4]");
  expect_invalid([&] { be->matmul(x, be->empty({5, 6}, DType::F32), MatmulArgs{.gate = be->empty({5}, DType::F32)}); },
                 "matmul", "without residual");
  expect_invalid([&] { be->matmul(other->empty({4, 6}, DType::F32), be->empty({5, 6}, DType::F32)); }, "matmul",
                 "another backend");
  Tensor q = be->empty({1, 3, 6, 8}, DType::F32), k = be->empty({1, 4, 4, 8}, DType::F32);
  expect_invalid([&] { be->attention(q, k, k, {}); }, "attention", "[1, 4, 4, 8]");
  expect_invalid([&] { be->attention(q, q, q, AttentionArgs{.key_mask = be->empty({1, 4}, DType::F32)}); },
                 "attention", "[1, 4]");
  expect_invalid([&] { be->rms_norm(x, be->empty({5}, DType::F32), 1e-6f); }, "rms_norm", "[5]");
  expect_invalid([&] { be->layer_norm_modulate(x, be->empty({2, 6}, DType::F32), be->empty({2, 6}, DType::F32), 1e-6f); },
                 "layer_norm_modulate", "[2, 6]");
  expect_invalid([&] { be->channel_rms_norm(be->empty({4, 1, 2, 2}, DType::F32), be->empty({3}, DType::F32)); },
                 "channel_rms_norm", "[3]");
  expect_invalid([&] { be->rope(q, be->empty({3, 3, 2}, DType::F32), RopeStyle::Interleaved); }, "rope", "[3, 3, 2]");
  expect_invalid([&] { be->rms_norm_rope(q, {}, 1e-6f, be->empty({3, 3, 2}, DType::F32), RopeStyle::Interleaved); },
                 "rms_norm_rope", "[3, 3, 2]");
  expect_invalid([&] { be->rms_norm_rope(q, be->empty({4}, DType::F32), 1e-6f, be->empty({3, 4, 2}, DType::F32),
                                         RopeStyle::HalfSplit); },
                 "rms_norm_rope", "[4]");
  expect_invalid([&] { be->conv3d(be->empty({3, 1, 4, 4}, DType::F32), be->empty({2, 4, 3, 3, 3}, DType::F32), {}, {}); },
                 "conv3d", "[2, 4, 3, 3, 3]");
  expect_invalid(
      [&] {
        Conv3dArgs args;
        args.pad[0] = 1;
        args.cache = be->empty({3, 3, 4, 4}, DType::F32);  // Tc = 3 > 2·pad_t
        be->conv3d(be->empty({3, 1, 4, 4}, DType::F32), be->empty({2, 3, 3, 3, 3}, DType::F32), {}, args);
      },
      "conv3d", "[3, 3, 4, 4]");
  expect_invalid([&] { be->unary(u8, UnaryOp::Silu); }, "unary", "U8");
  expect_invalid([&] { be->binary(x, be->empty({4}, DType::F32), BinaryOp::Add); }, "binary", "[4]");
  expect_invalid([&] { be->concat(x, be->empty({3, 5}, DType::F32), 0); }, "concat", "[3, 5]");
  expect_invalid([&] { be->slice(x, 1, 4, 3); }, "slice", "[4, 6]");
  expect_invalid([&] { be->slice(x, 2, 0, 1); }, "slice", "[4, 6]");
  expect_invalid([&] { be->transpose(be->empty({4}, DType::F32)); }, "transpose", "[4]");
  expect_invalid([&] { be->pack_patches(be->empty({2, 3, 4}, DType::F32)); }, "pack_patches", "[2, 3, 4]");
  expect_invalid([&] { be->unpack_patches(be->empty({6, 8}, DType::F32), 2, 4, 4); }, "unpack_patches", "[6, 8]");
  expect_invalid([&] { be->timestep_embedding(be->empty({2, 1}, DType::F32), 8, 1, 10000); }, "timestep_embedding",
                 "[2, 1]");
  expect_invalid([&] { be->to_rgb8(be->empty({4, 2, 2}, DType::F32)); }, "to_rgb8", "[4, 2, 2]");
  expect_invalid([&] { be->guided_euler_step(x, w, {}, 1, 1); }, "guided_euler_step", "[5, 7]");
  expect_invalid([&] { be->upsample_nearest2x(u8); }, "upsample_nearest2x", "U8");
}

TEST(CpuBackend, ResultsDoNotDependOnTheThreadCount) {
  auto one = make_cpu_backend(1);
  auto three = make_cpu_backend(3);
  Rng rng(7);
  HostTensor x = random_tensor(rng, {2, 71, 300}), w = random_weight(rng, {333, 300}, DType::BF16);
  auto run = [&](Backend& be) { return be.to_host_f32(be.matmul(upload(be, x), upload_as_weight(be, w))); };
  EXPECT_EQ(run(*one), run(*three));  // bitwise: the summation order is fixed per element
}

}  // namespace
}  // namespace qi::test

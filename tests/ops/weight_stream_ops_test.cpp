// The two ops weight streaming is built on (model/weight_stream.h), on the CPU and Vulkan backends with
// poisoned allocations: upload_host_weight keeps a weight in host memory in the same storage format as
// upload_weight, and copy_into brings it (or any tensor) into a device tensor, ordered like an op: readers
// recorded before the copy see the old contents, later ones the new. The Vulkan backend runs under the
// validation layers (synchronization validation included) and must leave them silent, also with the copies
// submitted apart from the kernels (on the transfer queue where there is one, else on the compute queue).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "ops/op_test_util.h"

namespace qi::test {
namespace {

struct Case {
  const char* label;
  bool vulkan;
  StreamedCopies copies = StreamedCopies::kInOrder;
};

class WeightStreamOps : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    be = GetParam().vulkan
             ? make_vulkan_backend({.validation = true, .verbose = false, .streamed_copies = GetParam().copies})
             : make_cpu_backend(2);
    be->set_poison_allocations(true);
    messages_before = vulkan_validation_message_count();
  }
  void TearDown() override {
    be.reset();
    EXPECT_EQ(vulkan_validation_message_count(), messages_before) << "Vulkan validation messages";
  }
  // The raw bytes of any tensor, host weights included.
  std::vector<uint8_t> bytes(const Tensor& t) {
    std::vector<uint8_t> out(t.bytes());
    be->to_host(t, out.data());
    return out;
  }
  Tensor host_weight(const HostTensor& w, WeightUploadStats* stats = nullptr) {
    return w.dtype == DType::F32 ? be->upload_host_weight(w.values.data(), DType::F32, w.shape, stats)
                                 : be->upload_host_weight(w.raw16.data(), w.dtype, w.shape, stats);
  }

  std::unique_ptr<Backend> be;
  uint64_t messages_before = 0;
  Rng rng{0x5eed5eedull};
};

// A host weight holds exactly what upload_weight would put on the device (the same storage format and
// conversion, overflow counting included).
TEST_P(WeightStreamOps, HostWeightHasTheDeviceWeightsFormatAndBytes) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    HostTensor w = random_weight(rng, {37, 65}, dt);
    if (dt == DType::BF16) w.raw16[3] = 0x7f00;  // ~1.7e38: beyond fp16's range
    WeightUploadStats host_stats, device_stats;
    const Tensor host = host_weight(w, &host_stats);
    const Tensor device = dt == DType::F32 ? be->upload_weight(w.values.data(), dt, w.shape, &device_stats)
                                           : be->upload_weight(w.raw16.data(), dt, w.shape, &device_stats);
    EXPECT_EQ(host.dtype(), device.dtype()) << dtype_name(dt);
    EXPECT_EQ(host.shape(), w.shape);
    EXPECT_EQ(bytes(host), bytes(device)) << dtype_name(dt);
    EXPECT_EQ(host_stats.values, device_stats.values);
    EXPECT_EQ(host_stats.overflowed, device_stats.overflowed);
  }
}

// copy_into overwrites every element of a poisoned destination with the source's bytes, from a host weight
// or from a device tensor, and a matmul reading the copy gives bit for bit the result with the weight
// uploaded directly.
TEST_P(WeightStreamOps, CopyIntoFillsAPoisonedTensorExactly) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    const HostTensor w = random_weight(rng, {33, 48}, dt);
    const Tensor host = host_weight(w);
    const Tensor slot = be->empty(host.shape(), host.dtype());  // poisoned: NaN everywhere
    be->copy_into(slot, host);
    EXPECT_EQ(bytes(slot), bytes(host)) << dtype_name(dt);

    const Tensor again = be->empty(host.shape(), host.dtype());
    be->copy_into(again, slot);  // device to device
    EXPECT_EQ(bytes(again), bytes(host)) << dtype_name(dt);

    const Tensor x = upload(*be, random_tensor(rng, {5, 48}));
    const std::vector<float> direct = be->to_host_f32(be->matmul(x, upload_as_weight(*be, w)));
    EXPECT_EQ(be->to_host_f32(be->matmul(x, slot)), direct) << dtype_name(dt);
  }
}

// The ordering a streaming slot relies on: a matmul recorded before the copy reads the old weight, one
// recorded after it the new one, with nothing waited for in between (a single submission on Vulkan).
TEST_P(WeightStreamOps, CopyIntoIsOrderedAfterEarlierReadsAndBeforeLaterOnes) {
  const HostTensor w1 = random_weight(rng, {24, 40}, DType::BF16), w2 = random_weight(rng, {24, 40}, DType::BF16);
  const Tensor h1 = host_weight(w1), h2 = host_weight(w2);
  const Tensor x = upload(*be, random_tensor(rng, {7, 40}));
  const Tensor slot = be->empty(h1.shape(), h1.dtype());
  be->copy_into(slot, h1);
  const Tensor y1 = be->matmul(x, slot);
  be->copy_into(slot, h2);  // write after read
  const Tensor y2 = be->matmul(x, slot);
  be->copy_into(slot, h1);  // and back
  const Tensor y3 = be->matmul(x, slot);
  const std::vector<float> want1 = be->to_host_f32(be->matmul(x, upload_as_weight(*be, w1)));
  const std::vector<float> want2 = be->to_host_f32(be->matmul(x, upload_as_weight(*be, w2)));
  EXPECT_EQ(be->to_host_f32(y1), want1);
  EXPECT_EQ(be->to_host_f32(y2), want2);
  EXPECT_EQ(be->to_host_f32(y3), want1);
}

TEST_P(WeightStreamOps, CopyIntoRefusesMismatchedTensors) {
  const HostTensor w = random_weight(rng, {4, 6}, DType::F32);
  const Tensor host = host_weight(w);
  EXPECT_ANY_THROW(be->copy_into(be->empty({4, 5}, DType::F32), host));
  EXPECT_ANY_THROW(be->copy_into(be->empty({4, 6}, DType::F16), host));
  EXPECT_ANY_THROW(be->copy_into(be->empty({4, 6}, DType::F32), Tensor()));
  // Empty tensors copy nothing.
  const Tensor empty_host = be->upload_host_weight(nullptr, DType::F32, {0, 6});
  EXPECT_NO_THROW(be->copy_into(be->empty({0, 6}, DType::F32), empty_host));
}

// On Vulkan a host weight lives in host-visible memory: not device memory, and not an operand of ops
// (they would read it across the bus); only copy_into and to_host take it, and it is never a destination.
TEST_P(WeightStreamOps, VulkanHostWeightsAreNotDeviceMemoryNorOperands) {
  if (!GetParam().vulkan) GTEST_SKIP() << "host weights are ordinary tensors on the CPU backend";
  be->flush();
  const uint64_t before = be->memory_stats().in_use;
  const HostTensor w = random_weight(rng, {256, 256}, DType::F16);
  const Tensor host = host_weight(w);
  EXPECT_EQ(be->memory_stats().in_use, before);
  const Tensor x = upload(*be, random_tensor(rng, {3, 256}));
  EXPECT_ANY_THROW(be->matmul(x, host));
  EXPECT_ANY_THROW(be->copy_into(host, be->empty({256, 256}, DType::F16)));
}

INSTANTIATE_TEST_SUITE_P(Backends, WeightStreamOps, ::testing::Values(Case{"cpu", false}, Case{"vulkan", true},
                                           Case{"vulkan_copies_apart", true, StreamedCopies::kApart}),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace qi::test

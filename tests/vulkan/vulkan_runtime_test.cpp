// The Vulkan runtime: device selection, memory limits and recycling, hazard tracking through recycled
// buffers, poisoning, uploads, the pipeline cache, profiling and large dispatch grids. Every test also
// requires zero validation messages (the suite runs with QI_VALIDATION=1 and synchronization validation).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "backend/vulkan/vk_commands.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_device_caps.h"
#include "backend/vulkan/vk_cooperative_matrix2.h"
#include "backend/vulkan/vk_hazards.h"
#include "backend/vulkan/vk_instance.h"
#include "backend/vulkan/vk_weight_stream.h"
#include "core/error.h"
#include "vulkan/vulkan_test_util.h"

namespace qi::test {
namespace {

class VulkanRuntime : public VulkanTest {};

// A process may create and destroy many backends (a server, a test binary): on the NVIDIA driver the 31st
// instance of a process failed with VK_ERROR_INCOMPATIBLE_DRIVER until the driver was kept loaded
// (src/backend/vulkan/vk_driver_pinning.h). Lavapipe never had the problem; this guards the NVIDIA case.
TEST_F(VulkanRuntime, ManyBackendsOneAfterAnotherInOneProcess) {
  constexpr int kBackends = 40;  // past the 30 that exhausted the static TLS block
  VulkanOptions o = test_vulkan_options();
  for (int i = 0; i < kBackends; ++i) {
    o.validation = i % 2 == 0;  // with the validation layer the loader loads the driver at other times
    ASSERT_NO_THROW(make_vulkan_backend(o)) << "backend " << i;
  }
}

TEST_F(VulkanRuntime, ListsDevicesAndSelectsByIndexAndName) {
  auto devices = list_vulkan_devices();
  ASSERT_FALSE(devices.empty());
  for (const auto& d : devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.max_storage_buffer_range, 0u);
    EXPECT_GT(d.subgroup_size, 0u);
  }
  VulkanOptions by_index = test_vulkan_options();
  by_index.device = "0";
  EXPECT_EQ(make_vulkan_backend(by_index)->name(), "vulkan");
  VulkanOptions by_name = test_vulkan_options();
  by_name.device = devices[0].name.substr(0, 4);
  EXPECT_NO_THROW(make_vulkan_backend(by_name));
  VulkanOptions missing = test_vulkan_options();
  missing.device = "no such device name";
  EXPECT_THROW(make_vulkan_backend(missing), RuntimeFailure);
  VulkanOptions out_of_range = test_vulkan_options();
  out_of_range.device = std::to_string(devices.size());
  EXPECT_THROW(make_vulkan_backend(out_of_range), RuntimeFailure);
}

TEST_F(VulkanRuntime, TensorBeyondStorageBufferRangeIsAClearError) {
  auto be = make_vulkan_backend(test_vulkan_options());
  uint64_t range = list_vulkan_devices()[0].max_storage_buffer_range;
  for (const auto& d : list_vulkan_devices())
    if (d.type == "discrete") range = d.max_storage_buffer_range;
  const int64_t too_many = int64_t(range / 4) + 1;
  try {
    be->empty({too_many}, DType::F32);
    FAIL() << "expected RuntimeFailure";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("maxStorageBufferRange"), std::string::npos) << e.what();
  }
}

TEST_F(VulkanRuntime, HazardTrackerFlagsRawWarWawOnly) {
  vk::HazardTracker t;
  VkBuffer buf = reinterpret_cast<VkBuffer>(uintptr_t(0x1000));
  VkBuffer other = reinterpret_cast<VkBuffer>(uintptr_t(0x2000));
  vk::BufferRange a{buf, 0, 256}, b{buf, 256, 256}, a_part{buf, 128, 16}, c{other, 0, 256};
  t.add(std::span(&a, 1), std::span(&b, 1));  // read a, write b
  EXPECT_TRUE(t.conflicts({}, std::span(&a_part, 1)));    // WAR on a
  EXPECT_TRUE(t.conflicts(std::span(&b, 1), {}));         // RAW on b
  EXPECT_TRUE(t.conflicts({}, std::span(&b, 1)));         // WAW on b
  EXPECT_FALSE(t.conflicts(std::span(&a, 1), {}));        // read after read
  EXPECT_FALSE(t.conflicts(std::span(&c, 1), std::span(&c, 1)));  // other buffer
  t.clear();
  EXPECT_FALSE(t.conflicts(std::span(&b, 1), std::span(&a, 1)));
}

TEST_F(VulkanRuntime, BarriersOnlyBetweenDependentDispatches) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  Tensor x = ctx->alloc({1024}, DType::F32), y = ctx->alloc({1024}, DType::F32), z = ctx->alloc({1024}, DType::F32);
  struct {
    uint32_t n;
    float alpha, beta;
  } push{1024, 2.0f, 1.0f};
  ctx->stream().wait_idle();
  const uint64_t before = ctx->stream().barriers_recorded();
  ctx->dispatch("scale", "scale", {vk::in(x), vk::out(y)}, push, vk::linear_grid(4));
  ctx->dispatch("scale", "scale", {vk::in(x), vk::out(z)}, push, vk::linear_grid(4));  // independent
  ctx->stream().record_window();
  EXPECT_EQ(ctx->stream().barriers_recorded(), before);
  ctx->dispatch("scale", "scale", {vk::in(y), vk::out(x)}, push, vk::linear_grid(4));  // RAW on y, WAR on x
  ctx->stream().record_window();
  EXPECT_EQ(ctx->stream().barriers_recorded(), before + 1);
  ctx->stream().wait_idle();
}

// The reordering window: a command independent of the chain recorded before it joins the chain's first phase,
// so two chains of two dispatches need one barrier (recorded as they come they need two: A | B C | D), and a
// command that overwrites what an earlier one reads stays after it. Results as in program order.
TEST_F(VulkanRuntime, IndependentCommandsShareAPhaseAndResultsKeepProgramOrder) {
  if (const char* reorder = std::getenv(vk::kCommandReorderEnvVar); reorder && std::string(reorder) == "0")
    GTEST_SKIP() << "reordering turned off by " << vk::kCommandReorderEnvVar;
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  const int64_t n = 1024;
  auto filled = [&](float v) {
    Tensor t = ctx->alloc({n}, DType::F32);
    const std::vector<float> values(size_t(n), v);
    ctx->upload(t, values.data(), values.size() * sizeof(float));
    return t;
  };
  Tensor x = filled(1.0f), y = filled(-1.0f), z = filled(-1.0f), u = filled(3.0f), w = filled(-1.0f),
         v = filled(-1.0f);
  struct {
    uint32_t n;
    float alpha, beta;
  } twice{uint32_t(n), 2.0f, 0.0f}, plus_one{uint32_t(n), 1.0f, 1.0f};
  ctx->stream().wait_idle();
  const uint64_t before = ctx->stream().barriers_recorded();
  ctx->dispatch("scale", "scale", {vk::in(x), vk::out(y)}, twice, vk::linear_grid(4));     // A: y = 2
  ctx->dispatch("scale", "scale", {vk::in(y), vk::out(z)}, plus_one, vk::linear_grid(4));  // B: z = 3, after A
  ctx->dispatch("scale", "scale", {vk::in(u), vk::out(w)}, twice, vk::linear_grid(4));     // C: w = 6, with A
  ctx->dispatch("scale", "scale", {vk::in(w), vk::out(v)}, plus_one, vk::linear_grid(4));  // D: v = 7, with B
  ctx->stream().record_window();
  EXPECT_EQ(ctx->stream().barriers_recorded(), before + 1);
  ctx->dispatch("scale", "scale", {vk::in(z), vk::out(u)}, plus_one, vk::linear_grid(4));  // E: u = 4, after B, C
  const std::pair<Tensor*, float> expected[] = {{&y, 2.0f}, {&z, 3.0f}, {&w, 6.0f}, {&v, 7.0f}, {&u, 4.0f}};
  for (const auto& [t, value] : expected) {
    std::vector<float> got(static_cast<size_t>(n));
    ctx->download(*t, got.data());
    EXPECT_EQ(got.front(), value);
    EXPECT_EQ(got.back(), value);
  }
}

// Copies submitted apart from the kernels (the transfer-queue path of streamed weights; on a device without
// a transfer-only queue, such as lavapipe, on the compute queue itself): a slot copied into, read,
// overwritten and read again gives each reader the contents copied before it, with nothing waited for on the
// host in between. A copy that did not wait for the batch reading the slot's previous contents would
// overwrite them first (it is submitted before that batch), and kernels that did not wait for the copy would
// read the old contents: each of the two orderings, removed in turn, fails this test.
TEST_F(VulkanRuntime, CopiesSubmittedApartKeepTheirPlaceAmongTheKernels) {
  if (const char* env = std::getenv(vk::kTransferQueueEnvVar); env && std::string(env) == "0")
    GTEST_SKIP() << "copies kept in order by " << vk::kTransferQueueEnvVar;
  VulkanOptions options = test_vulkan_options();
  options.streamed_copies = StreamedCopies::kApart;
  auto ctx = vk::Context::create(options, nullptr);
  if (!ctx->caps().timeline_semaphore) GTEST_SKIP() << "no timeline semaphores";
  ASSERT_TRUE(ctx->stream().copies_apart());
  auto ledger = std::make_shared<vk::HostWeightLedger>();
  ledger->context = ctx;
  const int64_t n = 4096;
  auto host = [&](float v) {
    const std::vector<float> values(size_t(n), v);
    return vk::make_host_weight(*ctx, ledger, nullptr, {n}, DType::F32,
                                [&](uint8_t* to, uint64_t offset, uint64_t bytes) {
                                  std::memcpy(to, reinterpret_cast<const uint8_t*>(values.data()) + offset, bytes);
                                });
  };
  const Tensor h1 = host(1.0f), h2 = host(5.0f);
  const Tensor slot = ctx->alloc({n}, DType::F32);
  Tensor y[3] = {ctx->alloc({n}, DType::F32), ctx->alloc({n}, DType::F32), ctx->alloc({n}, DType::F32)};
  struct {
    uint32_t n;
    float alpha, beta;
  } plus_one{uint32_t(n), 1.0f, 1.0f};
  const Tensor* sources[3] = {&h1, &h2, &h1};
  for (int i = 0; i < 3; ++i) {
    vk::copy_into(*ctx, slot, *sources[i]);  // write after the previous read
    ctx->dispatch("scale", "scale", {vk::in(slot), vk::out(y[i])}, plus_one, vk::linear_grid(16));
  }
  EXPECT_EQ(ctx->stream().transfers_submitted(), 3u);
  const float expected[3] = {2.0f, 6.0f, 2.0f};
  for (int i = 0; i < 3; ++i) {
    std::vector<float> got(static_cast<size_t>(n));
    ctx->download(y[i], got.data());
    EXPECT_EQ(got.front(), expected[i]) << i;
    EXPECT_EQ(got.back(), expected[i]) << i;
  }
}

// A tensor let go while a command that reads it waits in the window keeps its memory until the command is
// written (a new tensor meanwhile gets other memory: reusing the range would order its commands after that
// one); then the memory is free again.
TEST_F(VulkanRuntime, MemoryReleasedUnderTheWindowWaitsForItsCommands) {
  if (const char* reorder = std::getenv(vk::kCommandReorderEnvVar); reorder && std::string(reorder) == "0")
    GTEST_SKIP() << "reordering turned off by " << vk::kCommandReorderEnvVar;
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  constexpr int64_t n = 1024;
  Tensor x = ctx->alloc({n}, DType::F32), y = ctx->alloc({n}, DType::F32);
  auto where = [&](const Tensor& t) {
    const vk::Allocation& a = ctx->storage(t, "test", "tensor").allocation();
    return std::pair(a.buffer(), a.offset);
  };
  const auto x_at = where(x);
  struct {
    uint32_t n;
    float alpha, beta;
  } push{uint32_t(n), 2.0f, 0.0f};
  ctx->stream().wait_idle();
  ctx->dispatch("scale", "scale", {vk::in(x), vk::out(y)}, push, vk::linear_grid(4));
  const uint64_t live = ctx->allocator().stats().in_use;
  x = Tensor();
  EXPECT_EQ(ctx->allocator().stats().in_use, live);
  Tensor z = ctx->alloc({n}, DType::F32);
  EXPECT_NE(where(z), x_at);
  ctx->stream().record_window();
  EXPECT_EQ(ctx->allocator().stats().in_use, live);  // x's bytes back, z's taken
  ctx->stream().wait_idle();
}

// A chain where every op's output reuses the memory its input just released: correct only if each dispatch
// waits for the previous one (RAW) and no write overtakes a pending read (WAR).
TEST_F(VulkanRuntime, ChainThroughRecycledBuffersIsCorrect) {
  auto be = make_vulkan_backend(test_vulkan_options());
  const int64_t n = 3000;
  std::vector<float> ones(static_cast<size_t>(n), 1.0f);
  Tensor y = be->from_host_f32(ones, {n});
  Tensor keep = be->scale(y, 2.0f);  // reads y's first incarnation
  constexpr int kSteps = 40;
  for (int i = 0; i < kSteps; ++i) y = be->scale(y, 1.0f, 1.0f);  // y's old range is freed and reused
  auto got = be->to_host_f32(y);
  auto kept = be->to_host_f32(keep);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(got[size_t(i)], 1.0f + kSteps) << i;
    ASSERT_EQ(kept[size_t(i)], 2.0f) << i;
  }
}

// Context::derived (modulated_mlp's cached weight bound) hits while its sources keep their contents and
// misses after any write to one: an upload, a dispatch writing it, a fill (copy_into marks it too); undefined sources
// take part as such.
TEST_F(VulkanRuntime, DerivedDataFollowsEveryWriteToItsSources) {
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  const std::vector<float> v(64, 1.0f);
  Tensor a = ctx->alloc({64}, DType::F32), b = ctx->alloc({64}, DType::F32);
  ctx->upload(a, v.data(), v.size() * sizeof(float));
  ctx->upload(b, v.data(), v.size() * sizeof(float));
  const Tensor sources[] = {a, Tensor()};
  Tensor value = ctx->alloc({2}, DType::F32);
  ctx->set_derived("test", sources, value);
  ASSERT_NE(ctx->derived("test", sources), nullptr);
  EXPECT_EQ(ctx->derived("other", sources), nullptr);
  const Tensor with_b[] = {a, b};
  EXPECT_EQ(ctx->derived("test", with_b), nullptr);
  auto expect_miss_after = [&](const char* what, auto&& write) {
    ctx->set_derived("test", sources, value);
    ASSERT_NE(ctx->derived("test", sources), nullptr) << what;
    write();
    EXPECT_EQ(ctx->derived("test", sources), nullptr) << what;
  };
  expect_miss_after("upload", [&] { ctx->upload(a, v.data(), v.size() * sizeof(float)); });
  expect_miss_after("fill", [&] { ctx->fill(a, 0u, "test"); });
  struct {
    uint32_t n;
    float alpha, beta;
  } push{64, 1.0f, 0.0f};
  expect_miss_after("dispatch", [&] { ctx->dispatch("test", "scale", {vk::in(b), vk::out(a)}, push, vk::Grid{1, 1, 1}); });
  ctx->set_derived("test", sources, value);
  ctx->dispatch("test", "scale", {vk::in(a), vk::out(b)}, push, vk::Grid{1, 1, 1});  // reads a only
  EXPECT_NE(ctx->derived("test", sources), nullptr);
  ctx->clear_derived();  // the cached tensors hold the context
  EXPECT_EQ(ctx->derived("test", sources), nullptr);
}

// An upload into memory whose previous owner is still read by recorded work must not overwrite it early.
TEST_F(VulkanRuntime, UploadIntoRecycledRangeWaitsForPendingReads) {
  auto be = make_vulkan_backend(test_vulkan_options());
  const int64_t n = 4096;
  std::vector<float> a(static_cast<size_t>(n), 3.0f), b(static_cast<size_t>(n), -7.0f);
  Tensor ta = be->from_host_f32(a, {n});
  Tensor scaled = be->scale(ta, 2.0f);  // recorded, not yet executed
  ta = Tensor();                         // a's range is free again...
  Tensor tb = be->from_host_f32(b, {n});  // ...and is reused for b
  auto s = be->to_host_f32(scaled);
  auto bb = be->to_host_f32(tb);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(s[size_t(i)], 6.0f) << i;
    ASSERT_EQ(bb[size_t(i)], -7.0f) << i;
  }
}

TEST_F(VulkanRuntime, RepeatedWorkloadAllocatesNothingNewAfterFirstIteration) {
  auto be = make_vulkan_backend(test_vulkan_options());
  std::mt19937_64 rng(7);
  const int64_t tokens = 96, dim = 64;
  Tensor w = be->upload_weight(random_floats(rng, dim * dim).data(), DType::F32, {dim, dim});
  Tensor latents = be->from_host_f32(random_floats(rng, tokens * dim), {tokens, dim});
  uint64_t reserved_after_first = 0;
  for (int step = 0; step < 4; ++step) {
    Tensor h = be->matmul(latents, w, MatmulArgs{.act = Activation::Silu});
    h = be->rms_norm(h, Tensor(), 1e-6f);
    Tensor v = be->binary(h, latents, BinaryOp::Add);
    latents = be->guided_euler_step(latents, v, Tensor(), 1.0f, -0.05f);
    be->flush();
    if (step == 0) reserved_after_first = be->memory_stats().reserved;
    EXPECT_EQ(be->memory_stats().reserved, reserved_after_first) << "step " << step;
  }
  EXPECT_GT(reserved_after_first, 0u);
  MemoryStats s = be->memory_stats();
  EXPECT_GE(s.peak, s.in_use);
}

TEST_F(VulkanRuntime, PoisonFillsNewTensorsWithNaNAndFF) {
  auto be = make_vulkan_backend(test_vulkan_options());
  be->set_poison_allocations(true);
  Tensor f = be->empty({37}, DType::F32);
  for (float v : be->to_host_f32(f)) EXPECT_TRUE(std::isnan(v));
  Tensor h = be->empty({5}, DType::BF16);
  for (float v : be->to_host_f32(h)) EXPECT_TRUE(std::isnan(v));
  Tensor u = be->empty({7}, DType::U8);
  std::vector<uint8_t> bytes(7);
  be->to_host(u, bytes.data());
  for (uint8_t b : bytes) EXPECT_EQ(b, 0xFF);
  // Op outputs are poisoned before the op writes them: a complete op leaves no NaN.
  std::vector<float> ones(37, 1.0f);
  for (float v : be->to_host_f32(be->scale(be->from_host_f32(ones, {37}), 3.0f))) EXPECT_EQ(v, 3.0f);
}

TEST_F(VulkanRuntime, PipelineCacheRoundTripAndCorruptFileIsOnlyAWarning) {
  VulkanOptions o = test_vulkan_options();
  o.pipeline_cache_path = (std::filesystem::temp_directory_path() /
                           ("qi-vulkan-cache-test-" + std::to_string(::getpid()) + ".bin")).string();
  std::filesystem::remove(o.pipeline_cache_path);
  {
    auto ctx = vk::Context::create(o, nullptr);
    EXPECT_EQ(ctx->pipelines().loaded_cache_bytes(), 0u);
    ctx->pipelines().get("scale", 2);
  }
  ASSERT_TRUE(std::filesystem::exists(o.pipeline_cache_path));
  EXPECT_GT(std::filesystem::file_size(o.pipeline_cache_path), 0u);
  {
    auto ctx = vk::Context::create(o, nullptr);
    EXPECT_GT(ctx->pipelines().loaded_cache_bytes(), 0u);
  }
  {
    std::ofstream(o.pipeline_cache_path, std::ios::binary | std::ios::trunc) << "not a pipeline cache at all";
  }
  {
    auto ctx = vk::Context::create(o, nullptr);
    EXPECT_EQ(ctx->pipelines().loaded_cache_bytes(), 0u);
    EXPECT_NO_THROW(ctx->pipelines().get("scale", 2));
  }
  std::filesystem::remove(o.pipeline_cache_path);
}

// A command whose pipeline is still being compiled (PipelineRegistry's workers) waits in the window, which
// grows past its usual depth meanwhile instead of being written, so that later commands' pipelines can compile
// at the same time; once the pipeline is there the window is written as usual, and the results are those of
// program order.
class PendingPipelines : public VulkanRuntime {
 protected:
  void SetUp() override {
    VulkanRuntime::SetUp();
    ctx_ = vk::Context::create(test_vulkan_options(), nullptr);
    x_ = ctx_->alloc({kWords}, DType::I32);
    const vk::Allocation& a = ctx_->storage(x_, "test", "tensor").allocation();
    range_ = vk::BufferRange{a.buffer(), a.offset, kWords * sizeof(uint32_t)};
    ctx_->stream().wait_idle();
  }
  // Fills x with `value`: every such command writes x, so each is a phase of its own after the one before.
  void fill(uint32_t value, const vk::Pipeline* pipeline) {
    auto body = [r = range_, value](VkCommandBuffer cb) { vkCmdFillBuffer(cb, r.buffer, r.offset, r.size, value); };
    ctx_->stream().record({}, {&range_, 1}, "fill", body, pipeline);
  }
  // A thread that "creates" the pipeline after `delay` (join it before the promise goes).
  static std::thread compile_later(std::promise<VkPipeline>& compile, std::chrono::milliseconds delay) {
    return std::thread([&compile, delay] {
      std::this_thread::sleep_for(delay);
      compile.set_value(VK_NULL_HANDLE);
    });
  }
  uint32_t x_value() {
    std::vector<uint32_t> got(size_t(kWords), 0);
    ctx_->download(x_, got.data());
    return got.back();
  }
  static constexpr int64_t kWords = 256;
  std::shared_ptr<vk::Context> ctx_;
  Tensor x_;
  vk::BufferRange range_;
};

// (The pipelines of these tests are "created" by another thread a little later: a window that did not grow
// would wait for them and write its commands, failing the tests rather than hanging them.)
TEST_F(PendingPipelines, WindowGrowsWhileAPipelineCompilesThenIsWritten) {
  std::promise<VkPipeline> compile;
  const vk::Pipeline pending(VK_NULL_HANDLE, "pending", compile.get_future().share());
  std::thread compiler = compile_later(compile, std::chrono::milliseconds(200));
  const uint64_t before = ctx_->stream().commands_recorded();
  constexpr uint32_t kCommands = 20;  // phases, past the window's usual depth
  for (uint32_t i = 0; i < kCommands; ++i) fill(i, &pending);
  EXPECT_EQ(ctx_->stream().commands_recorded(), before);
  EXPECT_EQ(ctx_->stream().window_commands(), kCommands);
  compiler.join();
  fill(kCommands, nullptr);
  EXPECT_GT(ctx_->stream().commands_recorded(), before);
  EXPECT_LT(ctx_->stream().window_commands(), kCommands);
  EXPECT_EQ(x_value(), kCommands);
}

// Memory let go while the window waits for a pipeline goes back at once (a normal window holds it until the
// commands that touch it are written, MemoryReleasedUnderTheWindowWaitsForItsCommands): held there, a whole
// block's would add to the peak. Its reuse is still ordered after the commands that read it.
TEST_F(PendingPipelines, MemoryReleasedWhileTheWindowWaitsGoesBackAtOnce) {
  std::promise<VkPipeline> compile;
  const vk::Pipeline pending(VK_NULL_HANDLE, "pending", compile.get_future().share());
  std::thread compiler = compile_later(compile, std::chrono::milliseconds(200));
  for (uint32_t i = 0; i < 20; ++i) fill(i, &pending);
  Tensor y = ctx_->alloc({kWords}, DType::I32);
  const vk::Allocation& a = ctx_->storage(y, "test", "tensor").allocation();
  const vk::BufferRange from{a.buffer(), a.offset, range_.size};
  ctx_->stream().record({&from, 1}, {&range_, 1}, "copy", [from, to = range_](VkCommandBuffer cb) {
    const VkBufferCopy region{from.offset, to.offset, to.size};
    vkCmdCopyBuffer(cb, from.buffer, to.buffer, 1, &region);
  });
  const uint64_t live = ctx_->allocator().stats().in_use;
  y = Tensor();
  EXPECT_LT(ctx_->allocator().stats().in_use, live);
  compiler.join();
  ctx_->stream().wait_idle();
}

// The window stops growing at kCompileLookaheadCommands: recording then waits for the oldest pipeline (here
// ready after half a second; without the bound all commands would be recorded long before that).
TEST_F(PendingPipelines, WindowGrowsNoFurtherThanTheCompileLookahead) {
  std::promise<VkPipeline> compile;
  const vk::Pipeline pending(VK_NULL_HANDLE, "pending", compile.get_future().share());
  std::thread compiler = compile_later(compile, std::chrono::milliseconds(500));
  const uint32_t commands = uint32_t(vk::kCompileLookaheadCommands) * 2;
  size_t deepest = 0;
  for (uint32_t i = 0; i < commands; ++i) {
    fill(i, &pending);
    deepest = std::max(deepest, ctx_->stream().window_commands());
  }
  compiler.join();
  EXPECT_EQ(deepest, vk::kCompileLookaheadCommands);
  EXPECT_EQ(x_value(), commands - 1);
}

// A pipeline the driver could not create: its command is left out, nothing throws while the window is written
// (that happens in destructors too), and from then on recording and reading back throw the driver's error.
TEST_F(PendingPipelines, APipelineTheDriverCannotCreateFailsTheStream) {
  std::promise<VkPipeline> compile;
  const vk::Pipeline failed(VK_NULL_HANDLE, "scale/2", compile.get_future().share());
  compile.set_exception(
      std::make_exception_ptr(RuntimeFailure("vkCreateComputePipelines: VK_ERROR_OUT_OF_HOST_MEMORY")));
  const uint64_t before = ctx_->stream().commands_recorded();
  fill(1, &failed);
  EXPECT_NO_THROW(ctx_->stream().record_window());
  EXPECT_EQ(ctx_->stream().commands_recorded(), before);
  try {
    x_value();
    FAIL() << "expected RuntimeFailure";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("scale/2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("VK_ERROR_OUT_OF_HOST_MEMORY"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fill(2, nullptr), RuntimeFailure);
}

TEST_F(VulkanRuntime, ProfilingReportsPerOpDeviceTime) {
  auto be = make_vulkan_backend(test_vulkan_options());
  be->set_profiling(true);
  std::vector<float> v(1000, 1.0f);
  Tensor x = be->from_host_f32(v, {1000});
  for (int i = 0; i < 3; ++i) x = be->scale(x, 1.0f, 1.0f);
  be->unary(x, UnaryOp::Silu);
  auto timings = be->op_timings();
  bool saw_scale = false;
  for (const auto& t : timings)
    if (t.op == "scale") {
      saw_scale = true;
      EXPECT_EQ(t.count, 3u);
      EXPECT_GE(t.total_ms, 0.0);
    }
  EXPECT_TRUE(saw_scale);
}

// The tensor-core ceiling kernels exist only where NV cooperative matrices do (not on lavapipe); asking for
// one elsewhere is a usage error, not a crash. On a GPU each one the device offers runs and is timed (bench
// kernels prints them: docs/performance.md).
TEST_F(VulkanRuntime, CeilingKernelsOnlyWhereTheDeviceHasThem) {
  auto be = make_vulkan_backend(test_vulkan_options());
  const std::vector<Backend::CeilingKernel> kernels = be->ceiling_kernels();
  // The same device features (NV cooperative matrices, 32-lane subgroups, 16×16×16 fp16 shapes) enable the
  // tensor-core matmul.
  const std::vector<std::string> matmul = be->variants("matmul");
  const bool nv_coopmat = std::find(matmul.begin(), matmul.end(), "coopmat_nv") != matmul.end();
  if (!nv_coopmat) {
    EXPECT_TRUE(kernels.empty());
    EXPECT_THROW(be->run_ceiling_kernel("tensor_core_registers_fp32_accumulate"), UsageError);
  } else {
    ASSERT_FALSE(kernels.empty());
    be->set_profiling(true);
    for (const Backend::CeilingKernel& k : kernels) {
      EXPECT_GT(k.flops, 0.0) << k.name;
      be->run_ceiling_kernel(k.name);
    }
    be->flush();
    for (const Backend::CeilingKernel& k : kernels) {
      bool timed = false;
      for (const OpTiming& t : be->op_timings()) timed = timed || (t.op == k.name && t.total_ms > 0);
      EXPECT_TRUE(timed) << k.name;
    }
  }
  EXPECT_THROW(be->run_ceiling_kernel("no_such_kernel"), UsageError);
}

TEST_F(VulkanRuntime, DispatchBeyond65535WorkgroupsUsesA2DGrid) {
  auto be = make_vulkan_backend(test_vulkan_options());
  const int64_t n = int64_t(70000) * 256 + 3;  // more workgroups of 256 than one grid row holds
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i % 1000);
  auto got = be->to_host_f32(be->scale(be->from_host_f32(v, {n}), 1.0f, 0.5f));
  for (int64_t i = 0; i < n; i += 9973) ASSERT_EQ(got[size_t(i)], float(i % 1000) + 0.5f) << i;
  ASSERT_EQ(got.back(), float((n - 1) % 1000) + 0.5f);
}

TEST_F(VulkanRuntime, VariantsListAndSelect) {
  auto be = make_vulkan_backend(test_vulkan_options());
  for (const auto& op : all_op_names()) EXPECT_FALSE(be->variants(op).empty()) << op;
  auto mm = be->variants("matmul");
  EXPECT_NE(std::find(mm.begin(), mm.end(), "scalar"), mm.end());
  EXPECT_NO_THROW(be->select_variant("matmul", "scalar"));
  EXPECT_NO_THROW(be->select_variant("matmul", ""));
  EXPECT_THROW(be->select_variant("matmul", "no-such-variant"), RuntimeFailure);
  EXPECT_THROW(be->select_variant("no-such-op", ""), RuntimeFailure);
}

// Uploads larger than a chunk through staging memory (forced on lavapipe with QI_ZERO_COPY=0): each chunk is
// filled at its own offset, the batches are submitted as they fill instead of all at the end, and the tensor
// holds every byte.
TEST_F(VulkanRuntime, StagedUploadGoesInChunksSubmittedAsTheyFill) {
  setenv(vk::kZeroCopyEnvVar, "0", 1);
  auto ctx = vk::Context::create(test_vulkan_options(), nullptr);
  unsetenv(vk::kZeroCopyEnvVar);
  ASSERT_LT(ctx->caps().memory_types.zero_copy, 0);
  // A whole chunk and a part (lavapipe binds at most 128 MiB, two chunks).
  const uint64_t bytes = vk::kUploadChunkBytes + 4 * 1000;
  const int64_t n = int64_t(bytes / sizeof(uint32_t));
  const Tensor t = ctx->alloc({n}, DType::F32);
  std::vector<uint64_t> offsets;
  const uint64_t submitted_before = ctx->stream().submissions();
  ctx->upload_with(t, bytes, [&](uint8_t* to, uint64_t offset, uint64_t count) {
    offsets.push_back(offset);
    for (uint64_t i = 0; i < count; i += sizeof(uint32_t)) {
      const uint32_t word = uint32_t((offset + i) / sizeof(uint32_t)) * 2654435761u;
      std::memcpy(to + i, &word, sizeof word);
    }
  });
  EXPECT_EQ(offsets, (std::vector<uint64_t>{0, vk::kUploadChunkBytes}));
  EXPECT_GE(ctx->stream().submissions() - submitted_before, 1u);  // the first chunk already on its way
  std::vector<uint32_t> back(size_t(n), 0);
  ctx->download(t, back.data());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back[size_t(i)], uint32_t(i) * 2654435761u) << i;
}

TEST_F(VulkanRuntime, WeightUploadKeepsOrConvertsFormats) {
  auto be = make_vulkan_backend(test_vulkan_options());
  std::vector<uint16_t> bf16 = {f32_to_bf16(1.5f), f32_to_bf16(-2.25f), f32_to_bf16(1e30f)};
  WeightUploadStats stats;
  Tensor w = be->upload_weight(bf16.data(), DType::BF16, {3}, &stats);
  EXPECT_EQ(stats.values, 3);
  auto back = be->to_host_f32(w);
  EXPECT_EQ(back[0], 1.5f);
  EXPECT_EQ(back[1], -2.25f);
  if (w.dtype() == DType::F16) {
    EXPECT_EQ(stats.overflowed, 1);  // 1e30 does not fit fp16
    EXPECT_TRUE(std::isinf(back[2]));
  } else {
    EXPECT_EQ(w.dtype(), DType::BF16);
    EXPECT_EQ(stats.overflowed, 0);
    EXPECT_EQ(back[2], bf16_to_f32(bf16[2]));
  }
  std::vector<float> f = {1.0f, 2.0f};
  EXPECT_EQ(be->upload_weight(f.data(), DType::F32, {2}).dtype(), DType::F32);
}

// A validation layer older than VK_NV_cooperative_matrix2 (Debian 12's) reports its structures as unknown;
// inside a CoopmatValidationScope such reports are not counted, outside they still are.
TEST(CoopmatValidationScope, SilencesALayerThatPredatesTheExtensionOnlyInsideIt) {
  vk::Instance instance(true);
  if (!instance.validation_enabled()) GTEST_SKIP() << "no validation layer installed";
  if (!vk::validation_layer_predates_coopmat2()) GTEST_SKIP() << "the validation layer knows the extension";
  const VkPhysicalDevice physical = instance.physical_devices().at(0);
  auto query_coopmat2_properties = [&] {
    vk::Coopmat2Properties coop2;
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props.pNext = &coop2;
    vkGetPhysicalDeviceProperties2(physical, &props);
  };
  uint64_t before = vulkan_validation_message_count();
  query_coopmat2_properties();
  EXPECT_GT(vulkan_validation_message_count(), before) << "outside the scope the layer's report counts";
  before = vulkan_validation_message_count();
  {
    vk::CoopmatValidationScope scope;
    query_coopmat2_properties();
  }
  EXPECT_EQ(vulkan_validation_message_count(), before) << "inside the scope it does not";
}

}  // namespace
}  // namespace qi::test

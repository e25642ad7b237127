#include "backend/vulkan/vk_context.h"

#include <atomic>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/log.h"

namespace qi::vk {
namespace {

// Uploads through staging memory: a batch holds at most this many staging bytes (one chunk of a large
// upload); past it the batch is submitted and the next one filled while the copies run. The ring of
// kBatchesInFlight batches (vk_commands.cpp) waits for the oldest before reusing it, which bounds the
// staging memory a multi-gigabyte weight upload holds to a few chunks.
constexpr uint64_t kStagingPerBatch = kUploadChunkBytes;
// Size of the buffer bound for absent optional inputs (any shader reads at most its first element).
constexpr uint64_t kDummyBytes = 16;
// Every binding is a whole number of 32-bit words: shaders read 16- and 8-bit data as packed words.
constexpr uint64_t kBindingGranule = 4;

}  // namespace

Grid linear_grid(uint64_t groups) {
  if (groups == 0) return Grid{0, 1, 1};
  if (groups <= kMaxGridDim) return Grid{uint32_t(groups), 1, 1};
  uint64_t rows = ceil_div(groups, kMaxGridDim);
  if (rows > kMaxGridDim) throw RuntimeFailure("dispatch of " + std::to_string(groups) + " workgroups is too large");
  return Grid{kMaxGridDim, uint32_t(rows), 1};
}

namespace {
std::atomic<uint64_t> next_contents_version{1};  // 0: an undefined tensor (Context::derived)
// Derived tensors kept at most; past it the cache starts afresh (streamed weights give new versions per copy).
constexpr size_t kMaxDerived = 1024;
}  // namespace

VulkanStorage::VulkanStorage(std::shared_ptr<Context> ctx, Allocation allocation, size_t bytes, Backend* owner)
    : ctx_(std::move(ctx)), allocation_(allocation), version_(next_contents_version++), bytes_(bytes), owner_(owner) {}

void VulkanStorage::mark_written() const { version_ = next_contents_version++; }

VulkanStorage::~VulkanStorage() { ctx_->stream().release(allocation_); }

std::shared_ptr<Context> Context::create(const VulkanOptions& options, Backend* owner) {
  // The QI_VK_FAULT test hook (vk_fault_injection.h), read once; null when unset.
  std::shared_ptr<FaultInjector> faults = FaultInjector::from_environment();
  std::shared_ptr<Context> ctx(new Context());
  ctx->self_ = ctx;
  ctx->owner_ = owner;
  ctx->instance_ = std::make_unique<Instance>(options.validation || validation_requested_by_env());
  std::vector<DeviceCaps> all;
  for (VkPhysicalDevice p : ctx->instance_->physical_devices()) all.push_back(query_device_caps(ctx->instance_->handle(), p));
  const size_t index = choose_device(all, options.device);
  const DeviceCaps& c = all[index];
  if (options.verbose)
    log_info("vulkan: device " + std::to_string(index) + ": " + c.name + " (" + c.type + ", " + c.driver + "); " +
             mib(c.device_local_bytes) + " device memory, max allocation " + mib(c.max_allocation) +
             ", max storage buffer " + mib(c.max_storage_buffer_range) + ", " +
             std::to_string(c.max_shared_memory / 1024) + " KiB shared memory, subgroup " +
             std::to_string(c.subgroup_size) + ", fp16 " + (c.fp16 ? "yes" : "no") + ", NV coopmat " +
             (c.nv_coopmat ? "yes" : "no") + ", workgroup coopmat " + (c.coopmat_workgroup ? "yes" : "no") + ", uploads " + (c.memory_types.zero_copy >= 0 ? "zero-copy" : "staged"));
  const int copy_family = streamed_copy_family(c, options.streamed_copies);
  if (options.verbose && copy_family >= 0 && copy_family != c.compute_queue_family)
    log_info("vulkan: weights streamed from host memory are copied on a transfer queue (family " +
             std::to_string(copy_family) + "), beside the kernels");
  ctx->device_ = std::make_unique<Device>(c, copy_family);
  ctx->allocator_ = std::make_unique<Allocator>(*ctx->device_);
  std::string cache = options.pipeline_cache_path.empty() ? default_pipeline_cache_path(c) : options.pipeline_cache_path;
  ctx->pipelines_ = std::make_unique<PipelineRegistry>(*ctx->device_, cache);
  ctx->stream_ = std::make_unique<CommandStream>(*ctx->device_, *ctx->allocator_);
  if (faults) {
    ctx->allocator_->set_fault_injector(faults);
    ctx->stream_->set_fault_injector(faults);
  }
  Context* raw = ctx.get();
  ctx->allocator_->set_idle_wait([raw] { raw->stream_->wait_idle(); });

  ctx->dummy_ = ctx->allocator_->allocate(kDummyBytes, Arena::Weights);
  BufferRange dummy{ctx->dummy_.buffer(), ctx->dummy_.offset, kDummyBytes};
  ctx->stream_->record({}, {&dummy, 1}, "init",
                       [dummy](VkCommandBuffer cb) { vkCmdFillBuffer(cb, dummy.buffer, dummy.offset, dummy.size, 0); });
  return ctx;
}

Context::~Context() {
  if (stream_) {
    try {
      stream_->wait_idle();
    } catch (const std::exception& e) {
      log_warn(std::string("vulkan teardown: ") + e.what());
    }
  }
  if (allocator_) allocator_->free(dummy_, 0);
  stream_.reset();     // waits, frees staging
  pipelines_.reset();  // saves the pipeline cache
  allocator_.reset();
  device_.reset();
  instance_.reset();
}

Tensor Context::alloc(const Shape& shape, DType dtype, Arena arena, bool poison) {
  for (int64_t d : shape)
    if (d < 0) throw RuntimeFailure("vulkan: negative dimension in " + shape_str(shape));
  const uint64_t bytes = uint64_t(shape_numel(shape)) * dtype_size(dtype);
  const uint64_t bound = round_up(std::max<uint64_t>(bytes, kBindingGranule), kBindingGranule);
  if (bound > caps().max_storage_buffer_range)
    throw RuntimeFailure("tensor " + std::string(dtype_name(dtype)) + shape_str(shape) + " needs " + mib(bytes) +
                         ", more than this device's maxStorageBufferRange (" + mib(caps().max_storage_buffer_range) +
                         "): a shader cannot bind it");
  Allocation a = allocator_->allocate(bound, arena);
  Tensor t(std::make_shared<VulkanStorage>(self_.lock(), a, size_t(bytes), owner_), shape, dtype);
  // Every byte 0xFF: a NaN in F32, F16 and BF16 alike (and the CPU backend's poison for I32/U8).
  constexpr uint32_t kPoisonWord = 0xFFFFFFFFu;
  if (poison && poison_) fill(t, kPoisonWord, "poison");
  return t;
}

const VulkanStorage& Context::storage(const Tensor& t, std::string_view op, std::string_view what) const {
  if (!t.defined()) throw RuntimeFailure(std::string(op) + ": " + std::string(what) + " is undefined");
  auto* s = dynamic_cast<const VulkanStorage*>(t.storage());
  if (!s || s->backend() != owner_)
    throw RuntimeFailure(std::string(op) + ": " + std::string(what) + " " + t.describe() +
                         " does not belong to this Vulkan backend");
  return *s;
}

namespace {
std::vector<uint64_t> contents_versions(const Context& ctx, std::span<const Tensor> sources) {
  std::vector<uint64_t> v;
  for (const Tensor& t : sources) v.push_back(t.defined() ? ctx.storage(t, "derived", "source").contents_version() : 0);
  return v;
}
}  // namespace

const Tensor* Context::derived(std::string_view kind, std::span<const Tensor> sources) const {
  auto it = derived_.find({std::string(kind), contents_versions(*this, sources)});
  return it == derived_.end() ? nullptr : &it->second;
}

void Context::set_derived(std::string_view kind, std::span<const Tensor> sources, Tensor value) {
  if (derived_.size() >= kMaxDerived) derived_.clear();
  derived_[{std::string(kind), contents_versions(*this, sources)}] = std::move(value);
}

BufferRange Context::range(const Tensor* t, std::string_view op) const {
  if (!t || !t->defined()) return BufferRange{dummy_.buffer(), dummy_.offset, kDummyBytes};
  const Allocation& a = storage(*t, op, "argument").allocation();
  return BufferRange{a.buffer(), a.offset, round_up(std::max<uint64_t>(t->bytes(), kBindingGranule), kBindingGranule)};
}

void Context::fill(const Tensor& t, uint32_t word, std::string_view op) {
  BufferRange r = range(&t, op);
  if (t.defined()) storage(t, op, "argument").mark_written();
  stream_->record({}, {&r, 1}, op,
                  [r, word](VkCommandBuffer cb) { vkCmdFillBuffer(cb, r.buffer, r.offset, r.size, word); });
}

Context::UploadFill Context::copy_from(const void* src) {
  const auto* p = static_cast<const uint8_t*>(src);
  return [p](uint8_t* to, uint64_t offset, uint64_t n) { std::memcpy(to, p + offset, n); };
}

void Context::upload(const Tensor& dst, const void* src, size_t bytes) { upload_with(dst, bytes, copy_from(src)); }

void Context::upload_with(const Tensor& dst, size_t bytes, const UploadFill& fill) {
  if (bytes == 0) return;
  const VulkanStorage& written = storage(dst, "upload", "destination");
  const Allocation& a = written.allocation();
  if (bytes > dst.bytes()) throw std::logic_error("vulkan upload larger than its tensor");
  written.mark_written();
  // Zero-copy: write through the mapping unless the range's previous owner may still be in use on the GPU.
  if (a.mapped() && stream_->completed_serial() >= a.reuse_serial) {
    for (uint64_t off = 0; off < bytes; off += kUploadChunkBytes)
      fill(a.mapped() + off, off, std::min<uint64_t>(kUploadChunkBytes, bytes - off));
    return;
  }
  for (uint64_t off = 0; off < bytes; off += kUploadChunkBytes) {
    const uint64_t n = std::min<uint64_t>(kUploadChunkBytes, bytes - off);
    if (staged_in_batch_ + n > kStagingPerBatch) {
      stream_->submit();
      staged_in_batch_ = 0;
    }
    Allocation st = allocator_->allocate(n, Arena::Staging);
    fill(st.mapped(), off, n);
    BufferRange from{st.buffer(), st.offset, n}, to{a.buffer(), a.offset + off, n};
    stream_->record({&from, 1}, {&to, 1}, "upload", [from, to](VkCommandBuffer cb) {
      const VkBufferCopy region{from.offset, to.offset, to.size};
      vkCmdCopyBuffer(cb, from.buffer, to.buffer, 1, &region);
    });
    stream_->release_after_completion(st);
    staged_in_batch_ += n;
  }
}

void Context::download(const Tensor& src, void* dst) {
  const Allocation& a = storage(src, "to_host", "tensor").allocation();
  const size_t bytes = src.bytes();
  stream_->wait_idle();
  stream_->throw_if_failed();  // nothing valid to read
  staged_in_batch_ = 0;
  if (bytes == 0) return;
  if (a.mapped()) {
    std::memcpy(dst, a.mapped(), bytes);
    return;
  }
  Allocation rb = allocator_->allocate(bytes, Arena::Readback);
  BufferRange from{a.buffer(), a.offset, bytes}, to{rb.buffer(), rb.offset, bytes};
  stream_->record({&from, 1}, {&to, 1}, "download", [from, to](VkCommandBuffer cb) {
    const VkBufferCopy region{from.offset, to.offset, to.size};
    vkCmdCopyBuffer(cb, from.buffer, to.buffer, 1, &region);
  });
  stream_->wait_idle();
  std::memcpy(dst, rb.mapped(), bytes);
  allocator_->free(rb, stream_->recording_serial());
}

void Context::dispatch(std::string_view op, std::string_view shader, std::initializer_list<Arg> args,
                       const void* push, size_t push_bytes, Grid grid, std::span<const uint32_t> spec) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;  // empty tensors: nothing to do
  constexpr size_t kMaxBindings = 16;  // push-descriptor bindings of one dispatch
  if (args.size() > kMaxBindings) throw std::logic_error("vulkan dispatch: too many bindings");
  BufferRange reads[kMaxBindings], writes[kMaxBindings];
  std::array<VkDescriptorBufferInfo, kMaxBindings> infos;
  size_t nr = 0, nw = 0, i = 0;
  for (const Arg& arg : args) {
    BufferRange r = range(arg.tensor, op);
    if (arg.access != Access::Write) reads[nr++] = r;
    if (arg.access != Access::Read) {
      writes[nw++] = r;
      if (arg.tensor && arg.tensor->defined()) storage(*arg.tensor, op, "argument").mark_written();
    }
    infos[i++] = VkDescriptorBufferInfo{r.buffer, r.offset, r.size};
  }
  const Pipeline& p = pipelines_->get(shader, uint32_t(args.size()), spec);
  const auto* push_begin = static_cast<const uint8_t*>(push);
  std::vector<uint8_t> push_copy(push_begin, push_begin + push_bytes);
  auto push_descriptors = device_->push_descriptor_set();
  stream_->record({reads, nr}, {writes, nw}, op,
                  [pipeline = &p, layout = p.layout(), infos, bindings = uint32_t(i),
                   push_copy = std::move(push_copy), push_descriptors, grid](VkCommandBuffer cb) {
                    std::array<VkWriteDescriptorSet, kMaxBindings> sets;
                    for (uint32_t b = 0; b < bindings; ++b) {
                      sets[b] = VkWriteDescriptorSet{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
                      sets[b].dstBinding = b;
                      sets[b].descriptorCount = 1;
                      sets[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
                      sets[b].pBufferInfo = &infos[b];
                    }
                    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->handle());
                    push_descriptors(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, bindings, sets.data());
                    if (!push_copy.empty())
                      vkCmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, uint32_t(push_copy.size()),
                                         push_copy.data());
                    vkCmdDispatch(cb, grid.x, grid.y, grid.z);
                  },
                  &p);
}

}  // namespace qi::vk

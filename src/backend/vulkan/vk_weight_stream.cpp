#include "backend/vulkan/vk_weight_stream.h"

#include "backend/vulkan/vk_op_checks.h"
#include "core/log.h"

namespace qi::vk {
namespace {

// A host weight: the staging-arena tensor that holds it, behind a storage type ops do not accept.
class HostWeightStorage final : public Storage {
 public:
  HostWeightStorage(Tensor inner, uint64_t ready_serial, std::shared_ptr<HostWeightLedger> ledger, Backend* owner)
      : inner_(std::move(inner)), ready_serial_(ready_serial), ledger_(std::move(ledger)), owner_(owner) {
    ++ledger_->live;
  }
  ~HostWeightStorage() override {
    std::shared_ptr<Context> ctx = ledger_->context.lock();
    try {
      if (ctx) ctx->stream().wait_transfers();  // a copy submitted apart may still read it
    } catch (const std::exception& e) {
      log_warn(std::string("vulkan: waiting for weight copies: ") + e.what());
    }
    inner_ = Tensor();  // the range goes back to the staging arena
    if (--ledger_->live != 0 || !ctx) return;
    // The last host weight is gone (a streamed model was freed): return the empty blocks, the pinned
    // staging blocks among them, to the driver instead of keeping them cached.
    try {
      ctx->stream().wait_idle();
      ctx->allocator().release_empty_blocks();
    } catch (const std::exception& e) {
      log_warn(std::string("vulkan: releasing host weight memory: ") + e.what());
    }
  }
  HostWeightStorage(const HostWeightStorage&) = delete;
  HostWeightStorage& operator=(const HostWeightStorage&) = delete;

  size_t bytes() const override { return inner_.bytes(); }
  Backend* backend() const override { return owner_; }
  const Tensor& inner() const { return inner_; }
  // The batch that may have written it (a staged upload); copies submitted apart wait for it.
  uint64_t ready_serial() const { return ready_serial_; }

 private:
  Tensor inner_;
  uint64_t ready_serial_;
  std::shared_ptr<HostWeightLedger> ledger_;
  Backend* owner_;
};

const HostWeightStorage* host_weight_storage(const Tensor& t) {
  return dynamic_cast<const HostWeightStorage*>(t.storage());
}

}  // namespace

Tensor make_host_weight(Context& ctx, const std::shared_ptr<HostWeightLedger>& ledger, Backend* owner,
                        const Shape& shape, DType stored, const Context::UploadFill& fill) {
  if (!ledger->checked_memory_type) {
    ledger->checked_memory_type = true;
    // Staging memory is system memory on every driver seen so far; a discrete GPU that offered its own
    // (BAR) memory first would put the streamed weights back into device memory.
    const DeviceCaps& caps = ctx.caps();
    const int type = caps.memory_types.staging;
    if (type >= 0 && caps.type == "discrete" &&
        (caps.memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT))
      log_warn("vulkan: this device's staging memory is device-local: streamed weights will use GPU memory");
  }
  Tensor inner = ctx.alloc(shape, stored, Arena::Staging, /*poison=*/false);
  ctx.upload_with(inner, inner.bytes(), fill);
  // The upload is a host write, or a staged copy in the batch being recorded.
  const uint64_t ready_serial = ctx.stream().recording_serial();
  return Tensor(std::make_shared<HostWeightStorage>(std::move(inner), ready_serial, ledger, owner), shape, stored);
}

const Tensor* host_weight_tensor(const Tensor& t) {
  const HostWeightStorage* s = host_weight_storage(t);
  return s ? &s->inner() : nullptr;
}

void copy_into(Context& ctx, const Tensor& dst, const Tensor& src) {
  if (host_weight_tensor(dst)) fail("copy_into", "dst " + dst.describe() + " is a host weight (read-only)");
  const Tensor* from = host_weight_tensor(src);
  if (!from) from = &src;
  const VulkanStorage& written = ctx.storage(dst, "copy_into", "dst");
  const Allocation& d = written.allocation();
  const Allocation& s = ctx.storage(*from, "copy_into", "src").allocation();
  if (dst.dtype() != src.dtype() || dst.numel() != src.numel())
    fail("copy_into", "src " + src.describe() + " does not match dst " + dst.describe());
  const uint64_t bytes = dst.bytes();
  if (bytes == 0 || (d.buffer() == s.buffer() && d.offset == s.offset)) return;  // nothing to move
  written.mark_written();
  const BufferRange read{s.buffer(), s.offset, bytes}, write{d.buffer(), d.offset, bytes};
  if (const HostWeightStorage* host = host_weight_storage(src); host && ctx.stream().copies_apart()) {
    // From host memory on the transfer queue, beside the kernels (ordered with them by the stream).
    ctx.stream().record_transfer(read, host->ready_serial(), write);
    return;
  }
  // The hazard tracker puts a barrier first if dst is still being read (the previous block in a streaming
  // slot) or src/dst were just written; later readers of dst wait for the copy the same way.
  ctx.stream().record({&read, 1}, {&write, 1}, "copy_into", [read, write, bytes](VkCommandBuffer cb) {
    const VkBufferCopy region{read.offset, write.offset, bytes};
    vkCmdCopyBuffer(cb, read.buffer, write.buffer, 1, &region);
  });
}

}  // namespace qi::vk

// The Vulkan side of weight streaming (Backend::upload_host_weight / copy_into, model/weight_stream.h).
//
// A host weight is a tensor in the allocator's staging arena: host-visible, host-coherent memory (pinned
// system memory on a discrete GPU) that the GPU reads over PCIe with vkCmdCopyBuffer. It is wrapped in a
// storage type of its own so that ops refuse it (they would read it across the bus) and so that the staging
// blocks holding it go back to the driver once the last host weight is gone (the allocator would otherwise
// keep tens of GB of pinned memory cached). Staging memory is not counted in memory_stats(): the peak a
// stage reports is device memory only.
#pragma once
#include <memory>

#include "backend/vulkan/vk_context.h"

namespace qi::vk {

// Live host weights of one backend: when the count drops to zero the empty blocks are released.
struct HostWeightLedger {
  std::weak_ptr<Context> context;
  int64_t live = 0;
  bool checked_memory_type = false;  // warned (once) if the staging memory type is device memory
};

// A host weight of `stored` dtype, its bytes written by fill (Context::upload_with).
Tensor make_host_weight(Context& ctx, const std::shared_ptr<HostWeightLedger>& ledger, Backend* owner,
                        const Shape& shape, DType stored, const Context::UploadFill& fill);

// The staging-arena tensor behind a host weight, or nullptr when t is not one.
const Tensor* host_weight_tensor(const Tensor& t);

// Records dst <- src (src a device tensor or a host weight, dst a device tensor; same dtype and size).
void copy_into(Context& ctx, const Tensor& dst, const Tensor& src);

}  // namespace qi::vk

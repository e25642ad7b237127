// The Vulkan runtime that every op's dispatch code uses: device, memory, pipelines and command recording
// behind one object, and the dispatch API.
//
// ---- Adding a shader ------------------------------------------------------------------------------------
//  1. Write shaders/<op>.comp (one file per op family; shared helpers live in shaders/*.glsl, e.g.
//     common.glsl's linear_group_id() and half_words.glsl's 16-bit loads). Bindings are storage buffers
//     0..n-1 in set 0, in the order the dispatch passes them; shapes and flags go in one push-constant block
//     (at most kMaxPushConstantBytes = 128 bytes; mirror it with a C++ struct of uint32_t/float fields).
//     Tile or workgroup sizes that vary per device can be specialization constants (constant_id 0, 1, ...).
//  2. Register each compiled variant in shaders/shaders.cmake:
//        qi_shader(NAME matmul_scalar_bf16 SOURCE matmul.comp DEFINES W_BF16=1)
//        qi_shader(NAME matmul_coopmat_nv_f16 SOURCE matmul_coopmat_nv.comp DEFINES W_F16=1
//                  REQUIRES GL_NV_cooperative_matrix)
//     A variant whose REQUIRES extension this glslc cannot compile is left out of the build;
//     PipelineRegistry::has_shader(name) tells the dispatch code at run time.
//  3. Dispatch it from the op's C++ file (vk_<op>.cpp):
//        struct Push { uint32_t n; float alpha; float beta; } push{n, alpha, beta};
//        ctx.dispatch("scale", "scale", {in(x), out(y)}, push, linear_grid(ceil_div(n, 256)));
//     in()/out()/inout() declare how each binding is accessed: the hazard tracker inserts a barrier only
//     where this dispatch reads what an earlier one wrote (RAW) or writes what one read or wrote (WAR/WAW).
//     An undefined Tensor binds a small zero-filled dummy buffer (optional inputs: pass a flag in the push
//     block). The first argument names the op for op_timings(); spec constants go in the last argument.
//  4. If the op has several implementations, register them in the backend's VariantTable (best first) and
//     branch on ctx.variants().selected("<op>"): variants() / select_variant() then list and pick them.
//
// Grids: linear_grid(g) splits g workgroups into x <= 65535 columns and y rows; the shader rebuilds the
// linear index with linear_group_id() and must bounds-check it.
#pragma once
#include <map>
#include <span>
#include <vector>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "backend/vulkan/vk_commands.h"
#include "backend/vulkan/vk_instance.h"
#include "backend/vulkan/vk_pipelines.h"
#include "backend/vulkan/vk_variants.h"
#include "backend/vulkan/vulkan_backend.h"

namespace qi::vk {

// Uploads write host data in chunks of this size (Context::upload_with): each staged chunk is a copy of its
// own, and large enough that a chunk's fixed costs vanish next to its transfer.
inline constexpr uint64_t kUploadChunkBytes = 64 * kMiB;

class Context;

// A tensor's memory: a range of an allocator block, returned to the allocator when the last Tensor
// referring to it goes away. Keeps the context (and so the device) alive.
class VulkanStorage final : public Storage {
 public:
  VulkanStorage(std::shared_ptr<Context> ctx, Allocation allocation, size_t bytes, Backend* owner);
  ~VulkanStorage() override;
  VulkanStorage(const VulkanStorage&) = delete;
  VulkanStorage& operator=(const VulkanStorage&) = delete;

  size_t bytes() const override { return bytes_; }
  Backend* backend() const override { return owner_; }
  const Allocation& allocation() const { return allocation_; }
  // A number that changes whenever the contents may change (every recorded or host write: Context marks
  // them), unique across storages: what data derived from the contents is keyed by (Context::derived).
  uint64_t contents_version() const { return version_; }
  void mark_written() const;

 private:
  std::shared_ptr<Context> ctx_;
  Allocation allocation_;
  mutable uint64_t version_;
  size_t bytes_;
  Backend* owner_;
};

enum class Access : uint8_t { Read, Write, ReadWrite };

struct Arg {
  const Tensor* tensor;  // nullptr or undefined: the dummy buffer
  Access access;
};
inline Arg in(const Tensor& t) { return {&t, Access::Read}; }
inline Arg out(const Tensor& t) { return {&t, Access::Write}; }
inline Arg inout(const Tensor& t) { return {&t, Access::ReadWrite}; }

struct Grid {
  uint32_t x = 1, y = 1, z = 1;
};

constexpr uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
// Largest workgroup count per grid dimension that every Vulkan device accepts (maxComputeWorkGroupCount).
constexpr uint32_t kMaxGridDim = 65535;
// g linear workgroups as a 2-D grid (x <= kMaxGridDim); throws if even that cannot hold them.
Grid linear_grid(uint64_t groups);

// Where a 16×16 fp32 NV cooperative-matrix accumulator keeps its components, within the family the register
// kernels handle: component e of lane l holds row l/4 + 8·bit(e, row_half_bit), column 8·bit(e,
// column_half_bit) + 2·(l mod 4) + bit(e, 0). Found on the device by vk_coopmat_layout.h's probe; the
// register kernels take both bits as specialization constants 0 and 1.
struct AccumulatorLayout {
  uint32_t row_half_bit = 1, column_half_bit = 2;
};

class Context {
 public:
  // Creates the device, memory, pipelines and command stream. owner is the Backend its tensors report.
  static std::shared_ptr<Context> create(const VulkanOptions& options, Backend* owner);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // ---- tensors ----------------------------------------------------------------------------------------
  // A new tensor (poisoned with NaN / 0xFF bytes when poisoning is on and poison is true). Throws
  // RuntimeFailure if the tensor cannot be bound by a shader (larger than maxStorageBufferRange).
  Tensor alloc(const Shape& shape, DType dtype, Arena arena = Arena::Activations, bool poison = true);
  // The tensor's storage, after checking that it belongs to this backend.
  const VulkanStorage& storage(const Tensor& t, std::string_view op, std::string_view what) const;
  // Writes bytes of host data into a tensor not yet used by any recorded command (in order with them).
  void upload(const Tensor& dst, const void* src, size_t bytes);
  // The same for data made on the fly: fill(to, offset, n) writes bytes [offset, offset + n) of the new
  // contents to `to`, host-visible memory (a staging chunk, or the tensor's own where it is mapped). Offsets
  // are multiples of kUploadChunkBytes; fill may use several threads.
  using UploadFill = std::function<void(uint8_t* to, uint64_t offset, uint64_t n)>;
  void upload_with(const Tensor& dst, size_t bytes, const UploadFill& fill);
  // The fill that copies host data as it is (what upload does).
  static UploadFill copy_from(const void* src);
  // Waits for all recorded work, then copies the tensor's bytes to dst.
  void download(const Tensor& src, void* dst);
  void set_poison(bool on) { poison_ = on; }

  // ---- recording ----------------------------------------------------------------------------------------
  void dispatch(std::string_view op, std::string_view shader, std::initializer_list<Arg> args, const void* push,
                size_t push_bytes, Grid grid, std::span<const uint32_t> spec = {});
  template <class Push>
  void dispatch(std::string_view op, std::string_view shader, std::initializer_list<Arg> args, const Push& push,
                Grid grid, std::span<const uint32_t> spec = {}) {
    static_assert(sizeof(Push) <= kMaxPushConstantBytes, "push-constant block too large");
    dispatch(op, shader, args, &push, sizeof(Push), grid, spec);
  }
  // Fills a tensor's memory with a 32-bit pattern (recorded in order).
  void fill(const Tensor& t, uint32_t word, std::string_view op);

  // ---- data derived from tensors' contents ----------------------------------------------------------------
  // Small tensors computed from others (modulated_mlp's weight bound), reused while every source keeps its
  // contents: keyed by a kind and the sources' contents versions (undefined sources count as version 0).
  // The cache holds Tensors, which hold the context: the backend clears it before letting go of the context.
  const Tensor* derived(std::string_view kind, std::span<const Tensor> sources) const;
  void set_derived(std::string_view kind, std::span<const Tensor> sources, Tensor value);
  void clear_derived() { derived_.clear(); }

  // ---- access to the parts ----------------------------------------------------------------------------
  const DeviceCaps& caps() const { return device_->caps(); }
  CommandStream& stream() { return *stream_; }
  Allocator& allocator() { return *allocator_; }
  PipelineRegistry& pipelines() { return *pipelines_; }
  VariantTable& variants() { return variants_; }
  const VariantTable& variants() const { return variants_; }
  bool validation_enabled() const { return instance_->validation_enabled(); }
  // The accumulator layout the probe found (none: no NV cooperative matrices, or a layout outside the family).
  const std::optional<AccumulatorLayout>& accumulator_layout() const { return accumulator_layout_; }
  void set_accumulator_layout(std::optional<AccumulatorLayout> l) { accumulator_layout_ = l; }

 private:
  Context() = default;
  BufferRange range(const Tensor* t, std::string_view op) const;

  std::weak_ptr<Context> self_;
  Backend* owner_ = nullptr;
  std::unique_ptr<Instance> instance_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<PipelineRegistry> pipelines_;
  std::unique_ptr<CommandStream> stream_;
  Allocation dummy_;  // bound for absent optional inputs
  VariantTable variants_;
  std::optional<AccumulatorLayout> accumulator_layout_;
  bool poison_ = false;
  uint64_t staged_in_batch_ = 0;  // staging bytes uploaded in the batch being recorded
  std::map<std::pair<std::string, std::vector<uint64_t>>, Tensor> derived_;
};

}  // namespace qi::vk

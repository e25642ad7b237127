// Command recording and submission. Commands (dispatches, copies, fills) are recorded into the current
// batch's command buffer; the hazard tracker inserts a barrier only where a command depends on earlier
// unsynchronised work. A batch is submitted (without waiting) when it is full, at the end of a stage and on
// flush; up to kBatchesInFlight batches run while the next one records. With profiling on, every command is
// bracketed by timestamps and its device time is added to its op's total when its batch completes.
//
// Commands are not written to the command buffer at once: they wait in a window of a few phases, each a set
// of commands that touch no range another in it writes, and a new command joins the earliest phase after the
// last one it conflicts with (RAW, WAR or WAW). So independent work recorded apart, such as the text
// stream's products after the image stream's in an MMDiT block, shares the stretch between two barriers and
// runs concurrently: a small latency-bound dispatch fills the SMs that a large one leaves idle. Dependent
// commands keep their order. The window is written out, oldest phase first, when it is full and before
// every submission, so a command always lands in the batch that was being recorded when it was made.
// QI_COMMAND_REORDER=0 in the environment keeps one phase: commands are written in program order.
//
// A dispatch names its pipeline, which a compile worker may still be creating (PipelineRegistry). While the
// oldest phase waits for one, the window grows past its usual depth instead of being written, up to
// kCompileLookaheadCommands commands, so that the pipelines of the commands recorded meanwhile compile at the
// same time; then writing waits. If the driver fails to create a pipeline, its command is left out and the
// stream is failed from then on: the next command recorded and every read-back throw the driver's error.
//
// Where the device copies apart from the kernels (Device::copies_apart(): a transfer queue for weights streamed
// from host memory), record_transfer() submits a copy there at once. Ordering with the kernels goes through
// timeline semaphores: the copy waits for the compute batch after which nothing touches its destination's
// previous contents (that batch is submitted first if it is still being recorded), and the first batch whose
// kernels touch the destination afterwards waits for the copy (the batch is split there, so the kernels
// recorded before it do not wait).
//
// Device loss (VK_ERROR_DEVICE_LOST from a submission or a fence wait) is sticky: from then on nothing runs.
// Recording a new command and reading results back (throw_if_failed) throw RuntimeFailure "the GPU
// stopped responding ..."; submitting and waiting do not, because they also run in destructors (a stage's
// end, backend and context teardown): they drop the work and return, so teardown after a loss is safe.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/vulkan/vk_fault_injection.h"
#include "backend/vulkan/vk_hazards.h"
#include "backend/vulkan/vk_memory.h"
#include "backend/vulkan/vk_pipelines.h"
#include "backend/vulkan/vk_transfer_queue.h"
#include "ops/backend.h"

namespace qi::vk {

inline constexpr const char* kCommandReorderEnvVar = "QI_COMMAND_REORDER";
// The most commands the window holds while its oldest phase waits for a pipeline being compiled: about a
// transformer block's dispatches at the CFG batch, so the pipelines of a stage's first block compile together,
// while the memory that waits with them for release (kMaxDeferredRelease each) stays bounded.
inline constexpr size_t kCompileLookaheadCommands = 256;

class CommandStream {
 public:
  CommandStream(const Device& device, Allocator& allocator);
  ~CommandStream();
  CommandStream(const CommandStream&) = delete;
  CommandStream& operator=(const CommandStream&) = delete;

  // Writes one command into a command buffer (everything it needs captured by value).
  using Recorder = std::function<void(VkCommandBuffer)>;
  // One command accessing these ranges: `body` is called with the command buffer when the command leaves the
  // reordering window (after any barrier it needs and its start timestamp). `pipeline`: the one a dispatch
  // binds, which must outlive the stream; the body is called once it has been created.
  void record(std::span<const BufferRange> reads, std::span<const BufferRange> writes, std::string_view op,
              Recorder body, const Pipeline* pipeline = nullptr);
  // Writes the reordering window into the batch being recorded (tests; every submission does it).
  void record_window();
  // Gives a tensor's memory back to the allocator once every command recorded so far has left the window:
  // a range reused while a command that touches it still waits there would tie the new owner's commands
  // to it (a conflict, so a later phase) and keep independent work from meeting. Large ranges, and any while
  // the window waits for pipelines, go back at once (the memory peak matters more there).
  void release(const Allocation& a);

  // Copies submitted apart from the kernels (see above); only where device.copies_apart(). `from` must not be
  // written by kernels recorded after `from_ready_serial` (the batch that last wrote it, 0 for host writes).
  bool copies_apart() const { return device_.copies_apart(); }
  void record_transfer(const BufferRange& from, uint64_t from_ready_serial, const BufferRange& to);
  uint64_t transfers_submitted() const { return transfers_; }
  // Waits until every copy submitted apart has completed (before the memory they read is freed).
  void wait_transfers();

  // Submits the recorded batch (no wait).
  void submit();
  // Submits and waits until every batch has completed (or the device is lost: see above).
  void wait_idle();
  // Throws RuntimeFailure when the device has been lost or a command could not be written (its pipeline
  // failed): results read back now would be garbage.
  void throw_if_failed() const;
  bool device_lost() const { return !lost_in_.empty(); }

  // Stage boundaries (Backend::begin_stage / end_stage): submit what is recorded; the fault hook counts
  // per stage.
  void begin_stage(std::string_view name);
  void end_stage();
  // Test hook (QI_VK_FAULT): simulated device loss in front of vkQueueSubmit / vkWaitForFences. Null: none.
  void set_fault_injector(std::shared_ptr<FaultInjector> faults) { faults_ = std::move(faults); }

  // The batch being recorded: anything that touches a range now is done once this serial has completed.
  uint64_t recording_serial() const { return next_serial_; }
  uint64_t completed_serial() const { return completed_serial_; }
  // Frees a staging range once the batch being recorded has completed.
  void release_after_completion(Allocation staging);

  void set_profiling(bool on);
  std::vector<OpTiming> timings() const;

  // Counters (tests use them to check the hazard tracker and the batching).
  uint64_t barriers_recorded() const { return barriers_; }
  uint64_t commands_recorded() const { return commands_; }
  uint64_t submissions() const { return submissions_; }
  size_t window_commands() const { return window_commands_; }

 private:
  struct Batch {
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkQueryPool queries = VK_NULL_HANDLE;
    uint64_t serial = 0;
    bool recording = false;
    bool in_flight = false;
    bool timed = false;  // timestamps recorded (profiling was on when the batch began)
    uint64_t transfer_wait = 0;  // the transfer timeline value the batch waits for before it starts (0: none)
    uint32_t commands = 0;
    std::vector<std::string> timed_ops;  // op of each timestamp pair
    std::vector<Allocation> staging;     // freed on completion
  };

  // A command in the reordering window, and a phase of it: commands that may run concurrently.
  struct Deferred {
    std::vector<BufferRange> reads, writes;
    std::string op;
    Recorder body;
    const Pipeline* pipeline = nullptr;
  };
  struct Phase {
    HazardTracker accesses;
    std::vector<Deferred> commands;
    std::vector<Allocation> released;  // freed once this phase (and every older one) is written
  };

  // A range copies were submitted apart into: the batch that last touched it by a kernel, and the transfer
  // timeline value of the last copy into it.
  struct CopyTarget {
    BufferRange range;
    uint64_t last_access = 0;
    uint64_t copy_value = 0;
  };

  Batch& current() { return batches_[current_]; }
  // Creates the transfer queue and this queue's timeline semaphore (first record_transfer()).
  void start_transfers();
  // For a command about to be recorded: waits for copies into what it touches (splitting the batch so only
  // it and later commands wait), and notes that its batch touches them.
  void order_after_copies(std::span<const BufferRange> reads, std::span<const BufferRange> writes);
  // Writes one command into the current batch after the barrier it needs.
  void emit(Deferred& command);
  void emit_oldest_phase();
  // Whether every pipeline the phase's commands bind has been created (or has failed).
  static bool compiled(const Phase& phase);
  void begin_batch(Batch& b);
  void retire(Batch& b);  // waits for b's fence, collects timestamps, frees staging
  // Adds `count` timed commands of `op` taking `ms` of device time in all to the profile.
  void add_timing(const std::string& op, uint64_t count, double ms);
  void record_barrier(VkCommandBuffer cb);
  // vkQueueSubmit / vkWaitForFences through the fault injector when there is one.
  VkResult queue_submit(Batch& b);
  VkResult wait_fence(Batch& b);
  // Records the loss (the call that saw it first); the work in flight is abandoned.
  void note_device_lost(const char* call);

  const Device& device_;
  Allocator& allocator_;
  std::vector<Batch> batches_;
  size_t current_ = 0;
  HazardTracker hazards_;  // commands written since the last barrier
  std::deque<Phase> window_;
  size_t window_commands_ = 0;
  size_t window_phases_;     // kWindowPhases, or 1 with QI_COMMAND_REORDER=0
  bool program_order_;       // QI_COMMAND_REORDER=0: a command joins only the newest phase, never an older one
  uint64_t next_serial_ = 1;
  uint64_t completed_serial_ = 0;
  bool profiling_ = false;
  std::map<std::string, OpTiming, std::less<>> timings_;
  uint64_t barriers_ = 0, commands_ = 0, submissions_ = 0;
  std::string lost_in_;  // the Vulkan call that reported VK_ERROR_DEVICE_LOST first; empty while the device works
  std::string unwritten_;  // why the first command left out was (its pipeline's error); empty while none was
  std::shared_ptr<FaultInjector> faults_;
  // Copies submitted apart (null until the first one).
  std::unique_ptr<TransferQueue> transfer_;
  VkSemaphore compute_timeline_ = VK_NULL_HANDLE;  // signalled with each batch's serial once transfers started
  std::vector<CopyTarget> copy_targets_;            // forgotten in wait_idle(), when every copy has completed
  uint64_t batch_transfer_wait_ = 0;                // the transfer value the batch being recorded must wait for
  uint64_t transfer_waited_ = 0;                    // the highest one a submitted batch waits for
  uint64_t transfers_ = 0;
};

}  // namespace qi::vk

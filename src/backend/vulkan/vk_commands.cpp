#include "backend/vulkan/vk_commands.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/error.h"
#include "core/log.h"

namespace qi::vk {
namespace {

// Batches that may execute while the next one records: enough to keep the GPU busy, few enough to bound the
// memory kept alive by in-flight staging copies.
constexpr size_t kBatchesInFlight = 3;
// Commands per command buffer: bounds one submission (and the per-batch timestamp pool).
constexpr uint32_t kMaxCommandsPerBatch = 512;
// Timestamps per command (before and after).
constexpr uint32_t kQueriesPerCommand = 2;
// Tracked ranges since the last barrier above which a barrier is inserted anyway: keeps the overlap test cheap.
constexpr size_t kMaxPendingRanges = 256;
// Phases of the reordering window: deep enough that a stream's chain in an MMDiT block (packing, product,
// split-K sum, then the next sub-block's) still finds the other stream's in the window; a command's placement
// scans them, newest first.
constexpr size_t kWindowPhases = 6;
// Memory released while commands wait in the window goes back to the allocator only after they are written
// (CommandStream::release) up to this size: the text stream's tensors and a small image's, whose reuse would
// serialise the streams. Larger ones (a 1328² image's activations, 87-339 MB) are freed at once, so the
// window does not raise the peak: holding them measured +0.94 GiB at the 1328² CFG batch.
constexpr uint64_t kMaxDeferredRelease = uint64_t(32) << 20;

constexpr VkPipelineStageFlags kWorkStages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kWorkWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kWorkAccess =
    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

std::string device_lost_message(const std::string& call) {
  return "the GPU stopped responding (VK_ERROR_DEVICE_LOST from " + call +
         "): a shader fault, a dispatch that outran the driver's timeout, or a driver reset; the work in progress "
         "is lost. If it happens again, try a smaller --width/--height, another GPU (--device) or --backend cpu";
}

}  // namespace

CommandStream::CommandStream(const Device& device, Allocator& allocator)
    : device_(device), allocator_(allocator), batches_(kBatchesInFlight) {
  const char* reorder = std::getenv(kCommandReorderEnvVar);
  program_order_ = reorder && std::strcmp(reorder, "0") == 0;
  window_phases_ = program_order_ ? 1 : kWindowPhases;
  VkDevice dev = device_.handle();
  for (Batch& b : batches_) {
    create_command_buffer(dev, uint32_t(device_.caps().compute_queue_family), &b.pool, &b.cb);
    VkFenceCreateInfo finfo{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    check(vkCreateFence(dev, &finfo, nullptr, &b.fence), "vkCreateFence");
  }
}

CommandStream::~CommandStream() {
  try {
    wait_idle();  // after a device loss this returns at once
  } catch (const std::exception&) {
    // Teardown goes on: whatever failed was reported by the call that met it first.
  }
  VkDevice dev = device_.handle();
  transfer_.reset();  // waits for its copies
  if (compute_timeline_) vkDestroySemaphore(dev, compute_timeline_, nullptr);
  for (Batch& b : batches_) {
    for (const Allocation& a : b.staging) allocator_.free(a, 0);
    if (b.queries) vkDestroyQueryPool(dev, b.queries, nullptr);
    vkDestroyFence(dev, b.fence, nullptr);
    vkDestroyCommandPool(dev, b.pool, nullptr);
  }
}

void CommandStream::begin_batch(Batch& b) {
  check(vkResetCommandPool(device_.handle(), b.pool, 0), "vkResetCommandPool");
  VkCommandBufferBeginInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  info.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(b.cb, &info), "vkBeginCommandBuffer");
  b.serial = next_serial_;
  b.recording = true;
  b.commands = 0;
  b.timed_ops.clear();
  b.timed = profiling_ && device_.caps().timestamp_period_ns > 0;
  if (b.timed) {
    if (!b.queries) {
      VkQueryPoolCreateInfo q{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
      q.queryType = VK_QUERY_TYPE_TIMESTAMP;
      q.queryCount = kMaxCommandsPerBatch * kQueriesPerCommand;
      check(vkCreateQueryPool(device_.handle(), &q, nullptr, &b.queries), "vkCreateQueryPool");
    }
    vkCmdResetQueryPool(b.cb, b.queries, 0, kMaxCommandsPerBatch * kQueriesPerCommand);
  }
}

void CommandStream::record_barrier(VkCommandBuffer cb) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = kWorkWrites;
  barrier.dstAccessMask = kWorkAccess;
  vkCmdPipelineBarrier(cb, kWorkStages, kWorkStages, 0, 1, &barrier, 0, nullptr, 0, nullptr);
  hazards_.clear();
  ++barriers_;
}

void CommandStream::record(std::span<const BufferRange> reads, std::span<const BufferRange> writes,
                           std::string_view op, Recorder body, const Pipeline* pipeline) {
  throw_if_failed();
  if (!copy_targets_.empty()) order_after_copies(reads, writes);
  // The whole window goes into the batch being recorded: submit first if it would not fit.
  const uint32_t in_batch = current().recording ? current().commands : 0;
  if (in_batch + window_commands_ >= kMaxCommandsPerBatch) submit();
  // The earliest phase after the newest one this command conflicts with (in program order: the newest).
  size_t phase = program_order_ && !window_.empty() ? window_.size() - 1 : 0;
  for (size_t i = window_.size(); i-- > phase;)
    if (window_[i].accesses.conflicts(reads, writes)) {
      phase = i + 1;
      break;
    }
  if (phase == window_.size()) {
    // A full window writes its oldest phases, except while they wait for pipelines being compiled (above).
    while (window_.size() >= window_phases_ &&
           (compiled(window_.front()) || window_commands_ >= kCompileLookaheadCommands)) {
      emit_oldest_phase();
      --phase;
    }
    window_.emplace_back();
  }
  Phase& target = window_[phase];
  target.accesses.add(reads, writes);
  target.commands.push_back(Deferred{{reads.begin(), reads.end()}, {writes.begin(), writes.end()}, std::string(op),
                                     std::move(body), pipeline});
  ++window_commands_;
}

bool CommandStream::compiled(const Phase& phase) {
  for (const Deferred& command : phase.commands)
    if (command.pipeline && !command.pipeline->ready()) return false;
  return true;
}

void CommandStream::start_transfers() {
  // Batches submitted so far signalled no semaphore: once they are done, the timeline starts at the last one.
  wait_idle();
  compute_timeline_ = create_timeline_semaphore(device_.handle(), next_serial_ - 1);
  transfer_ = std::make_unique<TransferQueue>(device_);
  transfer_->set_profiling(profiling_);
}

void CommandStream::record_transfer(const BufferRange& from, uint64_t from_ready_serial, const BufferRange& to) {
  throw_if_failed();
  if (!device_.copies_apart()) throw std::logic_error("record_transfer on a device that copies in order");
  if (!transfer_) start_transfers();
  // The kernels that touched the destination's previous contents: known for a range copied into before,
  // otherwise everything recorded so far.
  auto target = std::find_if(copy_targets_.begin(), copy_targets_.end(), [&](const CopyTarget& t) {
    return t.range.buffer == to.buffer && t.range.offset == to.offset && t.range.size == to.size;
  });
  uint64_t after = std::max(from_ready_serial, target != copy_targets_.end() ? target->last_access : next_serial_);
  if (after >= next_serial_) submit();  // a wait may only name a batch that has been submitted
  after = std::min(after, next_serial_ - 1);  // the batch being recorded holds nothing yet
  bool lost = false;
  const uint64_t value =
      transfer_->copy(from, to, compute_timeline_, after > completed_serial_ ? after : 0, &lost);
  if (lost) {
    note_device_lost("vkQueueSubmit (transfer)");
    return;
  }
  if (target == copy_targets_.end()) {
    copy_targets_.push_back({to, 0, value});
  } else {
    target->copy_value = value;
  }
  ++transfers_;
}

void CommandStream::order_after_copies(std::span<const BufferRange> reads, std::span<const BufferRange> writes) {
  auto touches = [&](const BufferRange& r) {
    for (const BufferRange& x : reads)
      if (x.overlaps(r)) return true;
    for (const BufferRange& x : writes)
      if (x.overlaps(r)) return true;
    return false;
  };
  uint64_t need = 0;
  for (const CopyTarget& t : copy_targets_)
    if (t.copy_value > need && touches(t.range)) need = t.copy_value;
  if (need > transfer_waited_ && need > batch_transfer_wait_ && !transfer_->completed(need)) {
    // Only this command and the later ones wait: the ones recorded before go out in a batch of their own.
    if ((current().recording && current().commands > 0) || window_commands_ > 0) submit();
    batch_transfer_wait_ = need;
  }
  for (CopyTarget& t : copy_targets_)
    if (touches(t.range)) t.last_access = next_serial_;
}

void CommandStream::wait_transfers() {
  if (transfer_ && !transfer_->wait()) note_device_lost("vkWaitSemaphores (transfer)");
}

void CommandStream::emit(Deferred& command) {
  Batch& b = current();
  if (!b.recording) begin_batch(b);
  // A barrier at the start of a batch also orders it after earlier batches (submission order).
  if (hazards_.conflicts(command.reads, command.writes) || hazards_.pending_ranges() > kMaxPendingRanges)
    record_barrier(b.cb);
  hazards_.add(command.reads, command.writes);
  if (b.timed) {
    vkCmdWriteTimestamp(b.cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b.queries,
                        uint32_t(b.timed_ops.size()) * kQueriesPerCommand);
    b.timed_ops.push_back(std::move(command.op));
  }
  command.body(b.cb);
  if (b.timed)
    vkCmdWriteTimestamp(b.cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b.queries,
                        uint32_t(b.timed_ops.size() - 1) * kQueriesPerCommand + 1);
  ++b.commands;
  ++commands_;
}

void CommandStream::emit_oldest_phase() {
  Phase& oldest = window_.front();
  for (Deferred& command : oldest.commands) {
    std::string error;
    if (command.pipeline && !command.pipeline->wait(&error)) {
      if (unwritten_.empty())
        unwritten_ = "vulkan: " + command.op + ": pipeline " + command.pipeline->key() +
                     " could not be created: " + error;
      continue;
    }
    emit(command);
  }
  for (const Allocation& a : oldest.released) allocator_.free(a, next_serial_);
  window_commands_ -= oldest.commands.size();
  window_.pop_front();
}

void CommandStream::release(const Allocation& a) {
  // A range a copy submitted apart may still be writing is not handed out again until the copy is done (this
  // runs in tensor destructors: a failure is logged, the loss noted).
  const BufferRange range{a.buffer(), a.offset, a.size};
  for (const CopyTarget& t : copy_targets_) {
    if (!t.range.overlaps(range)) continue;
    try {
      if (!transfer_->wait(t.copy_value)) note_device_lost("vkWaitSemaphores (transfer)");
    } catch (const std::exception& e) {
      log_warn(std::string("vulkan: waiting for a weight copy: ") + e.what());
    }
  }
  // Nor while the window is deeper than usual (waiting for pipelines): held there, the memory of a whole
  // block's commands would add to the peak.
  if (window_.empty() || a.size > kMaxDeferredRelease || window_.size() > window_phases_)
    allocator_.free(a, next_serial_);
  else
    window_.back().released.push_back(a);
}

void CommandStream::record_window() {
  while (!window_.empty()) emit_oldest_phase();
}

void CommandStream::submit() {
  record_window();
  Batch& b = current();
  if (!b.recording) return;
  // Makes this batch's writes visible to host reads through mapped memory once its fence has signalled.
  VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  to_host.srcAccessMask = kWorkWrites;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(b.cb, kWorkStages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
  check(vkEndCommandBuffer(b.cb), "vkEndCommandBuffer");
  b.recording = false;
  b.transfer_wait = batch_transfer_wait_ > transfer_waited_ ? batch_transfer_wait_ : 0;
  batch_transfer_wait_ = 0;
  VkResult r = VK_ERROR_DEVICE_LOST;
  if (!device_lost()) {
    check(vkResetFences(device_.handle(), 1, &b.fence), "vkResetFences");
    r = queue_submit(b);
  }
  if (r == VK_ERROR_DEVICE_LOST) {
    // Nothing runs any more: the batch is dropped (its staging ranges are free again).
    note_device_lost("vkQueueSubmit");
    for (const Allocation& a : b.staging) allocator_.free(a, b.serial);
    b.staging.clear();
    b.timed_ops.clear();
    return;
  }
  check(r, "vkQueueSubmit");
  transfer_waited_ = std::max(transfer_waited_, b.transfer_wait);
  b.in_flight = true;
  ++next_serial_;
  ++submissions_;
  current_ = (current_ + 1) % batches_.size();
  if (current().in_flight) retire(current());
}

VkResult CommandStream::queue_submit(Batch& b) {
  VkSubmitInfo info{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  info.commandBufferCount = 1;
  info.pCommandBuffers = &b.cb;
  // Once copies are submitted apart: the batch signals its serial on this queue's timeline (copies wait for
  // it) and waits for the copies its kernels read (the wait covers every later submission too).
  VkTimelineSemaphoreSubmitInfo values{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  VkSemaphore transfer_timeline = transfer_ ? transfer_->timeline() : VK_NULL_HANDLE;
  const VkPipelineStageFlags wait_stage = kWorkStages;
  if (compute_timeline_) {
    values.signalSemaphoreValueCount = 1;
    values.pSignalSemaphoreValues = &b.serial;
    info.signalSemaphoreCount = 1;
    info.pSignalSemaphores = &compute_timeline_;
    if (b.transfer_wait > 0) {
      values.waitSemaphoreValueCount = 1;
      values.pWaitSemaphoreValues = &b.transfer_wait;
      info.waitSemaphoreCount = 1;
      info.pWaitSemaphores = &transfer_timeline;
      info.pWaitDstStageMask = &wait_stage;
    }
    info.pNext = &values;
  }
  if (faults_ && faults_->on_submit()) {
    // The submission at which the simulated device is lost: it and everything before it still run to
    // completion, so that nothing is executing when the caller tears down; its fence wait and every later
    // one report the loss.
    const VkResult r = vkQueueSubmit(device_.queue(), 1, &info, b.fence);
    if (r == VK_SUCCESS) vkQueueWaitIdle(device_.queue());
    return r;
  }
  if (faults_ && faults_->device_lost()) return VK_ERROR_DEVICE_LOST;
  return vkQueueSubmit(device_.queue(), 1, &info, b.fence);
}

VkResult CommandStream::wait_fence(Batch& b) {
  // UINT64_MAX: a hang shows up as VK_ERROR_DEVICE_LOST from the driver, not as a timeout here.
  const VkResult r = vkWaitForFences(device_.handle(), 1, &b.fence, VK_TRUE, UINT64_MAX);
  if (faults_ && faults_->device_lost()) return VK_ERROR_DEVICE_LOST;
  return r;
}

void CommandStream::note_device_lost(const char* call) {
  if (lost_in_.empty()) lost_in_ = call;
}

void CommandStream::throw_if_failed() const {
  if (device_lost()) throw RuntimeFailure(device_lost_message(lost_in_));
  if (!unwritten_.empty()) throw RuntimeFailure(unwritten_);
}

void CommandStream::retire(Batch& b) {
  if (!b.in_flight) return;
  const VkResult r = wait_fence(b);
  b.in_flight = false;  // completed, or abandoned with the device
  if (r == VK_ERROR_DEVICE_LOST)
    note_device_lost("vkWaitForFences");
  else
    check(r, "vkWaitForFences");
  if (!device_lost() && !b.timed_ops.empty() && b.queries) {
    std::vector<uint64_t> stamps(b.timed_ops.size() * 2);
    const VkResult q = vkGetQueryPoolResults(device_.handle(), b.queries, 0, uint32_t(stamps.size()),
                                             stamps.size() * sizeof(uint64_t), stamps.data(), sizeof(uint64_t),
                                             VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (q == VK_ERROR_DEVICE_LOST) {
      note_device_lost("vkGetQueryPoolResults");
    } else {
      check(q, "vkGetQueryPoolResults");
      const double ns_per_tick = device_.caps().timestamp_period_ns;
      for (size_t i = 0; i < b.timed_ops.size(); ++i)
        add_timing(b.timed_ops[i], 1, double(stamps[2 * i + 1] - stamps[2 * i]) * ns_per_tick * 1e-6);
    }
  }
  b.timed_ops.clear();
  for (const Allocation& a : b.staging) allocator_.free(a, b.serial);
  b.staging.clear();
  if (!device_lost() && b.serial > completed_serial_) completed_serial_ = b.serial;
}

void CommandStream::wait_idle() {
  submit();
  // Retire in submission order, oldest first.
  for (size_t i = 0; i < batches_.size(); ++i) retire(batches_[(current_ + i) % batches_.size()]);
  if (transfer_) {
    wait_transfers();
    uint64_t copies = 0;
    const double ms = transfer_->take_timed_ms(&copies);
    if (copies > 0) add_timing("copy_into", copies, ms);
    copy_targets_.clear();  // every copy has completed: nothing needs to wait for one
  }
  // Everything recorded so far has completed: no later command can conflict with it.
  hazards_.clear();
}

void CommandStream::begin_stage(std::string_view name) {
  submit();
  if (faults_) faults_->enter_stage(name);
}

void CommandStream::end_stage() {
  submit();
  if (faults_) faults_->leave_stage();
}

void CommandStream::release_after_completion(Allocation staging) { current().staging.push_back(staging); }

void CommandStream::set_profiling(bool on) {
  if (on == profiling_) return;
  submit();  // a batch is timed entirely or not at all
  if (on) timings_.clear();
  profiling_ = on;
  if (transfer_) {
    uint64_t dropped = 0;
    if (on) transfer_->take_timed_ms(&dropped);  // copies timed before belong to no run
    transfer_->set_profiling(on);
  }
}

void CommandStream::add_timing(const std::string& op, uint64_t count, double ms) {
  auto it = timings_.find(op);
  if (it == timings_.end()) it = timings_.emplace(op, OpTiming{op, 0, 0}).first;
  it->second.count += count;
  it->second.total_ms += ms;
}

std::vector<OpTiming> CommandStream::timings() const {
  std::vector<OpTiming> out;
  for (const auto& [name, t] : timings_) out.push_back(t);
  return out;
}

}  // namespace qi::vk

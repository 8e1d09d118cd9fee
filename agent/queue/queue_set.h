// The agent's NFQUEUEs num..num+count-1 as one unit: open, start, stop, route
// verdicts for held packets to the right queue, set what overflow does, sum the
// counters and report them per queue.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/pending/pending_table.h"
#include "agent/queue/kernel_queue_stats.h"
#include "agent/queue/packet_queue.h"
#include "agent/queue/verdict_sender.h"

namespace nfr {

struct QueueInfo {
  uint16_t num = 0;
  bool fail_open = false;  // what the kernel does now when this queue is full
  QueueStats stats;
  std::optional<KernelQueueStats> kernel;  // nullopt: proc file unreadable
  // Packets the kernel dropped for overflow (queue full or socket full, fail-closed).
  uint64_t overflow_dropped() const {
    return kernel ? kernel->queue_dropped + kernel->user_dropped : 0;
  }
};

class QueueSet : public HeldVerdictSender {
 public:
  static absl::StatusOr<std::unique_ptr<QueueSet>> Open(uint16_t first, uint16_t count,
                                                        const QueueOptions& options,
                                                        PacketHandler* handler);
  void Start();
  // Handles what is already queued, then joins every thread; bindings stay
  // until destruction.
  void Stop();
  // Verdict for a held packet. Thread-safe.
  absl::Status SendVerdict(uint16_t queue, uint32_t packet_id, bool accept) override;

  // Call on every policy install with whether its default verdict accepts: with
  // queue overflow = policy default (the default) every queue then fails open exactly when the
  // policy's default is accept; a configured accept/drop override ignores it. Thread-safe.
  absl::Status SetOverflowAccepts(bool policy_default_accepts);
  // What a full queue does now (true: accept uninspected).
  bool overflow_accepts() const;

  QueueStats stats() const;
  std::vector<QueueInfo> PerQueue() const;
  std::vector<uint32_t> numbers() const;

 private:
  uint16_t first_ = 0;
  OverflowVerdict overflow_ = OverflowVerdict::kPolicyDefault;
  std::vector<std::unique_ptr<PacketQueue>> queues_;
};

}  // namespace nfr

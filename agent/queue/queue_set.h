// The agent's NFQUEUEs num..num+count-1 as one unit: open, start, stop, route
// verdicts for held packets to the right queue, sum the counters.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/pending/pending_table.h"
#include "agent/queue/packet_queue.h"
#include "agent/queue/verdict_sender.h"

namespace nfr {

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
  QueueStats stats() const;
  std::vector<uint32_t> numbers() const;

 private:
  uint16_t first_ = 0;
  std::vector<std::unique_ptr<PacketQueue>> queues_;
};

}  // namespace nfr

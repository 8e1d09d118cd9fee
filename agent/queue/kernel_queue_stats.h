// The kernel's own counters for NFQUEUEs, from /proc/net/netfilter/nfnetlink_queue (per network
// namespace: the reader's). Fail-closed overflows are counted here; a fail-open queue that is
// full accepts without counting (only socket overruns show, as ENOBUFS in QueueStats).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace nfr {

struct KernelQueueStats {
  uint32_t waiting = 0;        // packets queued, no verdict yet
  uint64_t queue_dropped = 0;  // dropped because the queue was full (fail-closed)
  uint64_t user_dropped = 0;   // dropped because our socket buffer was full (fail-closed)
  uint32_t id_sequence = 0;    // last packet id handed out
};

// The row for queue `num` in the text of the proc file, if present.
std::optional<KernelQueueStats> ParseKernelQueueStats(absl::string_view proc_text, uint16_t num);

// Reads the proc file; nullopt when it is missing or the queue is not bound.
std::optional<KernelQueueStats> ReadKernelQueueStats(uint16_t num);

}  // namespace nfr

// Typed access to the nfr_flows LRU hash and the per-CPU nfr_stats counters.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nfr_abi.h"

namespace nfr::datapath {

// CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns().
uint64_t MonotonicNowNs();

class FlowCache {
 public:
  explicit FlowCache(int flows_fd) : fd_(flows_fd) {}
  // ttl = InfiniteDuration() stores expires_ns 0 (never expires).
  absl::Status Set(const nfr_flow_key& key, nfr_verdict verdict, absl::Duration ttl) const;
  absl::Status Delete(const nfr_flow_key& key) const;  // absent key is not an error
  // Live entries only: an expired entry is a miss, as in the program.
  std::optional<nfr_flow_value> Lookup(const nfr_flow_key& key) const;

 private:
  int fd_;
};

// Sums the per-CPU counters; always NFR_STAT_MAX entries (zeros on error).
std::vector<uint64_t> ReadStats(int stats_fd);

}  // namespace nfr::datapath

// Typed access to the nfr_flows LRU hash and the per-CPU nfr_stats counters. Batch calls use the
// kernel's BPF_MAP_*_BATCH commands and fall back to one syscall per entry where unsupported.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/datapath/flow_writer.h"
#include "agent/datapath/verdict_cache.h"
#include "nfr_abi.h"

namespace nfr::datapath {

// CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns().
uint64_t MonotonicNowNs();

// expires_ns for a TTL from now; InfiniteDuration() = 0 (never expires).
uint64_t ExpiryFromTtl(absl::Duration ttl);

// Keys are hashed bytewise: zeroes the padding and the unused IPv4 address words.
nfr_flow_key CanonicalFlowKey(const nfr_flow_key& key);

class FlowCache : public VerdictCache {
 public:
  // One chunk of a dump: keys[i] maps to values[i]. Spans are valid during the call only.
  using ChunkFn =
      absl::FunctionRef<void(absl::Span<const nfr_flow_key>, absl::Span<const nfr_flow_value>)>;

  static constexpr size_t kDefaultChunk = 8192;

  explicit FlowCache(int flows_fd) : fd_(flows_fd) {}
  // SetFlows goes through `writer` (PENDING entries overwritten in place) while it works, and
  // through BPF_MAP_UPDATE_BATCH after it fails once. Call before the cache is shared.
  void SetWriter(std::unique_ptr<FlowWriter> writer) { writer_ = std::move(writer); }
  // Entries SetFlows overwrote in place (the writer), and chunks it wrote without the writer.
  uint64_t in_place_writes() const { return in_place_.load(std::memory_order_relaxed); }
  uint64_t writer_fallbacks() const { return writer_fallbacks_.load(std::memory_order_relaxed); }
  // ttl = InfiniteDuration() stores expires_ns 0 (never expires). Origin NONE, no rule.
  absl::Status Set(const nfr_flow_key& key, nfr_verdict verdict, absl::Duration ttl) const;
  // Stores value as given (expires_ns is absolute, see ExpiryFromTtl).
  absl::Status SetValue(const nfr_flow_key& key, const nfr_flow_value& value) const;
  absl::Status Delete(const nfr_flow_key& key) const;  // absent key is not an error
  // Live entries only: an expired entry is a miss, as in the program.
  std::optional<nfr_flow_value> Lookup(const nfr_flow_key& key) const;

  // Calls fn with every live entry, `chunk` entries at a time (fewer at the end). Entries the
  // program adds or evicts meanwhile may or may not be seen; none is seen twice.
  absl::Status Dump(ChunkFn fn, size_t chunk = kDefaultChunk) const;
  // Writes values[i] for keys[i] (BPF_ANY). keys and values have equal sizes.
  absl::Status UpdateMany(absl::Span<const nfr_flow_key> keys,
                          absl::Span<const nfr_flow_value> values) const;
  // Deletes keys; absent keys are not an error.
  absl::Status DeleteMany(absl::Span<const nfr_flow_key> keys) const;
  // VerdictCache.
  absl::Status SetFlow(const nfr_flow_key& key, const nfr_flow_value& value,
                       absl::Duration ttl) override;
  absl::Status DeleteFlow(const nfr_flow_key& key) override { return Delete(key); }
  // One BPF_PROG_RUN of the writer per 256 entries, else one BPF_MAP_UPDATE_BATCH (kernel 5.6+);
  // one update per entry where neither works.
  absl::Status SetFlows(absl::Span<const nfr_flow_key> keys,
                        absl::Span<const nfr_flow_value> values,
                        absl::Span<const absl::Duration> ttls) override;
  std::optional<nfr_flow_value> LookupFlow(const nfr_flow_key& key) const override {
    return Lookup(key);
  }
  absl::Status DumpFlows(FlowChunkFn fn) const override { return Dump(fn); }
  absl::Status UpdateFlows(absl::Span<const nfr_flow_key> keys,
                           absl::Span<const nfr_flow_value> values) override {
    return UpdateMany(keys, values);
  }
  absl::Status DeleteFlows(absl::Span<const nfr_flow_key> keys) override {
    return DeleteMany(keys);
  }

  // Entries currently in the map, expired included (walks the keys).
  size_t Count() const;

 private:
  absl::Status DumpOneByOne(ChunkFn fn, size_t chunk, uint64_t now) const;
  // One chunk (<= NFR_FLOW_WRITE_MAX) through the writer; false if it is gone or failed.
  bool WriteThroughWriter(absl::Span<const nfr_flow_key> keys,
                          absl::Span<const nfr_flow_value> values,
                          absl::Span<const absl::Duration> ttls);
  int fd_;
  std::unique_ptr<FlowWriter> writer_;
  std::atomic<bool> writer_works_{true};
  std::atomic<uint64_t> in_place_{0}, writer_fallbacks_{0};
  std::atomic<bool> update_batch_works_{true};  // false once the kernel refused the command
};

// Sums the per-CPU counters; always NFR_STAT_MAX entries (zeros on error).
std::vector<uint64_t> ReadStats(int stats_fd);

}  // namespace nfr::datapath

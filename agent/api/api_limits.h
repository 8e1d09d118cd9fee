// Per-caller resource limits of the API (api.limits, docs/security.md
// "Limits"): how many watch streams are open, how fast a caller may change
// things, and how much of a bad value an error may echo.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace nfr {

// Gives freed heap pages back to the system (glibc keeps them otherwise) a
// moment after something large was freed: a closed watch stream's queue, a
// policy change's copies and its request (a 1M-prefix set change leaves
// ~400 MiB of free heap behind). At most one malloc_trim per period.
class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(absl::Duration period = absl::Seconds(2));
  ~MemoryTrimmer();
  void Request() { wanted_.store(true); }

 private:
  const absl::Duration period_;
  std::atomic<bool> wanted_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Counts open watch streams, in all and per caller identity.
class StreamGate {
 public:
  StreamGate(uint32_t max_total, uint32_t max_per_peer, MemoryTrimmer* trimmer = nullptr)
      : max_total_(max_total), max_per_peer_(max_per_peer), trimmer_(trimmer) {}

  // Held by an open stream; releasing it (destruction) frees the place.
  class Slot {
   public:
    Slot(StreamGate* gate, std::string peer) : gate_(gate), peer_(std::move(peer)) {}
    ~Slot() { gate_->Release(peer_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    StreamGate* const gate_;
    const std::string peer_;
  };

  // RESOURCE_EXHAUSTED naming api.limits.max_streams(_per_peer) when full.
  absl::StatusOr<std::unique_ptr<Slot>> Acquire(const std::string& peer, absl::string_view method);
  uint64_t open() const;
  uint64_t refused() const { return refused_.load(); }

 private:
  void Release(const std::string& peer);

  const uint32_t max_total_, max_per_peer_;
  MemoryTrimmer* const trimmer_;
  mutable std::mutex mu_;
  uint64_t total_ = 0;
  absl::flat_hash_map<std::string, uint32_t> per_peer_;
  std::atomic<uint64_t> refused_{0};
};

// A token bucket per caller identity for Decide and policy changes.
class CallRate {
 public:
  CallRate(uint32_t per_second, uint32_t burst) : per_second_(per_second), burst_(burst) {}
  // RESOURCE_EXHAUSTED naming api.limits.changes_per_second when `peer` is over.
  absl::Status Take(const std::string& peer, absl::string_view method);
  uint64_t limited() const { return limited_.load(); }

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  const uint32_t per_second_, burst_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_;
  std::atomic<uint64_t> limited_{0};
};

// Every run of more than kMaxEchoBytes non-blank bytes in an error message
// (a bad value echoed back) is cut to its first 64 bytes plus "…[N bytes]";
// the whole message to at most 1 KiB. Keeps errors inside gRPC metadata.
inline constexpr size_t kMaxEchoBytes = 200;
std::string BoundErrorMessage(absl::string_view message);

}  // namespace nfr

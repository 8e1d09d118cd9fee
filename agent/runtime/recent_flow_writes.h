// Which flow-cache keys this agent wrote an ALLOW/DENY for in the last `window`: a queued packet
// passed the tc program without such an entry, so only a write since then can answer it, and a
// key this filter has not seen needs no lookup syscall. Fixed memory, lock-free; a slot shared
// with another recent key answers "maybe" (the caller looks the key up), never a wrong "no".
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "nfr_abi.h"

namespace nfr {

class RecentFlowWrites {
 public:
  // `slots` is rounded up to a power of two; 8 bytes each.
  RecentFlowWrites(size_t slots, uint32_t window_ms) : window_ms_(window_ms) {
    size_t n = 1;
    while (n < slots) n <<= 1;
    mask_ = n - 1;
    // calloc: large blocks come from mmap, so untouched slots cost no resident memory.
    slots_.reset(static_cast<uint64_t*>(std::calloc(n, sizeof(uint64_t))));
  }

  void Note(const nfr_flow_key& key) {
    const uint64_t h = Hash(key);
    std::atomic_ref<uint64_t>(slots_[h & mask_])
        .store((h & 0xffffffff00000000ull) | NowMs(), std::memory_order_release);
  }

  // false: no write of `key` in the window (and the key then cannot have a fresh verdict).
  bool MaybeWritten(const nfr_flow_key& key) const {
    const uint64_t h = Hash(key);
    const uint64_t s = std::atomic_ref<uint64_t>(slots_[h & mask_]).load(std::memory_order_acquire);
    if (s == 0) return false;
    const uint32_t age = NowMs() - static_cast<uint32_t>(s);
    return age <= window_ms_;  // same key or a recent neighbour: look it up
  }

 private:
  static uint64_t Hash(const nfr_flow_key& key) {
    nfr_flow_key k;
    std::memcpy(&k, &key, sizeof(k));
    k.pad = 0;
    if (k.family == 2) k.saddr[1] = k.saddr[2] = k.saddr[3] = k.daddr[1] = k.daddr[2] = k.daddr[3] = 0;
    return absl::HashOf(absl::string_view(reinterpret_cast<const char*>(&k), sizeof(k))) | 1;
  }
  static uint32_t NowMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    // Never 0 in the low word, so a written slot is never mistaken for an empty one.
    return static_cast<uint32_t>(ts.tv_sec * 1000 + ts.tv_nsec / 1000000) | 1;
  }

  const uint32_t window_ms_;
  size_t mask_ = 0;
  struct Free {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint64_t[], Free> slots_;
};

}  // namespace nfr

// Which flow-cache keys this agent wrote an ALLOW/DENY for in the last `window`: a queued packet
// passed the tc program without such an entry, so only a write since then can answer it, and a
// key this table has not seen needs no lookup syscall. Fixed memory, lock-free. Keys are kept
// exactly (a 32-bit tag in a 7-way bucket), so an unwritten key answers "no" unless its tag
// collides (2^-32) or its bucket overflowed within the window; never a wrong "no".
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "nfr_abi.h"

namespace nfr {

class RecentFlowWrites {
 public:
  // `slots` is rounded up to a power of two (at least one bucket of 8); 8 bytes each.
  RecentFlowWrites(size_t slots, uint32_t window_ms) : window_ms_(window_ms) {
    size_t n = kWays + 1;
    while (n < slots) n <<= 1;
    bucket_mask_ = n / (kWays + 1) - 1;
    // calloc: large blocks come from mmap, so untouched slots cost no resident memory. One
    // spare bucket to start the first at a 64-byte line.
    block_.reset(static_cast<uint64_t*>(std::calloc(n + kWays + 1, sizeof(uint64_t))));
    const uintptr_t p = reinterpret_cast<uintptr_t>(block_.get());
    slots_ = reinterpret_cast<uint64_t*>((p + 63) & ~uintptr_t{63});
  }

  void Note(const nfr_flow_key& key) {
    const auto [b, tag] = Locate(key);
    const uint32_t now = NowMs();
    const uint64_t entry = (uint64_t{tag} << 32) | now;
    for (int attempt = 0; attempt < 4; ++attempt) {
      int way = -1;
      uint64_t seen = 0;
      for (int i = 0; i < kWays; ++i) {
        const uint64_t s = Ref(b[i]).load(std::memory_order_acquire);
        if (s != 0 && static_cast<uint32_t>(s >> 32) == tag) {  // this key: refresh it
          way = i;
          seen = s;
          break;
        }
        if (way < 0 && !Live(s, now)) {
          way = i;
          seen = s;
        }
      }
      if (way < 0) break;
      if (Ref(b[way]).compare_exchange_strong(seen, entry, std::memory_order_acq_rel)) return;
    }
    // Every way holds another live key: the bucket answers "maybe" for the window.
    uint64_t old = Ref(b[kWays]).load(std::memory_order_acquire);
    while (!(old != 0 && static_cast<int32_t>(static_cast<uint32_t>(old) - now) >= 0 &&
             Live(old, now)) &&
           !Ref(b[kWays]).compare_exchange_weak(old, now, std::memory_order_acq_rel)) {
    }
  }

  // false: no write of `key` in the window (and the key then cannot have a fresh verdict).
  bool MaybeWritten(const nfr_flow_key& key) const {
    const auto [b, tag] = Locate(key);
    const uint32_t now = NowMs();
    for (int i = 0; i < kWays; ++i) {
      const uint64_t s = Ref(b[i]).load(std::memory_order_acquire);
      if (static_cast<uint32_t>(s >> 32) == tag && Live(s, now)) return true;
    }
    return Live(Ref(b[kWays]).load(std::memory_order_acquire), now);
  }

 private:
  static constexpr int kWays = 7;  // + one overflow word: a bucket is one 64-byte line

  template <typename T>
  static std::atomic_ref<uint64_t> Ref(T& slot) {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(slot));
  }
  // Written within the window; a slightly newer stamp (another thread's clock read) is live too.
  bool Live(uint64_t s, uint32_t now) const {
    const int64_t age = static_cast<int32_t>(now - static_cast<uint32_t>(s));
    return s != 0 && age >= -1000 && age <= int64_t{window_ms_};
  }
  struct Place {
    uint64_t* bucket;
    uint32_t tag;
  };
  // The tag hashes the key as it is; the bucket hashes it with its endpoints in a fixed order,
  // so a key and its reverse share a bucket and the UDP reply check after the key's own check
  // reads a cache line already loaded (a miss on this table is most of its cost).
  Place Locate(const nfr_flow_key& key) const {
    nfr_flow_key k;
    std::memcpy(&k, &key, sizeof(k));
    k.pad = 0;
    if (k.family == 2) k.saddr[1] = k.saddr[2] = k.saddr[3] = k.daddr[1] = k.daddr[2] = k.daddr[3] = 0;
    const uint32_t tag = static_cast<uint32_t>(HashOf(k) >> 32);
    const int order = std::memcmp(k.saddr, k.daddr, sizeof(k.saddr));
    if (order > 0 || (order == 0 && k.sport > k.dport)) {
      std::swap(k.saddr, k.daddr);
      std::swap(k.sport, k.dport);
    }
    return {&slots_[((HashOf(k) >> 1) & bucket_mask_) * (kWays + 1)], tag};
  }
  // 64 bits everywhere: absl's hash is a size_t, so a 32-bit target adds a second, salted one
  // above it (the tag is the high half; with the high half 0 every key had the same tag).
  static uint64_t HashOf(const nfr_flow_key& k) {
    const absl::string_view bytes(reinterpret_cast<const char*>(&k), sizeof(k));
    uint64_t h = absl::HashOf(bytes);
    if constexpr (sizeof(size_t) < sizeof(uint64_t)) {
      h |= uint64_t{absl::HashOf(bytes, uint32_t{0x9e3779b9})} << 32;
    }
    return h;
  }
  static uint32_t NowMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    // Never 0 in the low word, so a written slot is never mistaken for an empty one.
    return static_cast<uint32_t>(ts.tv_sec * 1000 + ts.tv_nsec / 1000000) | 1;
  }

  const uint32_t window_ms_;
  size_t bucket_mask_ = 0;
  struct Free {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint64_t[], Free> block_;
  uint64_t* slots_ = nullptr;
};

}  // namespace nfr

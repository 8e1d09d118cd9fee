// The packets a queue holds for a later verdict, oldest first, with the mark each carried.
// Tells the queue thread whether NFQNL_MSG_VERDICT_BATCH up to an id would also reach a held
// packet (it must not), and gives a late verdict the packet's mark. Fixed capacity, allocated
// once; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace nfr {

class HeldRing {
 public:
  // `capacity` is rounded up to a power of two; the kernel never holds more than the queue's
  // max_len packets, so that many always fit.
  void Reset(size_t capacity);

  // Queue thread, before the handler sees the packet: it may be held (and answered from
  // another thread before the handler returns).
  void Add(uint32_t id, uint32_t mark);
  // Queue thread: the handler answered `id` (the last Add) itself; forget it.
  void DropLast(uint32_t id);
  // Any thread: the mark `id` carried, if it is held here.
  std::optional<uint32_t> MarkOf(uint32_t id);
  // Any thread, after the verdict for `id` reached the kernel.
  void Done(uint32_t id);
  // Queue thread: no held packet has an id <= max_id (in the kernel's wrapping order).
  bool BatchSafe(uint32_t max_id);
  size_t size();

 private:
  struct Entry {
    uint32_t id;
    uint32_t mark;
    bool open;
  };
  // Index into ring_ of `id`, or -1. Ids increase from head_ to tail_.
  int64_t Find(uint32_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::vector<Entry> ring_ ABSL_GUARDED_BY(mu_);
  size_t mask_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t head_ ABSL_GUARDED_BY(mu_) = 0, tail_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t untracked_ ABSL_GUARDED_BY(mu_) = 0;  // held while the ring was full
};

}  // namespace nfr
